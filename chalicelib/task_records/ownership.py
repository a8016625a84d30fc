"""Which names are ours: a TXT marker beside the addresses, as external-dns's TXT registry does. Pure.

Route53 has no tags on records, so ownership is a TXT record at the same name whose only value
is `"heritage=task-subdomains,owner=<owner id>"`. A name is ours only when that exact marker is
there; a name with no records at all may be claimed; anything else (a hand-made record, another
deployment's marker) is foreign and never touched. The planner asks this module, and nothing
else knows what the marker looks like.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.shared.records import Action, Change, RecordSet, record_set

MARKER_TYPE = "TXT"
MARKER_TTL = 60


class Ownership(enum.Enum):
    FREE = "free"  # no records at the name: ours to claim
    OURS = "ours"
    FOREIGN = "foreign"


def ownership_marker(owner_id: str) -> str:
    return f'"heritage=task-subdomains,owner={owner_id}"'


@dataclass(frozen=True)
class TxtOwnership:
    owner_id: str

    @property
    def marker(self) -> str:
        return ownership_marker(self.owner_id)

    def of(self, existing: Iterable[RecordSet]) -> Ownership:
        existing = list(existing)
        if not existing:
            return Ownership.FREE
        if any(r.type == MARKER_TYPE and r.values == (self.marker,) for r in existing):
            return Ownership.OURS
        return Ownership.FOREIGN

    def claim(self, name: str) -> Change:
        # CREATE, not UPSERT: if another writer claims the name between our read and our write,
        # Route53 rejects the whole batch instead of letting both believe they own it.
        return Change(Action.CREATE, record_set(name, MARKER_TYPE, MARKER_TTL, (self.marker,)))

    def is_marker(self, one: RecordSet) -> bool:
        return one.type == MARKER_TYPE and one.values == (self.marker,)
