"""Reading an "ECS Task State Change" event: parsed and validated here, once. Pure functions.

An event, from EventBridge directly (update_task_dns) or as the body of an SQS message
(process_task_events), comes out as either a TaskEvent, the task of this cluster it is about,
or an IgnoredEvent that says why (and whether the event was malformed, which is worth a
warning). Events arrive at least once and in any order and may be forged by anyone allowed to
put events or messages, so an event only says *which* task to look at: DescribeTasks, not the
event, decides whether the task has a name and where it points (chalicelib.task_records.sync).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.task_records.arns import TaskArn, hostname_for_task
from chalicelib.task_records.settings import TaskDnsSettings
from chalicelib.task_records.tasks import (
    has_eni_attachment,
    is_starting_or_running,
    is_stopping_or_stopped,
    network_interface_id,
)

EVENT_SOURCE = "aws.ecs"
EVENT_DETAIL_TYPE = "ECS Task State Change"
# SQS refuses larger messages; anything bigger did not come through the queue as it should.
MAX_BODY_BYTES = 256 * 1024


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
class TaskEvent:
    """A valid event about a task of this cluster: look at the task and converge its name."""

    task_arn: str
    task_id: str
    hostname: str
    stopping: bool  # what the event said; ECS's current answer is what counts


@dataclass(frozen=True)
class IgnoredEvent:
    reason: str
    malformed: bool = False
    context: dict[str, Any] = field(default_factory=dict)


def read_queued_event(body: Any, settings: TaskDnsSettings) -> TaskEvent | IgnoredEvent:
    """An SQS message body holding an EventBridge event. Whatever it holds, this returns: a body
    that cannot be parsed (not text, too large, not JSON, nested past the parser's depth) is an
    IgnoredEvent, never an exception that would fail the batch it came in."""
    if not isinstance(body, str):
        return IgnoredEvent("message body is not text", malformed=True)
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        return IgnoredEvent("message body is larger than SQS allows", malformed=True)
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return IgnoredEvent("message body is not a JSON event", malformed=True)
    return read_event(event, settings)


def read_event(event: Any, settings: TaskDnsSettings) -> TaskEvent | IgnoredEvent:
    if not isinstance(event, Mapping):
        return IgnoredEvent("event is not a JSON object", malformed=True)
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return IgnoredEvent(
            "not an ECS Task State Change event",
            context={"source": loggable(event.get("source")), "detail_type": loggable(event.get("detail-type"))},
        )
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return IgnoredEvent("event has no detail object", malformed=True)

    cluster_arn = detail.get("clusterArn")
    if not isinstance(cluster_arn, str):
        return IgnoredEvent("detail.clusterArn is missing or not a string", malformed=True)
    if cluster_arn != settings.cluster_arn:
        return IgnoredEvent("event is for another cluster", context={"cluster_arn": loggable(cluster_arn)})

    task_arn = detail.get("taskArn")
    parsed = TaskArn.parse(task_arn) if isinstance(task_arn, str) else None
    if parsed is None:
        return IgnoredEvent("detail.taskArn is not an ECS task ARN", malformed=True,
                            context={"task_arn": loggable(task_arn)})
    if not parsed.belongs_to(settings.cluster_arn):
        return IgnoredEvent("detail.taskArn is not a task of detail.clusterArn", malformed=True,
                            context={"task_arn": loggable(task_arn)})
    hostname = hostname_for_task(parsed.task_id, settings.domain_prefix)
    if hostname is None:
        return IgnoredEvent("task id is not a valid DNS label; refusing to write a record",
                            malformed=True, context={"task_id": loggable(parsed.task_id)})

    desired_status, last_status = detail.get("desiredStatus"), detail.get("lastStatus")
    if not isinstance(desired_status, str) or not isinstance(last_status, str):
        return IgnoredEvent("detail.desiredStatus or detail.lastStatus is missing or not a string",
                            malformed=True, context={"task_id": parsed.task_id})
    status = {"task_id": parsed.task_id, "desired_status": loggable(desired_status),
              "last_status": loggable(last_status)}

    stopping = is_stopping_or_stopped(desired_status, last_status)
    if not stopping and not is_starting_or_running(desired_status, last_status):
        # PROVISIONING and friends: no ENI yet, nothing to look up.
        return IgnoredEvent("task has no network interface yet", context=status)
    if not stopping and not has_eni_attachment(detail.get("attachments")):
        return IgnoredEvent("task has no ENI attachment (not awsvpc networking?)", malformed=True,
                            context=status)
    if not stopping and network_interface_id(detail.get("attachments")) is None:
        # The ENI used is the one DescribeTasks reports, but an event whose ENI attachment is
        # malformed is not trusted to name a task either; a genuine PENDING event without the id
        # yet is followed by RUNNING, the backstop.
        return IgnoredEvent("ENI attachment has no valid networkInterfaceId (yet)", context=status)
    return TaskEvent(task_arn=task_arn, task_id=parsed.task_id, hostname=hostname, stopping=stopping)


def loggable(value: Any, limit: int = 200) -> Any:
    """A bounded, always-encodable copy of an untrusted value for a log line: events can carry huge
    strings, and a lone surrogate ("\\ud800") would make the log call itself fail."""
    if isinstance(value, str):
        value = value if len(value) <= limit else value[:limit] + "…"
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return None if value is None else type(value).__name__
