"""What each event asks for, without AWS: the AWS-documented event and variations of it."""

import pytest

from chalicelib.task_records.events import IgnoreEvent, PublishRecords, RemoveRecords, plan_task_event
from chalicelib.task_records.settings import TaskDnsSettings
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
    assert plan_task_event(event(last_status), SETTINGS) == PublishRecords(
        task_arn=f"arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/{TASK_ID}",
        task_id=TASK_ID,
        hostname=f"{TASK_ID}.eu-west-2.browser.example.com",
        network_interface_id="eni-abcd1234",
    )


@pytest.mark.parametrize("last_status, desired_status", [
    ("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
    ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED"), ("PROVISIONING", "STOPPED"),
])
def test_stopping_states_remove(last_status, desired_status):
    assert isinstance(plan_task_event(event(last_status, desired_status), SETTINGS), RemoveRecords)


def test_provisioning_task_is_not_looked_up():
    plan = plan_task_event(event("PROVISIONING"), SETTINGS)
    assert isinstance(plan, IgnoreEvent) and not plan.malformed


def test_eni_without_interface_id_yet_waits():
    pending = event("PENDING")
    pending["detail"]["attachments"][0]["details"] = [{"name": "subnetId", "value": "subnet-abcd1234"}]
    plan = plan_task_event(pending, SETTINGS)
    assert isinstance(plan, IgnoreEvent) and not plan.malformed


def test_eni_is_picked_by_type_not_position():
    running = event()
    running["detail"]["attachments"].insert(0, {
        "id": "x", "type": "sdi", "status": "ATTACHED",
        "details": [{"name": "networkInterfaceId", "value": "eni-ffffffff"}],
    })
    assert plan_task_event(running, SETTINGS).network_interface_id == "eni-abcd1234"


def test_huge_values_are_cut_short_in_the_log_context():
    foreign = event()
    foreign["detail"]["clusterArn"] = "arn:" + "x" * 100_000
    plan = plan_task_event(foreign, SETTINGS)
    assert isinstance(plan, IgnoreEvent) and len(plan.context["cluster_arn"]) <= 201
