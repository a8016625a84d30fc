"""announce_hostnames: readiness checks in, "Task Hostname Ready" / "Task Hostname Removed" out.

A check (chalicelib.task_records.readiness) names a Route53 change; once Route53 reports it
INSYNC, every one of the zone's authoritative servers answers with it, so a client that resolves
the name from then on gets the new answer, and never plants a negative cache entry by asking too
early. Not yet in sync: the check goes back on the queue with a delay (SQS does the waiting, no
invocation sleeps), at most MAX_CHECKS times; past that the events go out anyway with
"insync": false and a warning.

Events never contradict a task's state: a Ready is not sent for a task ECS no longer runs (its
removal has its own check), nor when the same batch holds a later Removed for it. A check
delivered again sends the same events with the same `id`, which consumers de-duplicate on.

Cost: one GetChange per change batch per look, PutEvents ten entries a request, DescribeTasks for
the tasks about to be announced ready, and the zone's SOA once per container.
IAM: route53:GetChange, route53:ListResourceRecordSets (the zone), ecs:DescribeTasks,
events:PutEvents (EVENT_BUS_NAME's bus), sqs:SendMessage (the hostname events queue).
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.logs import logger
from chalicelib.shared.route53 import Route53Zone
from chalicelib.shared.soa import negative_caching_seconds
from chalicelib.task_records.ecs import EcsTasks
from chalicelib.task_records.readiness import (
    READY,
    REMOVED,
    HostnameChange,
    ReadinessCheck,
    ReadinessQueue,
    UnreadableCheck,
    read_check,
)

EVENT_SOURCE = "task-subdomains"
DETAIL_TYPES = {READY: "Task Hostname Ready", REMOVED: "Task Hostname Removed"}
INSYNC = "INSYNC"
# Route53 is usually in sync within 60 s. Nine looks, 5, 10, 20, 40, 80, 160, 300 and 300 s apart:
# about 15 minutes in all before the events go out marked "insync": false.
MAX_CHECKS = 9
FIRST_DELAY_SECONDS = 5
MAX_DELAY_SECONDS = 300  # SQS allows up to 900
PUT_EVENTS_LIMIT = 10


# A change whose answer was lost has no id to ask about: looked at once more after Route53's usual
# propagation time, then announced "insync": false.
UNACKNOWLEDGED_DELAY_SECONDS = 60


def retry_delay(check: ReadinessCheck) -> int:
    """How long a check waits before its next look (check.attempt: the looks it has had)."""
    if check.change_id is None:
        return UNACKNOWLEDGED_DELAY_SECONDS
    return min(FIRST_DELAY_SECONDS * 2 ** (check.attempt - 1), MAX_DELAY_SECONDS)


@dataclass(frozen=True)
class Announcement:
    check: ReadinessCheck
    hostname: HostnameChange
    insync: bool

    def event_id(self) -> str:
        """The same for the same change of the same task, however often the check is delivered."""
        key = "|".join((self.hostname.kind, self.hostname.task_arn, self.check.change_id or self.check.written_at,
                        *self.hostname.addresses.ipv4, *self.hostname.addresses.ipv6))
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def sort_checks(checks: Iterable[ReadinessCheck], statuses: Mapping[str, str]
                ) -> tuple[list[Announcement], list[ReadinessCheck]]:
    """(what to announce now, the checks to look at again later). Pure."""
    announce, later = [], []
    for check in checks:
        insync = check.change_id is not None and statuses.get(check.change_id) == INSYNC
        looks = 2 if check.change_id is None else MAX_CHECKS
        if not insync and check.attempt + 1 < looks:
            later.append(check.again())
            continue
        announce += [Announcement(check, hostname, insync) for hostname in check.hostnames]
    return announce, later


def consistent(announcements: list[Announcement], running_task_ids: set[str]) -> list[Announcement]:
    """Drops what would contradict the task's state: a Ready for a task that is not running, or
    that this batch also reports removed by a later change. Pure."""
    last_removed: dict[str, str] = {}
    for a in announcements:
        if a.hostname.kind == REMOVED:
            last_removed[a.hostname.task_id] = max(a.check.written_at, last_removed.get(a.hostname.task_id, ""))
    kept = []
    for a in announcements:
        if a.hostname.kind == READY and (a.hostname.task_id not in running_task_ids
                                         or a.check.written_at <= last_removed.get(a.hostname.task_id, "")):
            logger.info("Ready not announced: the task's records have since gone", task_id=a.hostname.task_id,
                        hostname=a.hostname.hostname, change_id=a.check.change_id)
            continue
        kept.append(a)
    return kept


def event_entry(a: Announcement, bus_name: str, ready_at: str, negative_cache_seconds: int | None) -> dict[str, Any]:
    h = a.hostname
    detail = {"id": a.event_id(), "clusterArn": a.check.cluster_arn, "taskArn": h.task_arn, "taskId": h.task_id,
              "hostname": h.hostname, "addresses": h.addresses.as_dict(), "changeId": a.check.change_id,
              "writtenAt": a.check.written_at, "readyAt": ready_at, "insync": a.insync,
              "negativeCacheSeconds": negative_cache_seconds}
    return {"Source": EVENT_SOURCE, "DetailType": DETAIL_TYPES[h.kind], "Detail": json.dumps(detail),
            "Resources": [h.task_arn], "EventBusName": bus_name}


class EventBus:
    """EventBridge adapter. IAM: events:PutEvents on the one bus."""

    def __init__(self, client, bus_name: str):
        self._client = client
        self.bus_name = bus_name

    def put(self, entries: list[dict[str, Any]]) -> None:
        for start in range(0, len(entries), PUT_EVENTS_LIMIT):
            response = self._client.put_events(Entries=entries[start:start + PUT_EVENTS_LIMIT])
            if response.get("FailedEntryCount"):
                codes = sorted({e.get("ErrorCode", "?") for e in response["Entries"] if e.get("ErrorCode")})
                # The whole batch comes again; what went out already goes out with the same ids.
                raise RuntimeError(f"EventBridge refused {response['FailedEntryCount']} event(s): {codes}")


class HostnameAnnouncer:
    def __init__(self, zone: Route53Zone, tasks: EcsTasks, bus: EventBus, queue: ReadinessQueue,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._zone = zone
        self._tasks = tasks
        self._bus = bus
        self._queue = queue
        self._now = now
        self._negative_cache_seconds: int | None = None
        self._soa_read = False

    def handle(self, messages: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """messages: (message id, body) of each SQS record."""
        checks = []
        for message_id, body in messages:
            try:
                checks.append(read_check(body))
            except UnreadableCheck as error:
                logger.warning("Readiness check dropped: it cannot be read", message_id=message_id,
                               reason=str(error))
        statuses = {change_id: self._change_status(change_id)
                    for change_id in sorted({check.change_id for check in checks if check.change_id})}
        unknown = {change_id for change_id, status in statuses.items() if status is None}
        for check in [c for c in checks if c.change_id in unknown]:
            logger.warning("Readiness check dropped: Route53 knows no such change", change_id=check.change_id)
        checks = [c for c in checks if c.change_id not in unknown]
        announce, later = sort_checks(checks, statuses)
        ready_ids = {a.hostname.task_id for a in announce if a.hostname.kind == READY}
        running = {task_id for task_id, task in self._tasks.statuses_of(ready_ids).items()
                   if task.is_running} if ready_ids else set()
        announce = consistent(announce, running)
        for a in announce:
            if not a.insync:
                logger.warning("Route53 change still not in sync; announcing anyway", change_id=a.check.change_id,
                               hostname=a.hostname.hostname, checks=MAX_CHECKS)
        ready_at = self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._bus.put([event_entry(a, self._bus.bus_name, ready_at, self._negative_caching()) for a in announce])
        for delay in sorted({retry_delay(check) for check in later}):
            self._queue.send([c for c in later if retry_delay(c) == delay], delay_seconds=delay)
        result = {"checks": len(checks), "announced": len(announce), "later": len(later),
                  "get_change": len(statuses)}
        logger.info("Hostname events announced", **result)
        return result

    def _change_status(self, change_id: str) -> str | None:
        """INSYNC or PENDING; None for an id Route53 does not know (a forged or garbled check)."""
        try:
            return self._zone.change_status(change_id)
        except ClientError as error:
            if error_code(error) in ("NoSuchChange", "InvalidInput"):
                return None
            raise

    def _negative_caching(self) -> int | None:
        # Read once per container: the zone's SOA changes rarely, and each read spends the
        # account's Route53 budget.
        # An unreadable SOA gives None, and is not read again either.
        if not self._soa_read:
            self._negative_cache_seconds = negative_caching_seconds(self._zone.apex_record_sets())
            self._soa_read = True
        return self._negative_cache_seconds
