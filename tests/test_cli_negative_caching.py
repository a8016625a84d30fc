"""The zone's negative-caching TTL and the SOA change that lowers it: pure functions, no AWS."""

import pytest

from chalicelib.shared.records import RecordSet, record_set
from chalicelib.shared.route53 import change_to_route53, from_route53
from embedded_stack.zone_soa import ROUTE53_SOA_TTL, route53_default_soa
from operator_cli.doctor.negative_caching import (
    NEGATIVE_TTL_LIMIT,
    Soa,
    SoaOutcome,
    UnreadableSoa,
    negative_caching_check,
    negative_caching_ttl,
    plan_lower_negative_caching,
)

APEX = "example.com"


def soa_set(value: str, ttl: int) -> RecordSet:
    return record_set(APEX, "SOA", ttl, (value,))


ROUTE53_DEFAULT = soa_set(route53_default_soa("ns-2048.awsdns-64.net"), ROUTE53_SOA_TTL)


def test_the_soa_value_round_trips():
    value = ROUTE53_DEFAULT.values[0]
    assert Soa.parse(value).text() == value


@pytest.mark.parametrize("value", ["", "ns. host. 1 2 3 4", "ns. host. 1 2 3 4 five", "{'Value': 'ns. h. 1 2 3 4 5'}"])
def test_values_that_are_not_an_soa_are_refused(value):
    with pytest.raises(UnreadableSoa):
        Soa.parse(value)


def test_negative_caching_lasts_the_smaller_of_the_soa_ttl_and_its_minimum():
    soa = Soa.parse(ROUTE53_DEFAULT.values[0])
    assert negative_caching_ttl(ROUTE53_DEFAULT.ttl, soa) == min(ROUTE53_DEFAULT.ttl, soa.minimum)
    assert negative_caching_ttl(30, soa) == 30


def test_route53s_default_warns_and_names_the_fix():
    check = negative_caching_check(APEX, ROUTE53_DEFAULT)
    assert check.level == "warn"
    assert f"{ROUTE53_SOA_TTL} s" in check.message and "doctor --fix" in check.message


def test_at_the_limit_it_is_fine():
    soa = Soa.parse(ROUTE53_DEFAULT.values[0])
    lowered = soa_set(Soa(soa.primary, soa.contact, soa.serial, soa.refresh, soa.retry, soa.expire, 86400).text(),
                      NEGATIVE_TTL_LIMIT)
    assert negative_caching_check(APEX, lowered).level == "ok"


def test_an_unreadable_or_missing_soa_is_a_warning_not_a_crash():
    assert negative_caching_check(APEX, soa_set("{'Value': 'garbage'}", 900)).level == "warn"
    assert negative_caching_check(APEX, None).level == "warn"


def test_the_fix_is_one_upsert_of_the_soa_with_only_ttl_and_minimum_lowered():
    others = record_set(APEX, "NS", 172800, ("ns-1.example.net.",))

    plan = plan_lower_negative_caching(APEX, [others, ROUTE53_DEFAULT])

    (upsert,) = map(change_to_route53, plan.changes)  # the NS set is not touched
    assert upsert["Action"] == "UPSERT"
    new_set = upsert["ResourceRecordSet"]
    (value,) = [r["Value"] for r in new_set["ResourceRecords"]]
    old, new = Soa.parse(ROUTE53_DEFAULT.values[0]), Soa.parse(value)
    assert (new_set["Name"], new_set["Type"], new_set["TTL"]) == (f"{APEX}.", "SOA", NEGATIVE_TTL_LIMIT)
    assert new == Soa(old.primary, old.contact, old.serial, old.refresh, old.retry, old.expire, NEGATIVE_TTL_LIMIT)


def test_the_fix_keeps_every_other_byte_of_the_soa_as_read():
    # Odd spacing, and a wire field the planner knows nothing about: both are repeated as read.
    value = "ns-1.awsdns-01.org.  hostmaster.example.com.\t2024010101 7200 900 1209600   86400"
    wire = {"Name": "Example.com.", "Type": "SOA", "TTL": 900, "ResourceRecords": [{"Value": value}],
            "Unknown": {"kept": True}}

    (upsert,) = map(change_to_route53, plan_lower_negative_caching(APEX, [from_route53(wire)]).changes)

    assert upsert["ResourceRecordSet"] == {
        **wire, "TTL": NEGATIVE_TTL_LIMIT,
        "ResourceRecords": [{"Value": value.removesuffix("86400") + str(NEGATIVE_TTL_LIMIT)}]}


def test_a_zone_without_one_readable_soa_is_not_planned():
    with pytest.raises(UnreadableSoa):
        plan_lower_negative_caching(APEX, [record_set(APEX, "NS", 172800, ("ns-1.example.net.",))])
    with pytest.raises(UnreadableSoa):
        plan_lower_negative_caching(APEX, [soa_set("{'Value': 'garbage'}", 900)])


def test_the_fix_never_raises_a_value_that_is_already_lower():
    soa = Soa.parse(ROUTE53_DEFAULT.values[0])
    short_minimum = soa_set(Soa(soa.primary, soa.contact, soa.serial, soa.refresh, soa.retry, soa.expire, 30).text(),
                            900)
    assert plan_lower_negative_caching(APEX, [short_minimum]).changes == ()  # min(900, 30) is already short

    short_ttl = soa_set(soa.text(), 20)
    assert plan_lower_negative_caching(APEX, [short_ttl]).changes == ()


def test_the_fix_changes_nothing_when_the_zone_is_already_fine():
    plan = plan_lower_negative_caching(APEX, [soa_set(ROUTE53_DEFAULT.values[0].rsplit(" ", 1)[0] + " 60", 60)])
    assert (plan.outcome, plan.changes) == (SoaOutcome.UNCHANGED, ())
