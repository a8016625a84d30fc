"""What each event asks for, without AWS: the AWS-documented event and variations of it."""

import pytest

from chalicelib.task_records.events import (
    IgnoredEvent,
    TaskEvent,
    loggable,
    read_event,
    read_queued_event,
)
from chalicelib.task_records.settings import TaskDnsSettings
from chalicelib.task_records.tasks import Task
from embedded_stack.fargate import load_event

SETTINGS = TaskDnsSettings(
    domain_prefix="eu-west-2.browser.example.com",
    hosted_zone_id="Z0123456789ABC",
    cluster_arn="arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster",
)
TASK_ID = "c13b4cb40f1f4fe4a2971f76ae5a47ad"


def event(last_status="RUNNING", desired_status="RUNNING"):
    documented = load_event("ecs-task-state-change-running.json")
    documented["detail"].update(lastStatus=last_status, desiredStatus=desired_status)
    return documented


@pytest.mark.parametrize("last_status", ["PENDING", "ACTIVATING", "RUNNING"])
def test_documented_event_publishes_from_pending_on(last_status):
    assert read_event(event(last_status), SETTINGS) == TaskEvent(
        task_arn=f"arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/{TASK_ID}",
        task_id=TASK_ID,
        hostname=f"{TASK_ID}.eu-west-2.browser.example.com",
        stopping=False,
    )


@pytest.mark.parametrize("last_status, desired_status", [
    ("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
    ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED"), ("PROVISIONING", "STOPPED"),
])
def test_stopping_states_remove(last_status, desired_status):
    read = read_event(event(last_status, desired_status), SETTINGS)
    assert isinstance(read, TaskEvent) and read.stopping


def test_provisioning_task_is_not_looked_up():
    plan = read_event(event("PROVISIONING"), SETTINGS)
    assert isinstance(plan, IgnoredEvent) and not plan.malformed


def test_the_event_names_the_task_and_describe_tasks_gives_its_eni():
    # Whatever ENI the event names (it may have been replaced since), the ENI is DescribeTasks'.
    pending = event("PENDING")
    pending["detail"]["attachments"][0]["details"] = [{"name": "networkInterfaceId", "value": "eni-00000000"}]
    assert isinstance(read_event(pending, SETTINGS), TaskEvent)
    described = Task("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/" + TASK_ID, "RUNNING", "PENDING",
                     [{"type": "ElasticNetworkInterface",
                       "details": [{"name": "networkInterfaceId", "value": "eni-abcd1234"}]}])
    assert described.network_interface_id == "eni-abcd1234"


def test_eni_is_picked_by_type_not_position():
    attachments = event()["detail"]["attachments"]
    attachments.insert(0, {"id": "x", "type": "sdi", "status": "ATTACHED",
                           "details": [{"name": "networkInterfaceId", "value": "eni-ffffffff"}]})
    task = Task("arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/" + TASK_ID, "RUNNING", "RUNNING",
                attachments)
    assert task.network_interface_id == "eni-abcd1234"


def test_huge_values_are_cut_short_in_the_log_context():
    foreign = event()
    foreign["detail"]["clusterArn"] = "arn:" + "x" * 100_000
    plan = read_event(foreign, SETTINGS)
    assert isinstance(plan, IgnoredEvent) and len(plan.context["cluster_arn"]) <= 201


def test_a_lone_surrogate_becomes_loggable_text():
    assert loggable("\ud800x").encode("utf-8") == b"\\ud800x"


@pytest.mark.parametrize("body", [
    "[" * 5000 + "]" * 5000,         # past the JSON parser's recursion depth
    '{"a": "\\ud800"' ,              # not JSON
    "x" * (256 * 1024 + 1),          # larger than SQS allows
    b"{}",                           # not text
    None,
])
def test_any_queued_body_that_cannot_be_parsed_is_malformed_not_an_exception(body):
    read = read_queued_event(body, SETTINGS)
    assert isinstance(read, IgnoredEvent) and read.malformed
