"""DNS record sets and changes to them, as both subsystems plan them. No provider's wire format.

Plans are written in these types (external-dns's `endpoint.Endpoint` and `plan.Changes` play the
same part); only chalicelib.shared.route53 turns them into Route53 requests and reads Route53's
answers back into them.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Action(enum.StrEnum):
    # CREATE fails when the set exists and DELETE unless it names the current values: both are
    # compare-and-swap. UPSERT overwrites whatever is there.
    CREATE = "CREATE"
    UPSERT = "UPSERT"
    DELETE = "DELETE"


def normalize_name(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass(frozen=True)
class RecordSet:
    name: str
    type: str
    values: tuple[str, ...]
    ttl: int | None = None
    # The set exactly as the provider returned it, opaque here: a DELETE must repeat it verbatim
    # (Route53 matches routing policy fields too, not just name, type, TTL and values).
    provider_data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


def record_set(name: str, record_type: str, ttl: int, values: Iterable[str]) -> RecordSet:
    return RecordSet(normalize_name(name), record_type, tuple(values), ttl)


@dataclass(frozen=True)
class Change:
    action: Action
    record_set: RecordSet

    @property
    def name(self) -> str:
        return self.record_set.name


@dataclass(frozen=True)
class ChangePlan:
    """The decision about one name: an outcome (an enum of the deciding subsystem) and its changes."""

    outcome: enum.Enum
    changes: tuple[Change, ...] = ()


def by_name(record_sets: Iterable[RecordSet]) -> dict[str, list[RecordSet]]:
    grouped: dict[str, list[RecordSet]] = {}
    for one in record_sets:
        grouped.setdefault(one.name, []).append(one)
    return grouped


def end_state(existing: Iterable[RecordSet], changes: Iterable[Change]) -> set[tuple[str, int | None, tuple[str, ...]]]:
    """(type, TTL, sorted values) of each record set at a name once these changes are applied to
    what was read: to tell whether the zone already shows a batch that was answered with an error."""
    state = {one.type: one for one in existing}
    for change in changes:
        if change.action is Action.DELETE:
            state.pop(change.record_set.type, None)
        else:
            state[change.record_set.type] = change.record_set
    return {(one.type, one.ttl, tuple(sorted(one.values))) for one in state.values()}
