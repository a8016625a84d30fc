"""Challenge TXT decisions and the bounded INSYNC wait, without a real zone."""

import pytest
from botocore.stub import Stubber

import boto3
from chalicelib.dns_challenges import (
    ChangeWaiter,
    PropagationTimeout,
    Route53Challenges,
    txt_after_adding,
    txt_after_removing,
    txt_change,
)
from chalicelib.task_records import RecordSet


def test_adding_keeps_foreign_values_and_dedupes_shared_ones():
    assert txt_after_adding(['"foreign"'], ["abc", "abc", "def"]) == ('"foreign"', '"abc"', '"def"')


def test_removing_takes_only_our_values():
    assert txt_after_removing(['"foreign"', '"abc"', '"def"'], ["abc", "def"]) == ('"foreign"',)


def test_empty_remainder_deletes_with_current_values():
    current = RecordSet.from_route53({"Name": "_acme-challenge.t.example.com.", "Type": "TXT", "TTL": 60,
                                      "ResourceRecords": [{"Value": '"abc"'}]})
    change = txt_change("_acme-challenge.t.example.com", current, ())
    assert change == {"Action": "DELETE", "ResourceRecordSet": current.route53}
    assert txt_change("_acme-challenge.t.example.com", None, ()) is None
    assert txt_change("_acme-challenge.t.example.com", current, ('"abc"',)) is None


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


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
    waiter = ChangeWaiter(sleep=clock.sleep, clock=lambda: clock.now, timeout_seconds=60, interval_seconds=5)

    Route53Challenges(client, "Z1", waiter).publish({"_acme-challenge.t.example.com": ["abc"]})

    assert clock.sleeps == [5, 5]
    stubber.assert_no_pending_responses()


def test_wait_is_bounded_and_reports_the_last_status():
    clock = FakeClock()
    client, _ = stubbed_route53(["PENDING"] * 4)
    waiter = ChangeWaiter(sleep=clock.sleep, clock=lambda: clock.now, timeout_seconds=10, interval_seconds=5)

    with pytest.raises(PropagationTimeout, match=r"/change/C1 in zone Z1 still PENDING after 10s"):
        Route53Challenges(client, "Z1", waiter).publish({"_acme-challenge.t.example.com": ["abc"]})
    assert clock.now == 10
