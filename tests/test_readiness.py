"""Readiness checks and the announcer's decisions, without AWS."""

import json

import pytest

from chalicelib.shared.records import Action, Change, record_set
from chalicelib.task_records.announcer import MAX_CHECKS, MAX_DELAY_SECONDS, consistent, retry_delay, sort_checks
from chalicelib.task_records.plan import NamePlan, Outcome
from chalicelib.task_records.readiness import (
    HOSTNAMES_PER_MESSAGE,
    READY,
    REMOVED,
    HostnameChange,
    ReadinessCheck,
    UnreadableCheck,
    checks_for_batch,
    read_check,
)
from chalicelib.task_records.tasks import TaskAddresses

CLUSTER = "arn:aws:ecs:eu-west-2:123456789012:cluster/c"
PREFIX = "p.example.com"


def arn(task_id):
    return f"arn:aws:ecs:eu-west-2:123456789012:task/c/{task_id}"


def plan(name, outcome, *ipv4):
    changes = (Change(Action.CREATE, record_set(name, "A", 60, ipv4)),) if outcome != Outcome.UNCHANGED else ()
    return NamePlan(name, outcome, changes, TaskAddresses(ipv4=ipv4))


def test_a_batch_gives_ready_for_published_names_removed_for_removed_ones_and_nothing_else():
    plans = {f"a.{PREFIX}": plan(f"a.{PREFIX}", Outcome.CREATED, "192.0.2.1"),
             f"b.{PREFIX}": plan(f"b.{PREFIX}", Outcome.UPDATED, "192.0.2.2"),
             f"c.{PREFIX}": plan(f"c.{PREFIX}", Outcome.REMOVED, "192.0.2.3"),
             f"d.{PREFIX}": plan(f"d.{PREFIX}", Outcome.UNCHANGED, "192.0.2.4")}
    (check,) = checks_for_batch("/change/C1", plans, {n: arn(n.split(".")[0]) for n in plans}, CLUSTER,
                                "2026-12-02T00:00:00.000Z")
    assert [(h.hostname, h.kind) for h in check.hostnames] == [
        (f"a.{PREFIX}", READY), (f"b.{PREFIX}", READY), (f"c.{PREFIX}", REMOVED)]
    assert check.hostnames[2].addresses.ipv4 == ("192.0.2.3",) and check.hostnames[0].task_id == "a"


def test_a_large_batch_is_split_into_messages_sqs_accepts_and_each_round_trips():
    plans = {f"t{i}.{PREFIX}": plan(f"t{i}.{PREFIX}", Outcome.CREATED, "192.0.2.1") for i in range(450)}
    checks = checks_for_batch("/change/C1", plans, {n: arn(n.split(".")[0]) for n in plans}, CLUSTER,
                              "2026-12-02T00:00:00.000Z")
    assert [len(c.hostnames) for c in checks] == [HOSTNAMES_PER_MESSAGE, HOSTNAMES_PER_MESSAGE, 50]
    assert all(len(c.body().encode()) < 256 * 1024 for c in checks)
    assert [read_check(c.body()) for c in checks] == checks


def check(change_id, written_at, *hostnames, attempt=0):
    return ReadinessCheck(change_id, written_at, CLUSTER, tuple(hostnames), attempt)


def ready(task_id):
    return HostnameChange(arn(task_id), task_id, f"{task_id}.{PREFIX}", READY, TaskAddresses(("192.0.2.1",)))


def removed(task_id):
    return HostnameChange(arn(task_id), task_id, f"{task_id}.{PREFIX}", REMOVED, TaskAddresses(("192.0.2.1",)))


def test_in_sync_changes_are_announced_and_the_others_looked_at_again_until_the_bound():
    synced, pending = check("/change/A", "1", ready("a")), check("/change/B", "1", ready("b"))
    last_look = check("/change/C", "1", ready("c"), attempt=MAX_CHECKS - 1)

    announce, later = sort_checks([synced, pending, last_look], {"/change/A": "INSYNC", "/change/B": "PENDING",
                                                                 "/change/C": "PENDING"})

    assert [(a.hostname.task_id, a.insync) for a in announce] == [("a", True), ("c", False)]
    assert later == [pending.again()] and later[0].attempt == 1


def test_delays_grow_and_stay_within_what_sqs_allows():
    looks = [check("/1", "t", ready("a"), attempt=attempt) for attempt in range(1, MAX_CHECKS)]
    delays = [retry_delay(look) for look in looks]
    assert delays == sorted(delays) and delays[0] == 5 and max(delays) <= min(MAX_DELAY_SECONDS, 900)
    assert 10 * 60 <= sum(delays) <= 20 * 60  # about a quarter of an hour before insync: false


def test_a_change_whose_answer_was_lost_is_looked_at_once_more_then_announced_not_in_sync():
    unacknowledged = check(None, "t", ready("a"))
    announce, later = sort_checks([unacknowledged], {})
    assert announce == [] and later == [unacknowledged.again()] and retry_delay(later[0]) >= 30
    announce, later = sort_checks(later, {})
    assert [(a.hostname.task_id, a.insync) for a in announce] == [("a", False)] and later == []


@pytest.mark.parametrize("change", [
    {"changeId": "/change/../../x"},
    {"writtenAt": "yesterday"},
    {"hostnames": [{"taskArn": arn("a"), "taskId": "b", "hostname": f"a.{PREFIX}", "kind": READY,
                    "addresses": {"ipv4": ["192.0.2.1"], "ipv6": []}}]},
    {"hostnames": [{"taskArn": arn("a"), "taskId": "a", "hostname": f"a.{PREFIX}", "kind": READY,
                    "addresses": {"ipv4": ["2001:db8::1"], "ipv6": []}}]},
])
def test_a_check_whose_fields_do_not_hold_together_is_unreadable(change):
    good = json.loads(check("/change/C1", "2026-12-02T00:00:00.000Z", ready("a")).body())
    assert read_check(json.dumps(good)).hostnames[0].task_id == "a"
    with pytest.raises(UnreadableCheck):
        read_check(json.dumps({**good, **change}))


def test_ready_is_dropped_for_a_task_not_running_or_removed_later_in_the_same_batch():
    announce, _ = sort_checks([check("/1", "2026-01-01T00:00:01Z", ready("a"), ready("b"), ready("c")),
                               check("/2", "2026-01-01T00:00:02Z", removed("b"))],
                              {"/1": "INSYNC", "/2": "INSYNC"})
    kept = consistent(announce, running_task_ids={"a", "b"})
    assert [(a.hostname.task_id, a.hostname.kind) for a in kept] == [("a", READY), ("b", REMOVED)]


def test_a_ready_written_after_a_removal_stands():
    # The task's name was removed, then published again (its task came back into view).
    announce, _ = sort_checks([check("/1", "2026-01-01T00:00:01Z", removed("a")),
                               check("/2", "2026-01-01T00:00:02Z", ready("a"))], {"/1": "INSYNC", "/2": "INSYNC"})
    assert [a.hostname.kind for a in consistent(announce, running_task_ids={"a"})] == [REMOVED, READY]


def test_event_ids_are_the_same_for_the_same_change_and_differ_otherwise():
    first, _ = sort_checks([check("/1", "t", ready("a"))], {"/1": "INSYNC"})
    again, _ = sort_checks([check("/1", "t", ready("a"), attempt=3)], {"/1": "INSYNC"})
    other, _ = sort_checks([check("/2", "t", ready("a"))], {"/2": "INSYNC"})
    assert first[0].event_id() == again[0].event_id() != other[0].event_id()


def test_send_requests_stay_within_sqs_count_and_size_limits():
    from chalicelib.task_records.readiness import BYTES_PER_SEND, MESSAGES_PER_SEND, _requests

    plans = {f"{i:032x}.{PREFIX}": plan(f"{i:032x}.{PREFIX}", Outcome.CREATED, "192.0.2.1") for i in range(2000)}
    checks = checks_for_batch("/change/C1", plans, {n: arn(n.split(".")[0]) for n in plans}, CLUSTER,
                              "2026-12-02T00:00:00.000Z")
    small = [check("/change/C2", "2026-12-02T00:00:00.000Z", ready("a")) for _ in range(25)]
    requests = list(_requests(checks + small))
    assert [c for request in requests for c in request] == checks + small
    assert all(len(r) <= MESSAGES_PER_SEND and sum(len(c.body().encode()) for c in r) <= BYTES_PER_SEND
               for r in requests)
