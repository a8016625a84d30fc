"""Route53Zone.record_sets_of against the emulator: a few names in a large zone cost a few requests."""

from chalicelib.shared.aws_clients import client
from chalicelib.shared.route53 import Route53Zone
from embedded_stack.aws import route53_budget
from embedded_stack.fargate import DOMAIN_PREFIX


def fill(cluster, names):
    for start in range(0, len(names), 500):
        cluster.route53.change_resource_record_sets(HostedZoneId=cluster.zone_id, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60,
                                                       "ResourceRecords": [{"Value": "192.0.2.1"}]}}
            for name in names[start:start + 500]]})


def test_names_far_apart_in_a_large_zone_cost_a_request_each_not_every_page_between(cluster):
    others = [f"{i:08x}{'0' * 24}.{DOMAIN_PREFIX}" for i in range(0, 2000)]  # 2000 tasks' names
    wanted = [others[10], others[1000], others[1990], f"ffff{'0' * 28}.{DOMAIN_PREFIX}"]  # the last: absent
    fill(cluster, others)
    zone = Route53Zone(client("route53"), cluster.zone_id)

    with route53_budget() as budget:
        found = zone.record_sets_of(wanted)

    assert sorted(r.name for r in found) == sorted(wanted[:3])
    assert budget.requests <= 3  # the last name is past the end of the third page


def test_names_close_together_share_a_page(cluster):
    names = [f"{i:032x}.{DOMAIN_PREFIX}" for i in range(200)]
    fill(cluster, names)
    zone = Route53Zone(client("route53"), cluster.zone_id)

    with route53_budget() as budget:
        found = zone.record_sets_of(names[::2])

    assert len(found) == 100 and budget.requests == 1
