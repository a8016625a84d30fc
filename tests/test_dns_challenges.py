"""Challenge TXT decisions, the journal of values written, and the bounded INSYNC wait, without a real zone."""

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.certificates.challenge_journal import (
    ChallengeValue,
    JournalUnreadable,
    abandoned,
    journal_document,
    parse_journal,
    values_by_zone,
    with_values,
    without_values,
)
from chalicelib.certificates.challenges import (
    Route53Challenges,
    plan_txt,
    txt_after_adding,
    txt_after_removing,
    txt_swap,
)
from chalicelib.certificates.renewal import OUTSIDE_LAMBDA_RUN, Clocks, within_lambda_time
from chalicelib.shared.route53 import Route53Zone, change_to_route53, from_route53
from chalicelib.shared.waiting import Waiter, WaitTimedOut
from tests.helpers import FakeClock


def test_adding_keeps_foreign_values_and_dedupes_shared_ones():
    assert txt_after_adding(['"foreign"'], ["abc", "abc", "def"]) == ('"foreign"', '"abc"', '"def"')


def test_removing_takes_only_our_values():
    assert txt_after_removing(['"foreign"', '"abc"', '"def"'], ["abc", "def"]) == ('"foreign"',)


NAME = "_acme-challenge.t.example.com"


def wire(changes):
    """As Route53 receives them."""
    return [change_to_route53(c) for c in changes]
CURRENT = from_route53({"Name": f"{NAME}.", "Type": "TXT", "TTL": 60,
                       "ResourceRecords": [{"Value": '"abc"'}]})


def test_changed_values_are_swapped_naming_the_values_read():
    assert wire(txt_swap(NAME, CURRENT, ('"abc"', '"def"'))) == [
        {"Action": "DELETE", "ResourceRecordSet": CURRENT.provider_data},
        {"Action": "CREATE", "ResourceRecordSet": {"Name": f"{NAME}.", "Type": "TXT", "TTL": 60,
                                                   "ResourceRecords": [{"Value": '"abc"'}, {"Value": '"def"'}]}},
    ]


def test_the_decision_reads_only_the_txt_set_among_what_is_at_the_name():
    other = from_route53({"Name": f"{NAME}.", "Type": "CNAME", "TTL": 60,
                          "ResourceRecords": [{"Value": "x.example.com"}]})
    plan = plan_txt(NAME, [other, CURRENT], lambda existing: txt_after_adding(existing, ["def"]))
    assert plan.changes == tuple(txt_swap(NAME, CURRENT, ('"abc"', '"def"')))
    assert plan_txt(NAME, [CURRENT], lambda existing: existing).changes == ()


def test_empty_remainder_deletes_with_current_values_and_nothing_to_do_is_nothing():
    assert wire(txt_swap(NAME, CURRENT, ())) == [{"Action": "DELETE", "ResourceRecordSet": CURRENT.provider_data}]
    assert txt_swap(NAME, None, ()) == []
    assert txt_swap(NAME, CURRENT, ('"abc"',)) == []
    assert [c["Action"] for c in wire(txt_swap(NAME, None, ('"abc"',)))] == ["CREATE"]


def stubbed_route53(statuses):
    client = boto3.client("route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response("list_resource_record_sets", {
        "ResourceRecordSets": [], "IsTruncated": False, "MaxItems": "1"})
    stubber.add_response("change_resource_record_sets", {"ChangeInfo": {
        "Id": "/change/C1", "Status": "PENDING", "SubmittedAt": "2026-01-01T00:00:00Z"}})
    for status in statuses:
        stubber.add_response("get_change", {"ChangeInfo": {
            "Id": "/change/C1", "Status": status, "SubmittedAt": "2026-01-01T00:00:00Z"}}, {"Id": "/change/C1"})
    stubber.activate()
    return client, stubber


def test_publish_waits_for_insync_on_the_injected_clock():
    clock = FakeClock()
    client, stubber = stubbed_route53(["PENDING", "PENDING", "INSYNC"])
    waiter = Waiter(sleep=clock.sleep, clock=lambda: clock.now)

    challenges = Route53Challenges(Route53Zone(client, "Z1"), waiter, interval_seconds=5)
    challenges.publish({"_acme-challenge.t.example.com": ["abc"]})

    assert clock.sleeps == [5, 5]
    stubber.assert_no_pending_responses()


def test_wait_is_bounded_and_reports_the_last_status():
    clock = FakeClock()
    client, _ = stubbed_route53(["PENDING"] * 4)
    waiter = Waiter(sleep=clock.sleep, clock=lambda: clock.now, stop_by=10)  # the Lambda's wrap-up time

    with pytest.raises(WaitTimedOut, match=r"^Route53 change /change/C1 in zone Z1 still PENDING after 10s"):
        Route53Challenges(Route53Zone(client, "Z1"), waiter, interval_seconds=5).publish(
            {"_acme-challenge.t.example.com": ["abc"]})
    assert clock.now == 10


# The challenge journal (chalicelib.certificates.challenge_journal): what the next run removes.

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def value(v, name=NAME, zone="Z1", until=T0):
    return ChallengeValue(zone, name, v, until)


def test_a_journal_reads_back_what_was_written_and_refuses_anything_else():
    values = (value("abc"), value("def", name="_acme-challenge.u.example.com", zone="Z2"))
    assert parse_journal(journal_document(values).encode()) == values
    assert parse_journal(None) == ()
    for unreadable in (b"not json", b'{"challenges": [{"value": "abc"}]}', b"[]"):
        with pytest.raises(JournalUnreadable):
            parse_journal(unreadable)


def test_values_are_recorded_once_and_forgotten_exactly():
    recorded = with_values([value("abc")], [value("abc", until=T0 + timedelta(minutes=15)), value("def")])
    assert recorded == (value("abc", until=T0 + timedelta(minutes=15)), value("def"))
    # Forgetting compares zone, name and value: the same value elsewhere stays.
    assert without_values(recorded + (value("abc", zone="Z2"),), [value("abc")]) == (
        value("def"), value("abc", zone="Z2"))


def test_only_values_whose_run_has_ended_are_abandoned():
    running, ended = value("abc", until=T0 + timedelta(seconds=1)), value("def", until=T0)
    assert abandoned([running, ended], T0) == (ended,)
    assert values_by_zone([ended, value("ghi", zone="Z2"), value("jkl")]) == {
        "Z1": {NAME: ["def", "jkl"]}, "Z2": {NAME: ["ghi"]}}


def test_a_run_ends_by_lambdas_timeout_or_within_the_hour_outside_lambda():
    monotonic = 1000.0
    clocks = Clocks(now=lambda: T0, monotonic=lambda: monotonic)
    assert clocks.run_ends_by() == T0 + OUTSIDE_LAMBDA_RUN

    class Context:
        def get_remaining_time_in_millis(self):
            return 300_000

    assert within_lambda_time(clocks, Context()).run_ends_by() == T0 + timedelta(seconds=300)
