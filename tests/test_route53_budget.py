"""The emulator's two Route53 budgets: requests, and record changes (change throughput).

Buckets run on an injected clock: refills happen when the test says so, nothing sleeps.
"""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from embedded_stack.aws import TokenBucket, record_changes, route53_budget
from tests.helpers import FakeClock

NAME = "budget.example.com"


@pytest.fixture
def once(aws):
    """A Route53 client that does not retry: a throttled request fails where the test can see it."""
    return boto3.client("route53", config=Config(retries={"total_max_attempts": 1}))


def a_record(action: str, label: str, address: str = "192.0.2.1") -> dict:
    return {"Action": action, "ResourceRecordSet": {"Name": f"{label}.{NAME}", "Type": "A", "TTL": 60,
                                                     "ResourceRecords": [{"Value": address}]}}


def change(route53, zone_id: str, *changes: dict) -> None:
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)})


def throttled(route53, zone_id: str, *changes: dict) -> ClientError:
    with pytest.raises(ClientError) as refused:
        change(route53, zone_id, *changes)
    return refused.value


def test_a_bucket_pays_several_tokens_at_once_or_none():
    clock = FakeClock()
    bucket = TokenBucket(burst=5, rate=2, clock=lambda: clock.now)
    assert bucket.take(4)
    assert not bucket.take(2)  # one left: refused whole, and nothing spent
    assert bucket.take(1)
    clock.sleep(1.5)  # three back
    assert [bucket.take(3), bucket.take(1)] == [True, False]


def test_an_upsert_counts_twice_and_every_other_change_once():
    assert record_changes([a_record("CREATE", "a"), a_record("DELETE", "b"), a_record("UPSERT", "c")]) == 4
    # Per record set, not per value: three addresses in one CREATE are one change.
    three_values = a_record("CREATE", "d")
    three_values["ResourceRecordSet"]["ResourceRecords"] = [{"Value": f"192.0.2.{i}"} for i in (1, 2, 3)]
    assert record_changes([three_values]) == 1


def test_a_batch_within_the_change_budget_passes_and_one_beyond_it_is_throttled(cluster, once):
    clock = FakeClock()
    with route53_budget(changes=TokenBucket(burst=4, rate=2, clock=lambda: clock.now)) as budget:
        change(once, cluster.zone_id, *(a_record("CREATE", label) for label in "abcd"))  # all four tokens
        refused = throttled(once, cluster.zone_id, a_record("CREATE", "e"))
        clock.sleep(0.5)  # one change refilled
        change(once, cluster.zone_id, a_record("CREATE", "e"))

    assert refused.response["Error"]["Code"] == "Throttling"
    assert refused.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (budget.requests, budget.throttled, budget.changes, budget.changes_throttled) == (3, 1, 6, 1)
    assert {name for name, _ in cluster.zone_records()} == {f"{label}.{NAME}" for label in "abcde"}


def test_an_upsert_spends_two_changes(cluster, once):
    clock = FakeClock()
    with route53_budget(changes=TokenBucket(burst=3, rate=1, clock=lambda: clock.now)) as budget:
        change(once, cluster.zone_id, a_record("UPSERT", "a"), a_record("CREATE", "b"))  # 2 + 1
        clock.sleep(1)  # one change back: a CREATE's worth, not an UPSERT's
        throttled(once, cluster.zone_id, a_record("UPSERT", "a", "192.0.2.2"))
        change(once, cluster.zone_id, a_record("DELETE", "b"))

    assert (budget.changes, budget.changes_throttled, budget.throttled) == (6, 2, 1)
    assert cluster.zone_records()[(f"a.{NAME}", "A")] == ["192.0.2.1"]


def test_reads_spend_no_changes_and_name_resolution_spends_nothing(cluster, once, dns_server):
    cluster.put_record(f"a.{NAME}", "A", ["192.0.2.1"])
    no_changes_left = TokenBucket(burst=0, rate=0)
    with route53_budget(TokenBucket(burst=2, rate=0), changes=no_changes_left) as budget:
        assert dns_server.resolve(f"a.{NAME}", "A") == ["192.0.2.1"]  # reads the zone, spends nothing
        once.list_resource_record_sets(HostedZoneId=cluster.zone_id)  # a request, no change
        refused = throttled(once, cluster.zone_id, a_record("CREATE", "b"))

    assert refused.response["Error"]["Code"] == "Throttling"
    assert (budget.requests, budget.throttled, budget.changes, budget.changes_throttled) == (2, 1, 1, 1)
    assert budget.by_operation == {"ListResourceRecordSets": 1, "ChangeResourceRecordSets": 1}


def test_a_request_the_request_bucket_refuses_spends_no_changes(cluster, once):
    changes = TokenBucket(burst=1, rate=0)
    with route53_budget(TokenBucket(burst=1, rate=0), changes=changes) as budget:
        once.list_hosted_zones()  # the only request token
        throttled(once, cluster.zone_id, a_record("CREATE", "a"))

    assert changes.take(1)  # still there
    assert (budget.throttled, budget.changes_throttled) == (1, 1)


def test_each_change_batch_has_its_own_change_id_and_is_in_sync(cluster, once):
    # The readiness checks ask GetChange once per distinct change id: one id for every batch
    # (moto's own answer) would hide all but one of those requests from the budget.
    ids = [once.change_resource_record_sets(HostedZoneId=cluster.zone_id, ChangeBatch={"Changes": [
        a_record("CREATE", label)]})["ChangeInfo"]["Id"] for label in "ab"]

    assert ids[0] != ids[1]
    assert [once.get_change(Id=change_id)["ChangeInfo"]["Status"] for change_id in ids] == ["INSYNC", "INSYNC"]
