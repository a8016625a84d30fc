"""The plan for many names, Route53 batching, and the one compare-and-swap loop, without AWS."""

import functools

import boto3
from botocore.stub import Stubber

from chalicelib.shared.records import Action, Change, record_set
from chalicelib.shared.route53 import Route53Zone, change_batches, change_weight, from_route53
from chalicelib.task_records.ownership import TxtOwnership, ownership_marker
from chalicelib.task_records.plan import Outcome, Publish, Remove, calculate, plan_name
from chalicelib.task_records.tasks import TaskAddresses

PREFIX = "p.example.com"
OWNER = "0011223344556677"


def rrset(name, record_type, *values):
    return from_route53({"Name": f"{name}.", "Type": record_type, "TTL": 60,
                         "ResourceRecords": [{"Value": v} for v in values]})


def ours(name, *addresses):
    return [rrset(name, "TXT", ownership_marker(OWNER)), rrset(name, "A", *addresses)]


def test_plan_creates_updates_deletes_and_skips_foreign():
    targets = {f"new.{PREFIX}": Publish(TaskAddresses(("192.0.2.1",))),
               f"moved.{PREFIX}": Publish(TaskAddresses(("192.0.2.2",))),
               f"same.{PREFIX}": Publish(TaskAddresses(("192.0.2.3",))),
               f"taken.{PREFIX}": Publish(TaskAddresses(("192.0.2.4",))),
               f"gone.{PREFIX}": Remove(), f"www.{PREFIX}": Remove()}
    existing = [*ours(f"moved.{PREFIX}", "198.51.100.2"), *ours(f"same.{PREFIX}", "192.0.2.3"),
                *ours(f"gone.{PREFIX}", "198.51.100.5"), rrset(f"taken.{PREFIX}", "A", "198.51.100.4"),
                rrset(f"www.{PREFIX}", "CNAME", "example.org.")]

    plan = calculate(targets, existing, TxtOwnership(OWNER))

    assert plan.with_outcome(Outcome.CREATED) == (f"new.{PREFIX}",)
    assert plan.with_outcome(Outcome.UPDATED) == (f"moved.{PREFIX}",)
    assert plan.with_outcome(Outcome.UNCHANGED) == (f"same.{PREFIX}",)
    assert plan.with_outcome(Outcome.REMOVED) == (f"gone.{PREFIX}",)
    assert plan.with_outcome(Outcome.FOREIGN) == (f"taken.{PREFIX}", f"www.{PREFIX}")
    assert set(plan.changes_by_name) == {f"new.{PREFIX}", f"moved.{PREFIX}", f"gone.{PREFIX}"}


def create(name, value="192.0.2.1"):
    return Change(Action.CREATE, record_set(name, "A", 60, (value,)))


def upsert(name, value="192.0.2.1"):
    return Change(Action.UPSERT, record_set(name, "A", 60, (value,)))


def test_upsert_counts_double_against_both_limits():
    assert change_weight(create("a", "1234")) == (1, 4)
    assert change_weight(upsert("a", "1234")) == (2, 8)


def test_batches_respect_the_record_limit_and_keep_a_name_together():
    changes = {f"n{i}": [create(f"n{i}"), create(f"n{i}", "192.0.2.2")] for i in range(1001)}
    batches = change_batches(changes)
    assert [len(b) for b in batches] == [1000, 1000, 2]
    for batch in batches:
        names = [c.name for c in batch]
        assert all(names.count(n) == 2 for n in names)


def test_batches_respect_the_character_limit():
    long_value = "x" * 255
    changes = {f"n{i}": [upsert(f"n{i}", long_value)] for i in range(100)}  # 510 characters each
    batches = change_batches(changes)
    assert all(sum(change_weight(c)[1] for c in b) <= 32000 for b in batches)
    assert [len(b) for b in batches] == [62, 38]


def marker_guard(name):
    marker = {"Name": f"{name}.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": ownership_marker(OWNER)}]}
    return [{"Action": "DELETE", "ResourceRecordSet": marker}, {"Action": "CREATE", "ResourceRecordSet": marker}]


def test_a_rejected_batch_is_read_again_and_decided_afresh_then_written():
    client = boto3.client("route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    name = f"new.{PREFIX}"
    stubber.add_client_error("change_resource_record_sets", service_error_code="InvalidChangeBatch",
                             http_status_code=400)
    # The fresh read finds that an event already published the name with our marker.
    stubber.add_response("list_resource_record_sets", {"ResourceRecordSets": [
        {"Name": f"{name}.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.9"}]},
        {"Name": f"{name}.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": ownership_marker(OWNER)}]},
    ], "IsTruncated": False, "MaxItems": "20"})
    stubber.add_response("change_resource_record_sets", {"ChangeInfo": {
        "Id": "/change/C2", "Status": "PENDING", "SubmittedAt": "2026-01-01T00:00:00Z"}}, {
        "HostedZoneId": "Z1", "ChangeBatch": {"Comment": "task records", "Changes": [
            *marker_guard(name),
            {"Action": "UPSERT", "ResourceRecordSet": {"Name": f"{name}.", "Type": "A", "TTL": 60,
                                                       "ResourceRecords": [{"Value": "192.0.2.1"}]}}]}})
    stubber.activate()
    target, ownership = Publish(TaskAddresses(("192.0.2.1",))), TxtOwnership(OWNER)

    done = Route53Zone(client, "Z1").converge(
        [name], lambda n, found: plan_name(n, found, target, ownership), comment="task records", existing=[])

    stubber.assert_no_pending_responses()
    assert done.plans[name].outcome is Outcome.UPDATED and done.reads == 1
    assert [b.change_id for b in done.batches] == ["/change/C2"]


def test_after_a_conflict_only_the_names_not_yet_written_are_read_again():
    client = boto3.client("route53", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    first, second = f"a.{PREFIX}", f"b.{PREFIX}"
    accepted = {"ChangeInfo": {"Id": "/change/C1", "Status": "PENDING", "SubmittedAt": "2026-01-01T00:00:00Z"}}
    stubber.add_response("change_resource_record_sets", accepted)  # the first name's batch
    stubber.add_client_error("change_resource_record_sets", service_error_code="InvalidChangeBatch",
                             http_status_code=400)  # the second's: someone claimed it meanwhile
    stubber.add_response("list_resource_record_sets", {"ResourceRecordSets": [
        {"Name": f"{second}.", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "198.51.100.1"}]},
    ], "IsTruncated": False, "MaxItems": "20"}, {"HostedZoneId": "Z1", "StartRecordName": f"{second}.",
                                                 "MaxItems": "20"})
    stubber.activate()
    target, ownership = Publish(TaskAddresses(("192.0.2.1",))), TxtOwnership(OWNER)

    done = Route53Zone(client, "Z1").converge(
        [first, second], lambda n, found: plan_name(n, found, target, ownership), comment="c", existing=[],
        pack=functools.partial(change_batches, max_records=2))  # a name a batch

    stubber.assert_no_pending_responses()
    assert (done.plans[first].outcome, done.plans[second].outcome) == (Outcome.CREATED, Outcome.FOREIGN)
