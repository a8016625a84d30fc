"""The record decisions, without AWS."""

from chalicelib.shared.route53 import change_to_route53, from_route53
from chalicelib.task_records.ownership import TxtOwnership, ownership_marker
from chalicelib.task_records.plan import Leave, Outcome, Publish, Remove, plan_name
from chalicelib.task_records.tasks import TaskAddresses

NAME = "abc.eu-west-2.browser.example.com"
OWNER = "0011223344556677"


def plan_publish(name, existing, addresses, owner):
    return plan_name(name, existing, Publish(addresses), TxtOwnership(owner))


def plan_removal(name, existing, owner):
    return plan_name(name, existing, Remove(), TxtOwnership(owner))


def rrset(record_type, *values, ttl=60, name=NAME):
    return from_route53({
        "Name": f"{name}.", "Type": record_type, "TTL": ttl,
        "ResourceRecords": [{"Value": v} for v in values],
    })


def ours(*address_sets):
    return [rrset("TXT", ownership_marker(OWNER)), *address_sets]


def actions(plan):
    wire = [change_to_route53(c) for c in plan.changes]
    return [(c["Action"], c["ResourceRecordSet"]["Type"],
             [r["Value"] for r in c["ResourceRecordSet"].get("ResourceRecords", [])]) for c in wire]


# Every change to a name we own carries its marker deleted as read and created again: Route53
# refuses the batch unless the name is still ours (an UPSERT alone checks nothing).
GUARD = [("DELETE", "TXT", [ownership_marker(OWNER)]), ("CREATE", "TXT", [ownership_marker(OWNER)])]


def test_free_name_is_claimed_with_create_so_a_racing_writer_fails():
    plan = plan_publish(NAME, [], TaskAddresses(("192.0.2.1",), ("2001:db8::1",)), OWNER)
    assert plan.outcome == "created"
    assert actions(plan) == [
        ("CREATE", "TXT", [ownership_marker(OWNER)]),
        ("CREATE", "A", ["192.0.2.1"]),
        ("CREATE", "AAAA", ["2001:db8::1"]),
    ]


def test_owned_name_with_the_same_addresses_needs_no_change():
    existing = ours(rrset("A", "192.0.2.1"))
    plan = plan_publish(NAME, existing, TaskAddresses(("192.0.2.1",)), OWNER)
    assert plan.outcome == "unchanged" and plan.changes == ()


def test_owned_name_with_new_addresses_is_upserted_and_lost_ipv6_deleted():
    existing = ours(rrset("A", "192.0.2.1"), rrset("AAAA", "2001:db8::1"))
    plan = plan_publish(NAME, existing, TaskAddresses(("192.0.2.2",)), OWNER)
    assert actions(plan) == [*GUARD, ("UPSERT", "A", ["192.0.2.2"]), ("DELETE", "AAAA", ["2001:db8::1"])]


def test_a_record_with_a_foreign_ttl_is_brought_back_to_ours():
    plan = plan_publish(NAME, ours(rrset("A", "192.0.2.1", ttl=300)), TaskAddresses(("192.0.2.1",)), OWNER)
    assert actions(plan) == [*GUARD, ("UPSERT", "A", ["192.0.2.1"])]


def test_name_without_our_marker_is_foreign():
    for existing in (
        [rrset("A", "198.51.100.1")],
        [rrset("TXT", ownership_marker("ffffffffffffffff")), rrset("A", "198.51.100.1")],
        [rrset("TXT", ownership_marker(OWNER), '"hand-made"')],
        [rrset("MX", "10 mail.example.com.")],
    ):
        assert plan_publish(NAME, existing, TaskAddresses(("192.0.2.1",)), OWNER).outcome == "foreign"
        assert plan_removal(NAME, existing, OWNER).outcome == "foreign"


def test_removal_deletes_exactly_what_we_wrote_with_current_values():
    existing = ours(rrset("A", "192.0.2.1"), rrset("AAAA", "2001:db8::1"), rrset("MX", "10 mx.example.com."))
    plan = plan_removal(NAME, existing, OWNER)
    assert plan.outcome == "removed"
    assert actions(plan) == [
        ("DELETE", "TXT", [ownership_marker(OWNER)]),
        ("DELETE", "A", ["192.0.2.1"]),
        ("DELETE", "AAAA", ["2001:db8::1"]),
    ]


def test_removal_of_nothing_is_absent():
    assert plan_removal(NAME, [], OWNER).outcome == "absent"


def test_record_sets_at_other_names_are_not_considered():
    neighbour = rrset("A", "198.51.100.1", name="other." + NAME)
    assert plan_publish(NAME, [neighbour], TaskAddresses(("192.0.2.1",)), OWNER).outcome == "created"


def test_a_running_task_without_a_known_address_leaves_its_name_as_it_is():
    existing = ours(rrset("A", "192.0.2.1"))
    for outcome in (Outcome.NO_INTERFACE, Outcome.NO_PUBLIC_IP):
        plan = plan_name(NAME, existing, Leave(outcome), TxtOwnership(OWNER))
        assert (plan.outcome, plan.changes) == (outcome, ())


def test_a_removal_reports_the_addresses_it_took_away():
    existing = ours(rrset("A", "192.0.2.1"), rrset("AAAA", "2001:db8::1"))
    assert plan_removal(NAME, existing, OWNER).addresses == TaskAddresses(("192.0.2.1",), ("2001:db8::1",))
