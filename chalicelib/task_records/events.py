"""What an "ECS Task State Change" event asks of the task's DNS records. Pure functions.

Events arrive at least once and in any order, so the plan says what the records should look like
for the state the event reports; the orchestrator checks the task's current state before it
publishes anything.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.task_records.arns import (
    hostname_for_task,
    names_its_cluster,
    task_belongs_to_cluster,
    task_id_from_arn,
)
from chalicelib.task_records.settings import TaskDnsSettings

EVENT_SOURCE = "aws.ecs"
EVENT_DETAIL_TYPE = "ECS Task State Change"

# A Fargate task has its ENI, and so its public IP, from PENDING on: it pulls its image in
# PENDING. Publishing then saves users the minute between "address known" and RUNNING.
STARTING_OR_RUNNING = frozenset({"PENDING", "ACTIVATING", "RUNNING"})
STOPPING_OR_STOPPED = frozenset({"DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"})

# The ENI attachment is called "eni" in events and "ElasticNetworkInterface" in DescribeTasks.
_ENI_ATTACHMENT_TYPES = frozenset({"eni", "ElasticNetworkInterface"})
_ENI_ID = re.compile(r"eni-[0-9a-f]{8,17}")


def task_event_pattern(cluster_arn: str) -> dict[str, Any]:
    """The EventBridge pattern for this cluster's task state changes that can change a record.

    Of a task's nine or so events, these four do: PENDING publishes (the ENI has its address),
    RUNNING is the backstop for a PENDING that failed; the first stop event (desiredStatus
    STOPPED while the task is still PENDING, ACTIVATING or RUNNING) removes, and STOPPED is the
    backstop for it. PROVISIONING has no ENI yet; ACTIVATING, and DEACTIVATING, STOPPING and
    DEPROVISIONING once desiredStatus is STOPPED, say nothing those have not, and each would cost a
    Route53 read. A stop status while desiredStatus is still RUNNING is let through: there the
    first stop event may be one of them.
    """
    return {
        "source": [EVENT_SOURCE],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {
            "clusterArn": [cluster_arn],
            "$or": [
                {"desiredStatus": ["RUNNING"], "lastStatus": ["PENDING", "RUNNING"]},
                {"desiredStatus": ["STOPPED"], "lastStatus": ["PENDING", "ACTIVATING", "RUNNING", "STOPPED"]},
                # A task stopped without its desired status changing first (ECS reports some with
                # desiredStatus still RUNNING): whichever stop status comes first removes.
                {"desiredStatus": ["RUNNING"], "lastStatus": ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]},
            ],
        },
    }


@dataclass(frozen=True)
class PublishRecords:
    task_arn: str
    task_id: str
    hostname: str
    network_interface_id: str


@dataclass(frozen=True)
class RemoveRecords:
    task_arn: str
    task_id: str
    hostname: str
    # An old-format ARN (task/<id>) does not name its cluster, so the event alone cannot prove
    # the task is ours and stopped: ask ECS first.
    confirm_not_running: bool = False


@dataclass(frozen=True)
class IgnoreEvent:
    reason: str
    malformed: bool = False
    context: dict[str, Any] = field(default_factory=dict)


TaskEventPlan = PublishRecords | RemoveRecords | IgnoreEvent


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
        if not isinstance(attachment, Mapping) or attachment.get("type") not in _ENI_ATTACHMENT_TYPES:
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
        isinstance(a, Mapping) and a.get("type") in _ENI_ATTACHMENT_TYPES for a in attachments
    )


def plan_task_event(event: Any, settings: TaskDnsSettings) -> TaskEventPlan:
    if not isinstance(event, Mapping):
        return IgnoreEvent("event is not a JSON object", malformed=True)
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return IgnoreEvent(
            "not an ECS Task State Change event",
            context={"source": _short(event.get("source")), "detail_type": _short(event.get("detail-type"))},
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return IgnoreEvent("event has no detail object", malformed=True)

    cluster_arn = detail.get("clusterArn")
    if not isinstance(cluster_arn, str):
        return IgnoreEvent("detail.clusterArn is missing or not a string", malformed=True)
    if cluster_arn != settings.cluster_arn:
        return IgnoreEvent("event is for another cluster", context={"cluster_arn": _short(cluster_arn)})

    task_arn = detail.get("taskArn")
    task_id = task_id_from_arn(task_arn) if isinstance(task_arn, str) else None
    if task_id is None:
        return IgnoreEvent("detail.taskArn is not an ECS task ARN", malformed=True,
                           context={"task_arn": _short(task_arn)})
    if not task_belongs_to_cluster(task_arn, settings.cluster_arn):
        return IgnoreEvent("detail.taskArn is not a task of detail.clusterArn", malformed=True,
                           context={"task_arn": _short(task_arn)})
    hostname = hostname_for_task(task_id, settings.domain_prefix)
    if hostname is None:
        return IgnoreEvent("task id is not a valid DNS label; refusing to write a record",
                           malformed=True, context={"task_id": _short(task_id)})

    desired_status, last_status = detail.get("desiredStatus"), detail.get("lastStatus")
    if not isinstance(desired_status, str) or not isinstance(last_status, str):
        return IgnoreEvent("detail.desiredStatus or detail.lastStatus is missing or not a string",
                           malformed=True, context={"task_id": task_id})
    status = {"task_id": task_id, "desired_status": _short(desired_status), "last_status": _short(last_status)}

    if is_stopping_or_stopped(desired_status, last_status):
        return RemoveRecords(task_arn=task_arn, task_id=task_id, hostname=hostname,
                             confirm_not_running=not names_its_cluster(task_arn))
    if not is_starting_or_running(desired_status, last_status):
        # PROVISIONING and friends: no ENI yet, nothing to look up.
        return IgnoreEvent("task has no network interface yet", context=status)

    attachments = detail.get("attachments")
    if not has_eni_attachment(attachments):
        return IgnoreEvent("task has no ENI attachment (not awsvpc networking?)", malformed=True,
                           context=status)
    eni_id = network_interface_id(attachments)
    if eni_id is None:
        return IgnoreEvent("ENI attachment has no valid networkInterfaceId (yet)", context=status)
    return PublishRecords(task_arn=task_arn, task_id=task_id, hostname=hostname,
                          network_interface_id=eni_id)


def _short(value: Any, limit: int = 200) -> Any:
    """Bounded copy of an untrusted value for a log line (events can carry huge strings)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    return None if value is None else type(value).__name__
