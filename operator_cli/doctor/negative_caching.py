"""How long resolvers remember "no such name" for the zone, and the change that shortens it. Pure functions.

A client that looks a task's name up before its record exists gets NXDOMAIN, and resolvers cache
that answer for min(TTL of the SOA record, the SOA's minimum field) (RFC 2308, section 5). A new
Route53 zone has TTL 900 and minimum 86400: the name exists a second later, but a resolver keeps
answering "no such name" for up to 15 minutes. Lowering both to 60 s matches the records' own TTL.
"""

import enum
import re
from collections.abc import Iterable

from chalicelib.shared.records import Action, Change, ChangePlan, RecordSet
from chalicelib.shared.soa import SOA_TYPE, Soa, UnreadableSoa, negative_caching_ttl, soa_record_set
from operator_cli.doctor.checks import OK, WARN, Check

# Task records have TTL 60; a longer negative TTL is what makes a fresh name "sometimes" fail.
NEGATIVE_TTL_LIMIT = 60
# The SOA's last field, the minimum, with what surrounds it.
_LAST_FIELD = re.compile(r"(?P<before>^.*\s)(?P<minimum>\d+)(?P<after>\s*)$", re.DOTALL)


class SoaOutcome(enum.Enum):
    LOWERED = "lowered"
    UNCHANGED = "unchanged"


def negative_caching_check(apex: str, soa_set: RecordSet | None, limit: int = NEGATIVE_TTL_LIMIT) -> Check:
    if soa_set is None or len(soa_set.values) != 1 or soa_set.ttl is None:
        return Check(WARN, "negative-caching", apex, "no readable SOA record at the zone apex: check the zone "
                     "in the Route53 console")
    try:
        soa = Soa.parse(soa_set.values[0])
    except UnreadableSoa as error:
        return Check(WARN, "negative-caching", apex, f"{error}: check the zone's SOA record")
    ttl = negative_caching_ttl(soa_set.ttl, soa)
    if ttl <= limit:
        return Check(OK, "negative-caching", apex, f"resolvers cache 'no such name' for at most {ttl} s "
                     f"(SOA TTL {soa_set.ttl}, minimum {soa.minimum})")
    return Check(WARN, "negative-caching", apex,
                 f"resolvers cache 'no such name' for {ttl} s (SOA TTL {soa_set.ttl}, minimum {soa.minimum}): "
                 f"a task name looked up before its record exists keeps failing that long; "
                 f"`task-subdomains doctor --fix` lowers both to {limit} s")


def plan_lower_negative_caching(apex: str, record_sets: Iterable[RecordSet],
                                limit: int = NEGATIVE_TTL_LIMIT) -> ChangePlan:
    """One UPSERT of the SOA with its TTL and minimum at most `limit`; every other field, and the
    record set's other wire fields, kept byte for byte as read.

    Why an UPSERT: a zone holds one SOA at all times, Route53 refuses a lone SOA DELETE, and an
    UPSERT is how Terraform's Route53 provider edits an SOA. An UPSERT is no compare-and-swap: the
    caller plans from a read made just before it submits (`Doctor._lower_negative_caching`).
    """
    soa_set = soa_record_set(record_sets)
    if soa_set is None or len(soa_set.values) != 1 or soa_set.ttl is None:
        raise UnreadableSoa(f"no single SOA record with a TTL at {apex}")
    value = soa_set.values[0]
    soa = Soa.parse(value)
    if negative_caching_ttl(soa_set.ttl, soa) <= limit:
        return ChangePlan(SoaOutcome.UNCHANGED)
    ttl = min(soa_set.ttl, limit)
    # Only the minimum's digits are replaced: the text before and after them stays as read.
    lowered = _LAST_FIELD.sub(lambda match: f"{match['before']}{min(soa.minimum, limit)}{match['after']}", value)
    wire = {**soa_set.provider_data, "TTL": ttl, "ResourceRecords": [{"Value": lowered}]} \
        if soa_set.provider_data else {}
    return ChangePlan(SoaOutcome.LOWERED, (
        Change(Action.UPSERT, RecordSet(soa_set.name, SOA_TYPE, (lowered,), ttl, provider_data=wire)),
    ))
