"""A zone's SOA record and how long resolvers cache "no such name" for it. Pure functions.

A client that looks a name up before its record exists gets NXDOMAIN, and resolvers cache that
answer for min(TTL of the SOA record, the SOA's minimum field) (RFC 2308, section 5). A new
Route53 zone has TTL 900 and minimum 86400: 15 minutes of "no such name" for a task looked up
a second too early.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.shared.records import RecordSet

SOA_TYPE = "SOA"


class UnreadableSoa(ValueError):
    """The SOA value is not `mname rname serial refresh retry expire minimum`."""


@dataclass(frozen=True)
class Soa:
    primary: str
    contact: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int

    @classmethod
    def parse(cls, value: str) -> "Soa":
        fields = value.split()
        if len(fields) != 7 or not all(field.isdigit() for field in fields[2:]):
            raise UnreadableSoa(f"SOA value {value!r} is not 'mname rname serial refresh retry expire minimum'")
        primary, contact, *numbers = fields
        return cls(primary, contact, *map(int, numbers))

    def text(self) -> str:
        return " ".join(map(str, (self.primary, self.contact, self.serial, self.refresh, self.retry,
                                  self.expire, self.minimum)))


def negative_caching_ttl(record_ttl: int, soa: Soa) -> int:
    return min(record_ttl, soa.minimum)


def soa_record_set(record_sets: Iterable[RecordSet]) -> RecordSet | None:
    return next((r for r in record_sets if r.type == SOA_TYPE), None)


def negative_caching_seconds(record_sets: Iterable[RecordSet]) -> int | None:
    """From the apex's record sets; None when there is no readable SOA among them."""
    soa_set = soa_record_set(record_sets)
    if soa_set is None or len(soa_set.values) != 1 or soa_set.ttl is None:
        return None
    try:
        return negative_caching_ttl(soa_set.ttl, Soa.parse(soa_set.values[0]))
    except UnreadableSoa:
        return None
