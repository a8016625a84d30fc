"""DNS-01 challenge records in Route53: add our TXT values, wait until Route53 serves them, remove them.

A name may already hold TXT values we did not write (another ACME client, a verification token,
a concurrent run of ours), and the apex and the wildcard share `_acme-challenge.<name>`, sometimes
even with the same value. So we read, merge, dedupe and write once per name; cleanup removes only
our values. Each write is a compare-and-swap: one batch that DELETEs the set with the values we
read and CREATEs the new set. Route53 rejects it if anyone changed the set in between (a blind
UPSERT would silently drop their values), and we read and merge again.

IAM: route53:ListResourceRecordSets, route53:ChangeResourceRecordSets (TXT, _acme-challenge.*),
route53:GetChange.
"""

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.logs import logger
from chalicelib.route53_zone import is_change_conflict
from chalicelib.task_records import RecordSet, normalize_name

CHALLENGE_TTL = 60
_SWAP_ATTEMPTS = 5


class PropagationTimeout(RuntimeError):
    """Route53 did not report INSYNC within the bounded wait."""


def quoted(value: str) -> str:
    return f'"{value}"'


def txt_after_adding(existing: Iterable[str], ours: Iterable[str]) -> tuple[str, ...]:
    # Route53 rejects a record set with two identical values.
    return tuple(dict.fromkeys([*existing, *(quoted(v) for v in ours)]))


def txt_after_removing(existing: Iterable[str], ours: Iterable[str]) -> tuple[str, ...]:
    mine = {quoted(v) for v in ours}
    return tuple(v for v in existing if v not in mine)


def txt_swap(name: str, current: RecordSet | None, values: tuple[str, ...]) -> list[dict[str, Any]]:
    """The batch that turns the set we read into one with these values, or [] when it already is.

    It names the current values, so Route53 applies it only if nobody changed them since we read.
    """
    if current is not None and current.values == values:
        return []
    delete = [{"Action": "DELETE", "ResourceRecordSet": dict(current.route53)}] if current else []
    # Keep the TTL of a set someone else made; ours get a short one.
    ttl = current.ttl if current is not None and current.ttl is not None else CHALLENGE_TTL
    create = [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": f"{name}.", "Type": "TXT", "TTL": ttl,
        "ResourceRecords": [{"Value": v} for v in values]}}] if values else []
    return delete + create


@dataclass
class ChangeWaiter:
    """Bounded wait for INSYNC; clock and sleep are injected so tests never really wait."""

    sleep: Callable[[float], None]
    clock: Callable[[], float]
    timeout_seconds: float = 180.0
    interval_seconds: float = 2.0
    stop_by: float = math.inf  # clock() value by which the invocation must be wrapping up


class Route53Challenges:
    def __init__(self, client, zone_id: str, waiter: ChangeWaiter):
        self._client = client
        self._zone_id = zone_id
        self._waiter = waiter

    def publish(self, values_by_name: Mapping[str, Iterable[str]]) -> None:
        change_ids = [self._swap(name, lambda existing, ours=list(values): txt_after_adding(existing, ours))
                      for name, values in values_by_name.items()]
        for change_id in change_ids:
            if change_id is not None:
                self._wait_insync(change_id)

    def remove(self, values_by_name: Mapping[str, Iterable[str]]) -> None:
        for name, values in values_by_name.items():
            self._swap(name, lambda existing, ours=list(values): txt_after_removing(existing, ours))

    def _swap(self, name: str, new_values: Callable[[tuple[str, ...]], tuple[str, ...]]) -> str | None:
        attempt = 1
        while True:
            current = self._txt_at(name)
            batch = txt_swap(name, current, new_values(current.values if current else ()))
            if not batch:
                return None
            try:
                return self._apply(name, batch)
            except ClientError as error:
                if not is_change_conflict(error) or attempt == _SWAP_ATTEMPTS:
                    raise
                logger.info("Challenge TXT record changed under us; reading it again", record_name=name,
                            attempt=attempt)
                attempt += 1

    def _txt_at(self, name: str) -> RecordSet | None:
        response = self._client.list_resource_record_sets(
            HostedZoneId=self._zone_id, StartRecordName=f"{name}.", StartRecordType="TXT", MaxItems="1")
        for rrset in response["ResourceRecordSets"]:
            record_set = RecordSet.from_route53(rrset)
            if record_set.name == normalize_name(name) and record_set.type == "TXT":
                return record_set
        return None

    def _apply(self, name: str, batch: list[dict[str, Any]]) -> str:
        response = self._client.change_resource_record_sets(
            HostedZoneId=self._zone_id,
            ChangeBatch={"Comment": f"task-subdomains ACME challenge {name}", "Changes": batch})
        change_id = response["ChangeInfo"]["Id"]
        logger.info("Challenge TXT record changed", record_name=name,
                    actions=[change["Action"] for change in batch], zone_id=self._zone_id, change_id=change_id)
        return change_id

    def _wait_insync(self, change_id: str) -> None:
        started = self._waiter.clock()
        deadline = min(started + self._waiter.timeout_seconds, self._waiter.stop_by)
        while True:
            status = self._client.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            if self._waiter.clock() >= deadline:
                raise PropagationTimeout(
                    f"Route53 change {change_id} in zone {self._zone_id} still {status} after "
                    f"{self._waiter.clock() - started:.0f}s")
            self._waiter.sleep(self._waiter.interval_seconds)
