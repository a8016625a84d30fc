"""Which Route53 changes make a task's name point at its addresses. Pure functions.

Route53 has no tags on records, so ownership is a TXT record at the same name whose only value
is `"heritage=task-subdomains,owner=<owner id>"` (the scheme external-dns uses). A name is ours
only when that exact marker is there; a name with no records at all may be claimed; anything
else (a hand-made record, another deployment's marker) is foreign and never touched.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RECORD_TTL = 60
MARKER_TYPE = "TXT"
ADDRESS_TYPES = ("A", "AAAA")


def ownership_marker(owner_id: str) -> str:
    return f'"heritage=task-subdomains,owner={owner_id}"'


@dataclass(frozen=True)
class RecordSet:
    name: str
    type: str
    values: tuple[str, ...]
    ttl: int | None = None
    # The record set exactly as Route53 returned it: a DELETE must repeat it verbatim.
    route53: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_route53(cls, rrset: Mapping[str, Any]) -> "RecordSet":
        return cls(
            name=normalize_name(rrset["Name"]),
            type=rrset["Type"],
            values=tuple(record["Value"] for record in rrset.get("ResourceRecords", [])),
            ttl=rrset.get("TTL"),
            route53=rrset,
        )


@dataclass(frozen=True)
class TaskAddresses:
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ipv4 or self.ipv6)

    def for_type(self, record_type: str) -> tuple[str, ...]:
        return tuple(sorted(self.ipv4 if record_type == "A" else self.ipv6))


@dataclass(frozen=True)
class RecordPlan:
    """outcome: created, updated, unchanged, foreign (refused), removed, absent."""

    outcome: str
    changes: tuple[dict[str, Any], ...] = ()


def normalize_name(name: str) -> str:
    return name.rstrip(".").lower()


def name_ownership(existing: Iterable[RecordSet], owner_id: str) -> str:
    """'free' (no records at the name), 'ours' (our marker is there) or 'foreign'."""
    existing = list(existing)
    if not existing:
        return "free"
    marker = ownership_marker(owner_id)
    if any(r.type == MARKER_TYPE and r.values == (marker,) for r in existing):
        return "ours"
    return "foreign"


def plan_publish(hostname: str, existing: Iterable[RecordSet], addresses: TaskAddresses,
                 owner_id: str) -> RecordPlan:
    existing = [r for r in existing if r.name == hostname]
    ownership = name_ownership(existing, owner_id)
    if ownership == "foreign":
        return RecordPlan("foreign")
    if ownership == "free":
        # CREATE, not UPSERT, for the marker: if another writer claims the name between our read
        # and our write, Route53 rejects the whole batch instead of letting both believe they own it.
        changes = [_change("CREATE", _record_set(hostname, MARKER_TYPE, (ownership_marker(owner_id),)))]
        changes += [
            _change("CREATE", _record_set(hostname, record_type, addresses.for_type(record_type)))
            for record_type in ADDRESS_TYPES
            if addresses.for_type(record_type)
        ]
        return RecordPlan("created", tuple(changes))

    current = {r.type: r for r in existing if r.type in ADDRESS_TYPES}
    changes = []
    for record_type in ADDRESS_TYPES:
        wanted = addresses.for_type(record_type)
        have = current.get(record_type)
        if wanted and (have is None or tuple(sorted(have.values)) != wanted or have.ttl != RECORD_TTL):
            changes.append(_change("UPSERT", _record_set(hostname, record_type, wanted)))
        elif not wanted and have is not None:
            changes.append(_change("DELETE", have.route53))
    return RecordPlan("updated" if changes else "unchanged", tuple(changes))


def plan_removal(hostname: str, existing: Iterable[RecordSet], owner_id: str) -> RecordPlan:
    existing = [r for r in existing if r.name == hostname]
    ownership = name_ownership(existing, owner_id)
    if ownership == "free":
        return RecordPlan("absent")
    if ownership == "foreign":
        return RecordPlan("foreign")
    # Only what we write goes; anything else someone added at our name stays.
    changes = tuple(
        _change("DELETE", r.route53) for r in existing if r.type in (*ADDRESS_TYPES, MARKER_TYPE)
    )
    return RecordPlan("removed", changes)


def _record_set(name: str, record_type: str, values: Iterable[str]) -> dict[str, Any]:
    return {
        "Name": f"{name}.",
        "Type": record_type,
        "TTL": RECORD_TTL,
        "ResourceRecords": [{"Value": value} for value in values],
    }


def _change(action: str, record_set: Mapping[str, Any]) -> dict[str, Any]:
    return {"Action": action, "ResourceRecordSet": dict(record_set)}
