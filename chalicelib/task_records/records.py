"""Which Route53 changes make a task's name point at its addresses. Pure functions.

Route53 has no tags on records, so ownership is a TXT record at the same name whose only value
is `"heritage=task-subdomains,owner=<owner id>"` (the scheme external-dns uses). A name is ours
only when that exact marker is there; a name with no records at all may be claimed; anything
else (a hand-made record, another deployment's marker) is foreign and never touched.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.shared.route53 import ChangePlan, RecordSet, change, record_set

RECORD_TTL = 60
MARKER_TYPE = "TXT"
ADDRESS_TYPES = ("A", "AAAA")
# The outcome of a plan for one name: created, updated, unchanged, foreign (refused), removed, absent.


def ownership_marker(owner_id: str) -> str:
    return f'"heritage=task-subdomains,owner={owner_id}"'


@dataclass(frozen=True)
class TaskAddresses:
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ipv4 or self.ipv6)

    def for_type(self, record_type: str) -> tuple[str, ...]:
        return tuple(sorted(self.ipv4 if record_type == "A" else self.ipv6))


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
                 owner_id: str) -> ChangePlan:
    existing = [r for r in existing if r.name == hostname]
    ownership = name_ownership(existing, owner_id)
    if ownership == "foreign":
        return ChangePlan("foreign")
    if ownership == "free":
        # CREATE, not UPSERT, for the marker: if another writer claims the name between our read
        # and our write, Route53 rejects the whole batch instead of letting both believe they own it.
        changes = [change("CREATE", record_set(hostname, MARKER_TYPE, RECORD_TTL, (ownership_marker(owner_id),)))]
        changes += [
            change("CREATE", record_set(hostname, record_type, RECORD_TTL, addresses.for_type(record_type)))
            for record_type in ADDRESS_TYPES
            if addresses.for_type(record_type)
        ]
        return ChangePlan("created", tuple(changes))

    current = {r.type: r for r in existing if r.type in ADDRESS_TYPES}
    changes = []
    for record_type in ADDRESS_TYPES:
        wanted = addresses.for_type(record_type)
        have = current.get(record_type)
        if wanted and (have is None or tuple(sorted(have.values)) != wanted or have.ttl != RECORD_TTL):
            changes.append(change("UPSERT", record_set(hostname, record_type, RECORD_TTL, wanted)))
        elif not wanted and have is not None:
            changes.append(change("DELETE", have.route53))
    return ChangePlan("updated" if changes else "unchanged", tuple(changes))


def plan_removal(hostname: str, existing: Iterable[RecordSet], owner_id: str) -> ChangePlan:
    existing = [r for r in existing if r.name == hostname]
    ownership = name_ownership(existing, owner_id)
    if ownership == "free":
        return ChangePlan("absent")
    if ownership == "foreign":
        return ChangePlan("foreign")
    # Only what we write goes; anything else someone added at our name stays.
    changes = tuple(
        change("DELETE", r.route53) for r in existing if r.type in (*ADDRESS_TYPES, MARKER_TYPE)
    )
    return ChangePlan("removed", changes)
