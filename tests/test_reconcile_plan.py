"""The reconcile decisions and Route53 batching, without AWS."""

import boto3
from botocore.stub import Stubber

from chalicelib.shared.route53 import RecordSet, Route53Zone, change_batches, change_weight
from chalicelib.task_records.reconcile import apply_batch, plan_reconcile
from chalicelib.task_records.records import TaskAddresses, ownership_marker

PREFIX = "p.example.com"
OWNER = "0011223344556677"


def rrset(name, record_type, *values):
    return RecordSet.from_route53({"Name": f"{name}.", "Type": record_type, "TTL": 60,
                                   "ResourceRecords": [{"Value": v} for v in values]})


def ours(name, *addresses):
    return [rrset(name, "TXT", ownership_marker(OWNER)), rrset(name, "A", *addresses)]


def test_plan_creates_updates_deletes_and_skips_foreign():
    desired = {f"new.{PREFIX}": TaskAddresses(("192.0.2.1",)), f"moved.{PREFIX}": TaskAddresses(("192.0.2.2",)),
               f"same.{PREFIX}": TaskAddresses(("192.0.2.3",)), f"taken.{PREFIX}": TaskAddresses(("192.0.2.4",))}
    existing = [*ours(f"moved.{PREFIX}", "198.51.100.2"), *ours(f"same.{PREFIX}", "192.0.2.3"),
                *ours(f"gone.{PREFIX}", "198.51.100.5"), rrset(f"taken.{PREFIX}", "A", "198.51.100.4"),
                rrset(f"www.{PREFIX}", "CNAME", "example.org.")]

    plan = plan_reconcile(desired, existing, OWNER)

    assert plan.created == (f"new.{PREFIX}",)
    assert plan.updated == (f"moved.{PREFIX}",)
    assert plan.deleted == (f"gone.{PREFIX}",)
    assert plan.skipped_foreign == (f"taken.{PREFIX}", f"www.{PREFIX}")
    assert set(plan.changes_by_name) == {f"new.{PREFIX}", f"moved.{PREFIX}", f"gone.{PREFIX}"}


def create(name, value="192.0.2.1"):
    return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60,
                                                      "ResourceRecords": [{"Value": value}]}}


def upsert(name, value="192.0.2.1"):
    return {**create(name, value), "Action": "UPSERT"}


def test_upsert_counts_double_against_both_limits():
    assert change_weight(create("a", "1234")) == (1, 4)
    assert change_weight(upsert("a", "1234")) == (2, 8)


def test_batches_respect_the_record_limit_and_keep_a_name_together():
    changes = {f"n{i}": [create(f"n{i}"), create(f"n{i}", "192.0.2.2")] for i in range(1001)}
    batches = change_batches(changes)
    assert [len(b) for b in batches] == [1000, 1000, 2]
    for batch in batches:
        names = [c["ResourceRecordSet"]["Name"] for c in batch]
        assert all(names.count(n) == 2 for n in names)


def test_batches_respect_the_character_limit():
    long_value = "x" * 255
    changes = {f"n{i}": [upsert(f"n{i}", long_value)] for i in range(100)}  # 510 characters each
    batches = change_batches(changes)
    assert all(sum(change_weight(c)[1] for c in b) <= 32000 for b in batches)
    assert [len(b) for b in batches] == [62, 38]


def test_rejected_batch_falls_back_to_one_name_at_a_time():
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
        "HostedZoneId": "Z1", "ChangeBatch": {"Comment": f"task-subdomains: {name}", "Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {"Name": f"{name}.", "Type": "A", "TTL": 60,
                                                       "ResourceRecords": [{"Value": "192.0.2.1"}]}}]}})
    stubber.activate()

    apply_batch(Route53Zone(client, "Z1"), [create(f"{name}.")], {name: TaskAddresses(("192.0.2.1",))}, OWNER)

    stubber.assert_no_pending_responses()
