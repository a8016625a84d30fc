"""How long resolvers remember "no such name" for the zone, and the change that shortens it. Pure functions.

A client that looks a task's name up before its record exists gets NXDOMAIN, and resolvers cache
that answer for min(TTL of the SOA record, the SOA's minimum field) (RFC 2308, section 5). A new
Route53 zone has TTL 900 and minimum 86400: the name exists a second later, but a resolver keeps
answering "no such name" for up to 15 minutes. Lowering both to 60 s matches the records' own TTL.
"""

import enum
from collections.abc import Iterable
from dataclasses import replace

from chalicelib.shared.records import Action, Change, ChangePlan, RecordSet, record_set
from chalicelib.shared.soa import SOA_TYPE, Soa, UnreadableSoa, negative_caching_ttl, soa_record_set
from operator_cli.checks import OK, WARN, Check

# Task records have TTL 60; a longer negative TTL is what makes a fresh name "sometimes" fail.
NEGATIVE_TTL_LIMIT = 60


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
    """DELETE the SOA as read and CREATE it with TTL and minimum at most `limit`, nothing else changed.

    One batch: Route53 applies it only if the SOA is still exactly what was read (a zone must hold
    one SOA at all times, so the pair is the only way to change it as a compare-and-swap); when
    someone changed it in between, the converge loop reads and plans again.
    """
    soa_set = soa_record_set(record_sets)
    if soa_set is None:
        raise UnreadableSoa(f"no SOA record at {apex}")
    soa = Soa.parse(soa_set.values[0])
    if negative_caching_ttl(soa_set.ttl, soa) <= limit:
        return ChangePlan(SoaOutcome.UNCHANGED)
    lowered = replace(soa, minimum=min(soa.minimum, limit))
    return ChangePlan(SoaOutcome.LOWERED, (
        Change(Action.DELETE, soa_set),
        Change(Action.CREATE, record_set(apex, SOA_TYPE, min(soa_set.ttl, limit), (lowered.text(),))),
    ))
