"""DNS-01 challenge records in Route53: add our TXT values, wait until Route53 serves them, remove them.

A name may already hold TXT values we did not write (another ACME client, a verification token,
a concurrent run of ours), and the apex and the wildcard share `_acme-challenge.<name>`, sometimes
even with the same value. So we read, merge, dedupe and write once per name; cleanup removes only
our values. Each write is a decision handed to the shared compare-and-swap loop
(`Route53Zone.converge`): one batch that DELETEs the set with the values we read and CREATEs
the new set. Route53 rejects it if anyone changed the set in between (a blind UPSERT would
silently drop their values), and the loop reads and merges again.

IAM: route53:ListResourceRecordSets, route53:ChangeResourceRecordSets (TXT, _acme-challenge.*),
route53:GetChange.
"""

import enum
from collections.abc import Callable, Iterable, Mapping

from chalicelib.shared.logs import logger
from chalicelib.shared.records import Action, Change, ChangePlan, RecordSet, record_set
from chalicelib.shared.route53 import Route53Zone
from chalicelib.shared.waiting import Waiter

CHALLENGE_TTL = 60
# Route53 usually reports INSYNC within a minute; the bound leaves the CA time to validate.
INSYNC_TIMEOUT_SECONDS = 180.0


class TxtOutcome(enum.Enum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"


def quoted(value: str) -> str:
    return f'"{value}"'


def txt_after_adding(existing: Iterable[str], ours: Iterable[str]) -> tuple[str, ...]:
    # Route53 rejects a record set with two identical values.
    return tuple(dict.fromkeys([*existing, *(quoted(v) for v in ours)]))


def txt_after_removing(existing: Iterable[str], ours: Iterable[str]) -> tuple[str, ...]:
    mine = {quoted(v) for v in ours}
    return tuple(v for v in existing if v not in mine)


def txt_swap(name: str, current: RecordSet | None, values: tuple[str, ...]) -> list[Change]:
    """The batch that turns the set we read into one with these values, or [] when it already is.

    It names the current values, so Route53 applies it only if nobody changed them since we read.
    """
    if current is not None and current.values == values:
        return []
    delete = [Change(Action.DELETE, current)] if current else []
    # Keep the TTL of a set someone else made; ours get a short one.
    ttl = current.ttl if current is not None and current.ttl is not None else CHALLENGE_TTL
    create = [Change(Action.CREATE, record_set(name, "TXT", ttl, values))] if values else []
    return delete + create


def plan_txt(name: str, existing: Iterable[RecordSet],
             new_values: Callable[[tuple[str, ...]], tuple[str, ...]]) -> ChangePlan:
    """The decision for one challenge name, given every record set read at it."""
    current = next((r for r in existing if r.type == "TXT"), None)
    batch = txt_swap(name, current, new_values(current.values if current else ()))
    return ChangePlan(TxtOutcome.CHANGED if batch else TxtOutcome.UNCHANGED, tuple(batch))


class Route53Challenges:
    def __init__(self, zone: Route53Zone, waiter: Waiter, interval_seconds: float = 2.0):
        self._zone = zone
        self._waiter = waiter
        self._interval_seconds = interval_seconds

    @property
    def zone_id(self) -> str:
        return self._zone.zone_id

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
        done = self._zone.converge([name], lambda _name, existing: plan_txt(name, existing, new_values),
                                   comment=f"task-subdomains ACME challenge {name}")
        if not done.batches:
            return None
        (batch,) = done.batches
        logger.info("Challenge TXT record changed", record_name=name, zone_id=self._zone.zone_id,
                    actions=[str(c.action) for c in batch.plans[name].changes], change_id=batch.change_id)
        return batch.change_id

    def _wait_insync(self, change_id: str) -> None:
        def insync() -> tuple[bool, str]:
            status = self._zone.change_status(change_id)
            return status == "INSYNC", status

        self._waiter.until(f"Route53 change {change_id} in zone {self._zone.zone_id}", insync,
                           timeout=INSYNC_TIMEOUT_SECONDS, interval=self._interval_seconds)
