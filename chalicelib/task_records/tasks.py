"""A task as ECS describes it, and the facts every writer derives from it. Pure.

Whether a task should have a name, which ENI carries its address and what its name is are
decided here and nowhere else: the per-event function, the batch function, the reconciler, the
announcer and the operator command all ask a Task.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.task_records.arns import hostname_for_task, task_id_from_arn

# A Fargate task has its ENI, and so its public IP, from PENDING on: it pulls its image in
# PENDING. Publishing then saves users the minute between "address known" and RUNNING.
STARTING_OR_RUNNING = frozenset({"PENDING", "ACTIVATING", "RUNNING"})
STOPPING_OR_STOPPED = frozenset({"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"})

# The ENI attachment is called "eni" in events and "ElasticNetworkInterface" in DescribeTasks.
ENI_ATTACHMENT_TYPES = frozenset({"eni", "ElasticNetworkInterface"})
_ENI_ID = re.compile(r"eni-[0-9a-f]{8,17}")


@dataclass(frozen=True)
class TaskAddresses:
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ipv4 or self.ipv6)

    def for_type(self, record_type: str) -> tuple[str, ...]:
        return tuple(sorted(self.ipv4 if record_type == "A" else self.ipv6))

    def as_dict(self) -> dict[str, list[str]]:
        return {"ipv4": sorted(self.ipv4), "ipv6": sorted(self.ipv6)}


def is_starting_or_running(desired_status: str, last_status: str) -> bool:
    return desired_status == "RUNNING" and last_status in STARTING_OR_RUNNING


def is_stopping_or_stopped(desired_status: str, last_status: str) -> bool:
    return desired_status == "STOPPED" or last_status in STOPPING_OR_STOPPED


def network_interface_id(attachments: Any) -> str | None:
    """The ENI id from an attachments list of an event or of DescribeTasks.

    Chosen by type, never by position: Fargate lists other attachments (e.g. "sdi") too.
    """
    if not isinstance(attachments, list):
        return None
    for attachment in attachments:
        if not isinstance(attachment, Mapping) or attachment.get("type") not in ENI_ATTACHMENT_TYPES:
            continue
        details = attachment.get("details")
        if not isinstance(details, list):
            return None
        for detail in details:
            if isinstance(detail, Mapping) and detail.get("name") == "networkInterfaceId":
                value = detail.get("value")
                return value if isinstance(value, str) and _ENI_ID.fullmatch(value) else None
        return None
    return None


def has_eni_attachment(attachments: Any) -> bool:
    return isinstance(attachments, list) and any(
        isinstance(a, Mapping) and a.get("type") in ENI_ATTACHMENT_TYPES for a in attachments
    )


@dataclass(frozen=True)
class Task:
    """One task as DescribeTasks reports it now (not as an event said it was)."""

    task_arn: str
    desired_status: str
    last_status: str
    attachments: list[dict[str, Any]] = field(default_factory=list, compare=False)

    @property
    def task_id(self) -> str | None:
        return task_id_from_arn(self.task_arn)

    @property
    def is_running(self) -> bool:
        """Starting or running: the task should have its name (from PENDING on, see above)."""
        return is_starting_or_running(self.desired_status, self.last_status)

    @property
    def network_interface_id(self) -> str | None:
        return network_interface_id(self.attachments)

    def hostname(self, domain_prefix: str) -> str | None:
        task_id = self.task_id
        return hostname_for_task(task_id, domain_prefix) if task_id else None

    @classmethod
    def from_ecs(cls, task: Mapping[str, Any]) -> "Task":
        return cls(task_arn=task["taskArn"], desired_status=task.get("desiredStatus", ""),
                   last_status=task.get("lastStatus", ""), attachments=task.get("attachments", []))
