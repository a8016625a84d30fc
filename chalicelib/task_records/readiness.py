"""Readiness checks: what a writer leaves on the hostname events queue for each change batch.

A check names one Route53 change (its id), when it was written, and each hostname it published or
removed, with the task and addresses. announce_hostnames (chalicelib.task_records.announcer)
turns it into "Task Hostname Ready" / "Task Hostname Removed" events once Route53 reports the
change INSYNC. The body format is this module's alone: written here, read here.
"""

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.utils import ArnParser

from chalicelib.task_records.arns import TaskArn
from chalicelib.task_records.plan import NamePlan, Outcome
from chalicelib.task_records.tasks import TaskAddresses

READY = "ready"
REMOVED = "removed"
CHECK_VERSION = 1
# A hostname entry is about 330 bytes and a change batch may carry 500 names, so a check is split
# into messages of at most this many (about 65 KB); SendMessageBatch takes 10 messages and 256 KB in
# all, so a request carries as many as fit in both.
HOSTNAMES_PER_MESSAGE = 200
MESSAGES_PER_SEND = 10
BYTES_PER_SEND = 250 * 1024
_CHANGE_ID = re.compile(r"(/change/)?[A-Z0-9]{1,32}")
_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class UnreadableCheck(ValueError):
    """A message body that is not a readiness check of this version."""


@dataclass(frozen=True)
class HostnameChange:
    task_arn: str
    task_id: str
    hostname: str
    kind: str  # READY or REMOVED
    addresses: TaskAddresses

    def as_dict(self) -> dict[str, Any]:
        return {"taskArn": self.task_arn, "taskId": self.task_id, "hostname": self.hostname,
                "kind": self.kind, "addresses": self.addresses.as_dict()}


@dataclass(frozen=True)
class ReadinessCheck:
    change_id: str | None  # None: Route53 took the change but its answer was lost (no id to ask about)
    written_at: str  # ISO 8601, UTC
    cluster_arn: str
    hostnames: tuple[HostnameChange, ...]
    attempt: int = 0  # how many times the change was found not yet in sync

    def body(self) -> str:
        return json.dumps({"version": CHECK_VERSION, "changeId": self.change_id, "writtenAt": self.written_at,
                           "clusterArn": self.cluster_arn, "attempt": self.attempt,
                           "hostnames": [h.as_dict() for h in self.hostnames]}, separators=(",", ":"))

    def again(self) -> "ReadinessCheck":
        return replace(self, attempt=self.attempt + 1)


def kind_of(outcome: Outcome) -> str | None:
    """Which event a name's outcome calls for; None: nothing happened to it that a consumer must hear."""
    if outcome in (Outcome.CREATED, Outcome.UPDATED):
        return READY
    if outcome is Outcome.REMOVED:
        return REMOVED
    return None


def checks_for_batch(change_id: str | None, plans: Mapping[str, NamePlan], task_arns: Mapping[str, str],
                     cluster_arn: str, written_at: str) -> list[ReadinessCheck]:
    """The checks for one accepted change batch (more than one when it carried many names). Pure."""
    hostnames = []
    for name, plan in sorted(plans.items()):
        kind = kind_of(plan.outcome)
        if kind is not None and name in task_arns:
            task_arn = task_arns[name]
            hostnames.append(HostnameChange(task_arn, task_arn.rsplit("/", 1)[1], name, kind, plan.addresses))
    return [ReadinessCheck(change_id, written_at, cluster_arn, tuple(hostnames[i:i + HOSTNAMES_PER_MESSAGE]))
            for i in range(0, len(hostnames), HOSTNAMES_PER_MESSAGE)]


def read_check(body: Any) -> ReadinessCheck:
    """The check in a message body; UnreadableCheck for anything else, whatever the body holds."""
    try:
        data = json.loads(body) if isinstance(body, str) else None
        if not isinstance(data, dict) or data.get("version") != CHECK_VERSION:
            raise UnreadableCheck("not a readiness check of version 1")
        hostnames = tuple(_hostname_change(h) for h in data["hostnames"])
        attempt = data.get("attempt", 0)
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
            raise UnreadableCheck("attempt is not a count")
        change_id = data["changeId"]
        if change_id is not None and not (isinstance(change_id, str) and _CHANGE_ID.fullmatch(change_id)):
            raise UnreadableCheck("changeId is not a Route53 change id")
        return ReadinessCheck(change_id, _instant(data["writtenAt"]), _text(data["clusterArn"]), hostnames, attempt)
    except UnreadableCheck:
        raise
    except (ValueError, RecursionError, KeyError, TypeError) as error:
        raise UnreadableCheck(f"not a readiness check ({type(error).__name__})") from None


def _hostname_change(entry: Any) -> HostnameChange:
    task_arn, task_id, hostname = _text(entry["taskArn"]), _text(entry["taskId"]), _text(entry["hostname"])
    parsed = TaskArn.parse(task_arn)
    if parsed is None or parsed.task_id != task_id or not hostname.startswith(f"{task_id}."):
        raise UnreadableCheck("taskArn, taskId and hostname do not name one task")
    addresses = entry["addresses"]
    return HostnameChange(task_arn, task_id, hostname, _kind(entry["kind"]),
                          TaskAddresses(ipv4=_addresses(addresses["ipv4"], 4), ipv6=_addresses(addresses["ipv6"], 6)))


def _addresses(values: Any, version: int) -> tuple[str, ...]:
    texts = _texts(values)
    if any(ipaddress.ip_address(text).version != version for text in texts):
        raise UnreadableCheck(f"an address is not IPv{version}")
    return texts


def _instant(value: Any) -> str:
    # writtenAt orders a task's events: it must be the writers' own format, comparable as text.
    text = _text(value)
    if not _INSTANT.fullmatch(text):
        raise UnreadableCheck("writtenAt is not an ISO 8601 UTC instant in milliseconds")
    datetime.fromisoformat(text)
    return text


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UnreadableCheck("a field is not text")
    return value


def _texts(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise UnreadableCheck("addresses are not a list")
    return tuple(_text(v) for v in values)


def _kind(value: Any) -> str:
    if value not in (READY, REMOVED):
        raise UnreadableCheck("kind is neither ready nor removed")
    return value


def queue_url(queue_arn: str) -> str:
    """The queue's URL from its ARN, without a GetQueueUrl call (and its IAM grant)."""
    arn = ArnParser().parse_arn(queue_arn)
    return f"https://sqs.{arn['region']}.amazonaws.com/{arn['account']}/{arn['resource']}"


class ReadinessQueue:
    """SQS adapter. IAM: sqs:SendMessage on the hostname events queue (SendMessageBatch included)."""

    def __init__(self, client, queue_arn: str):
        self._client = client
        self._url = queue_url(queue_arn)

    def send(self, checks: Iterable[ReadinessCheck], delay_seconds: int = 0) -> int:
        """Sends the checks, ten a request; raises when SQS refused any (Lambda retries the writer,
        whose second run finds the names unchanged: see docs/internals.md, "Hostname events")."""
        sent = 0
        for chunk in _requests(list(checks)):
            response = self._client.send_message_batch(QueueUrl=self._url, Entries=[
                {"Id": str(i), "MessageBody": check.body(), "DelaySeconds": delay_seconds}
                for i, check in enumerate(chunk)])
            failed = response.get("Failed", [])
            if failed:
                raise RuntimeError(f"SQS refused {len(failed)} readiness check(s): "
                                   f"{sorted({f.get('Code', '?') for f in failed})}")
            sent += len(chunk)
        return sent


def _requests(checks: list[ReadinessCheck]) -> Iterator[list[ReadinessCheck]]:
    """The checks grouped into SendMessageBatch requests within its count and size limits."""
    group: list[ReadinessCheck] = []
    size = 0
    for check in checks:
        body = len(check.body().encode())
        if group and (len(group) == MESSAGES_PER_SEND or size + body > BYTES_PER_SEND):
            yield group
            group, size = [], 0
        group.append(check)
        size += body
    if group:
        yield group
