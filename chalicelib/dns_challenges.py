"""DNS-01 challenge records in Route53: add our TXT values, wait until Route53 serves them, remove them.

A name may already hold TXT values we did not write (another ACME client, a verification token),
and the apex and the wildcard share `_acme-challenge.<name>`, sometimes even with the same value.
So we read, merge, dedupe and UPSERT once per name; and cleanup removes only our values.

IAM: route53:ListResourceRecordSets, route53:ChangeResourceRecordSets (TXT, _acme-challenge.*),
route53:GetChange.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.logs import logger
from chalicelib.task_records import RecordSet, normalize_name

CHALLENGE_TTL = 60


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


def txt_change(name: str, current: RecordSet | None, values: tuple[str, ...]) -> dict[str, Any] | None:
    """UPSERT the values, DELETE the set when none remain (with its current values), or nothing."""
    if values:
        if current is not None and current.values == values:
            return None
        return {"Action": "UPSERT", "ResourceRecordSet": {
            "Name": f"{name}.", "Type": "TXT", "TTL": CHALLENGE_TTL,
            "ResourceRecords": [{"Value": v} for v in values]}}
    if current is None:
        return None
    return {"Action": "DELETE", "ResourceRecordSet": dict(current.route53)}


@dataclass
class ChangeWaiter:
    """Bounded wait for INSYNC; clock and sleep are injected so tests never really wait."""

    sleep: Callable[[float], None]
    clock: Callable[[], float]
    timeout_seconds: float = 180.0
    interval_seconds: float = 2.0


class Route53Challenges:
    def __init__(self, client, zone_id: str, waiter: ChangeWaiter):
        self._client = client
        self._zone_id = zone_id
        self._waiter = waiter

    def publish(self, values_by_name: Mapping[str, Iterable[str]]) -> None:
        change_ids = []
        for name, values in values_by_name.items():
            current = self._txt_at(name)
            change = txt_change(name, current, txt_after_adding(current.values if current else (), values))
            if change is not None:
                change_ids.append(self._apply(name, change))
        for change_id in change_ids:
            self._wait_insync(change_id)

    def remove(self, values_by_name: Mapping[str, Iterable[str]]) -> None:
        for name, values in values_by_name.items():
            current = self._txt_at(name)
            if current is None:
                continue
            change = txt_change(name, current, txt_after_removing(current.values, values))
            if change is not None:
                self._apply(name, change)

    def _txt_at(self, name: str) -> RecordSet | None:
        response = self._client.list_resource_record_sets(
            HostedZoneId=self._zone_id, StartRecordName=f"{name}.", StartRecordType="TXT", MaxItems="1")
        for rrset in response["ResourceRecordSets"]:
            record_set = RecordSet.from_route53(rrset)
            if record_set.name == normalize_name(name) and record_set.type == "TXT":
                return record_set
        return None

    def _apply(self, name: str, change: dict[str, Any]) -> str:
        response = self._client.change_resource_record_sets(
            HostedZoneId=self._zone_id,
            ChangeBatch={"Comment": f"task-subdomains ACME challenge {name}", "Changes": [change]})
        change_id = response["ChangeInfo"]["Id"]
        logger.info("Challenge TXT record changed", record_name=name, action=change["Action"],
                    zone_id=self._zone_id, change_id=change_id)
        return change_id

    def _wait_insync(self, change_id: str) -> None:
        deadline = self._waiter.clock() + self._waiter.timeout_seconds
        while True:
            status = self._client.get_change(Id=change_id)["ChangeInfo"]["Status"]
            if status == "INSYNC":
                return
            if self._waiter.clock() >= deadline:
                raise PropagationTimeout(
                    f"Route53 change {change_id} in zone {self._zone_id} still {status} after "
                    f"{self._waiter.timeout_seconds:.0f}s")
            self._waiter.sleep(self._waiter.interval_seconds)
