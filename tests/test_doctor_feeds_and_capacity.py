"""doctor's decisions on the task-event feed and the zone's capacity: pure functions, no AWS."""

import pytest

from chalicelib.shared.functions import PROCESS_TASK_EVENTS, UPDATE_TASK_DNS
from chalicelib.shared.records import RecordSet
from chalicelib.task_records.events import task_event_pattern
from operator_cli.doctor.checks import FAIL, OK, SKIP, WARN
from operator_cli.doctor.deployment_checks import (
    DeployedFunction,
    Rule,
    TaskEventsQueue,
    deployment_checks,
    queue_rule_check,
)
from operator_cli.doctor.zone_capacity import Unanswered, ZoneLimit, record_sets_per_task, zone_capacity_check

CLUSTER = "arn:aws:ecs:eu-west-2:111122223333:cluster/users"
OTHER = "arn:aws:ecs:eu-west-2:111122223333:cluster/others"
QUEUE = "arn:aws:sqs:eu-west-2:111122223333:task-subdomains-dev-task-events"
PREFIX = "eu-west-2.browser.example.com"


def per_event(*rules: Rule):
    deployed = DeployedFunction("task-subdomains-dev-update_task_dns", "arn:fn", rules)
    checks = deployment_checks("dev", {UPDATE_TASK_DNS: deployed.name}, {UPDATE_TASK_DNS: deployed}, CLUSTER, None)
    return checks[0]


def buffered(queue: TaskEventsQueue | None):
    deployed = DeployedFunction("task-subdomains-dev-process_task_events", "arn:fn")
    return deployment_checks("dev", {PROCESS_TASK_EVENTS: deployed.name}, {PROCESS_TASK_EVENTS: deployed},
                             CLUSTER, queue)


# --- per-event mode ---

def test_per_event_an_enabled_rule_with_the_pattern_is_ok():
    assert per_event(Rule("r", True, pattern=task_event_pattern(CLUSTER))).level == OK


def test_per_event_a_disabled_rule_fails_and_names_the_command():
    check = per_event(Rule("r", False, pattern=task_event_pattern(CLUSTER)))
    assert check.level == FAIL and "aws events enable-rule --name r" in check.message


def test_per_event_no_rule_fails_with_chalice_deploy():
    check = per_event()
    assert check.level == FAIL and "chalice deploy --stage dev" in check.message


def test_per_event_a_rule_of_another_cluster_fails():
    check = per_event(Rule("r", True, pattern=task_event_pattern(OTHER)))
    assert check.level == FAIL and CLUSTER in check.message


def test_per_event_another_pattern_for_the_cluster_warns():
    loose = {"source": ["aws.ecs"], "detail": {"clusterArn": [CLUSTER]}}
    check = per_event(Rule("r", True, pattern=loose))
    assert check.level == WARN and "chalice deploy --stage dev" in check.message


def test_the_order_of_values_in_a_pattern_does_not_matter():
    pattern = task_event_pattern(CLUSTER)
    reordered = {**pattern, "detail": {**pattern["detail"], "$or": list(reversed(pattern["detail"]["$or"]))}}
    assert Rule("r", True, pattern=reordered).has_pattern(pattern)


# --- buffered mode ---

def good_queue(**changes) -> TaskEventsQueue:
    fields = {"arn": QUEUE, "exists": True, "mapping_states": ("Enabled",), "mapping_ids": ("u-1",),
              "rules": (Rule("infra-TaskEventsRule-X", True, pattern=task_event_pattern(CLUSTER)),)}
    return TaskEventsQueue(**{**fields, **changes})


def test_buffered_all_wired_is_ok():
    assert [c.level for c in buffered(good_queue())] == [OK, OK]


def test_buffered_a_missing_queue_fails_naming_the_stack_parameters():
    checks = buffered(good_queue(exists=False))
    assert [c.level for c in checks] == [FAIL]
    assert "TaskEventsQueueName=task-subdomains-dev-task-events" in checks[0].message
    assert f"ClusterArn={CLUSTER}" in checks[0].message


def test_buffered_a_disabled_mapping_fails_with_its_uuid():
    mapping = buffered(good_queue(mapping_states=("Disabled",), mapping_ids=("u-1",)))[0]
    assert mapping.level == FAIL and "--uuid u-1 --enabled" in mapping.message


def test_buffered_no_mapping_fails_with_chalice_deploy():
    mapping = buffered(good_queue(mapping_states=(), mapping_ids=()))[0]
    assert mapping.level == FAIL and "chalice deploy --stage dev" in mapping.message


@pytest.mark.parametrize("rules, level, words", [
    ((), FAIL, "TaskEventsRule"),
    ((Rule("r", False, pattern=task_event_pattern(CLUSTER)),), FAIL, "aws events enable-rule --name r"),
    ((Rule("r", True, pattern=task_event_pattern(OTHER)),), FAIL, f"ClusterArn={CLUSTER}"),
    ((Rule("r", True, pattern={"source": ["aws.ecs"], "detail": {"clusterArn": [CLUSTER]}}),), WARN, "pattern"),
    ((Rule("r", True, pattern=task_event_pattern(CLUSTER)),), OK, "rule r"),
])
def test_buffered_the_rule_feeding_the_queue(rules, level, words):
    check = queue_rule_check(QUEUE, rules, CLUSTER)
    assert check.level == level and words in check.message, check.message


# --- zone capacity ---

def record(name: str, record_type: str) -> RecordSet:
    return RecordSet(name, record_type, ("x",))


def test_two_record_sets_a_task_without_ipv6_and_three_with():
    v4 = [record(f"t1.{PREFIX}", "TXT"), record(f"t1.{PREFIX}", "A")]
    assert record_sets_per_task(v4, PREFIX) == 2
    assert record_sets_per_task([*v4, record(f"t2.{PREFIX}", "AAAA")], PREFIX) == 3
    # An AAAA deeper below the prefix is not a task name.
    assert record_sets_per_task([*v4, record(f"x.t1.{PREFIX}", "AAAA")], PREFIX) == 2


def test_capacity_with_plenty_of_headroom_is_ok_and_counts_the_tasks():
    check = zone_capacity_check("Z1", "example.com", ZoneLimit(allowed=10_000, used=2), per_task=2)
    assert check.level == OK and "room for 4999 more tasks" in check.message
    assert "holds 2 of 10000 record sets" in check.message


def test_capacity_below_a_fifth_left_warns():
    check = zone_capacity_check("Z1", "example.com", ZoneLimit(allowed=10_000, used=8_001), per_task=3)
    assert check.level == WARN and "room for 666 more tasks" in check.message and "IPv6" in check.message


def test_capacity_at_exactly_a_fifth_left_is_ok():
    assert zone_capacity_check("Z1", "example.com", ZoneLimit(10_000, 8_000), 2).level == OK


def test_a_full_zone_warns_with_no_room():
    check = zone_capacity_check("Z1", "example.com", ZoneLimit(10_000, 10_000), 2)
    assert check.level == WARN and "room for 0 more tasks" in check.message


def test_capacity_the_api_cannot_answer_is_skipped_with_the_reason():
    check = zone_capacity_check("Z1", "example.com", Unanswered("404: Not Found"), 2)
    assert check.level == SKIP and "404: Not Found" in check.message
