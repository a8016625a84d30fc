"""`task-subdomains doctor` against the emulated account: the task-event feed in both modes, and
the task zone's capacity."""

import boto3
import pytest

from chalicelib.certificates.settings import LETSENCRYPT_STAGING
from chalicelib.task_records.events import task_event_pattern
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.doctor import doctor as doctor_module
from operator_cli.doctor.zone_capacity import ZoneLimit
from tests.cli_support import checks_of, run, set_up_deployment
from tests.conftest import CLUSTER_ARN
from tests.test_cli_doctor import deploy_function, lambda_name, route


@pytest.fixture
def stage_dev(cluster, monkeypatch):
    deployment = set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", "")
    route("reconcile", deploy_function("reconcile_task_dns"), schedule="rate(10 minutes)")
    route("renew", deploy_function("renew_certificates"), schedule="rate(12 hours)")
    return deployment


def doctor():
    result = run("--stage", "dev", "doctor", "--json")
    return result, checks_of(result)


def test_per_event_a_missing_then_disabled_rule_fails_and_an_enabled_one_passes(stage_dev):
    function = deploy_function("update_task_dns")
    subject = ("task-events", lambda_name("update_task_dns"))

    result, checks = doctor()
    assert result.exit_code == 1 and checks[subject]["level"] == "fail"
    assert "no rule sends it task events" in checks[subject]["message"]
    assert "chalice deploy --stage dev" in checks[subject]["message"]

    route("events", function, pattern=task_event_pattern(CLUSTER_ARN))
    boto3.client("events").disable_rule(Name="events")
    result, checks = doctor()
    assert result.exit_code == 1 and checks[subject]["level"] == "fail"
    assert "aws events enable-rule --name events" in checks[subject]["message"]

    boto3.client("events").enable_rule(Name="events")
    result, checks = doctor()
    assert checks[subject]["level"] == "ok", checks[subject]


@pytest.fixture
def queue_arn(stage_dev, monkeypatch):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="task-subdomains-dev-task-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", arn)
    deploy_function("process_task_events")
    return arn


def test_buffered_a_missing_disabled_or_foreign_rule_to_the_queue_fails(queue_arn):
    boto3.client("lambda").create_event_source_mapping(EventSourceArn=queue_arn,
                                                       FunctionName=lambda_name("process_task_events"))
    subject = ("task-events-queue", queue_arn)

    result, checks = doctor()
    assert result.exit_code == 1 and checks[subject]["level"] == "fail"
    message = checks[subject]["message"]
    assert "supporting stack" in message and "TaskEventsQueueName=task-subdomains-dev-task-events" in message
    assert f"ClusterArn={CLUSTER_ARN}" in message

    other = CLUSTER_ARN.replace("cluster/", "cluster/someone-else-")
    route("infra-TaskEventsRule-ABC", queue_arn, pattern=task_event_pattern(other))
    result, checks = doctor()
    assert checks[subject]["level"] == "fail" and f"ClusterArn={CLUSTER_ARN}" in checks[subject]["message"]

    route("infra-TaskEventsRule-ABC", queue_arn, pattern=task_event_pattern(CLUSTER_ARN))
    boto3.client("events").disable_rule(Name="infra-TaskEventsRule-ABC")
    result, checks = doctor()
    assert checks[subject]["level"] == "fail"
    assert "aws events enable-rule --name infra-TaskEventsRule-ABC" in checks[subject]["message"]

    boto3.client("events").enable_rule(Name="infra-TaskEventsRule-ABC")
    result, checks = doctor()
    assert checks[subject]["level"] == "ok" and result.exit_code == 0, result.output
    assert checks[("task-events", lambda_name("process_task_events"))]["level"] == "ok"


def test_buffered_a_disabled_mapping_fails_naming_its_uuid(queue_arn):
    route("infra-TaskEventsRule-ABC", queue_arn, pattern=task_event_pattern(CLUSTER_ARN))
    awslambda = boto3.client("lambda")
    uuid = awslambda.create_event_source_mapping(EventSourceArn=queue_arn,
                                                 FunctionName=lambda_name("process_task_events"))["UUID"]
    awslambda.update_event_source_mapping(UUID=uuid, Enabled=False)
    states = [m["State"] for m in awslambda.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]]
    if "Enabled" in states:
        pytest.skip(f"the emulator does not disable a mapping (states {states})")

    result, checks = doctor()

    check = checks[("task-events", lambda_name("process_task_events"))]
    assert result.exit_code == 1 and check["level"] == "fail"
    assert f"--uuid {uuid} --enabled" in check["message"]


def test_buffered_a_missing_queue_fails_naming_the_supporting_stack(stage_dev, monkeypatch):
    missing = "arn:aws:sqs:eu-west-2:123456789012:task-subdomains-dev-task-events"
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", missing)
    deploy_function("process_task_events")

    result, checks = doctor()

    check = checks[("task-events", lambda_name("process_task_events"))]
    assert result.exit_code == 1 and check["level"] == "fail"
    assert "supporting stack" in check["message"] and "TaskEventsQueueArn" in check["message"]


# --- zone capacity (no --stage: the functions' checks are not what these are about) ---

@pytest.fixture
def deployment(cluster, monkeypatch):
    return set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)


def stageless():
    result = run("doctor", "--json")
    return result, checks_of(result)


def test_zone_capacity_is_skipped_where_route53_cannot_answer(deployment):
    result, checks = stageless()

    check = checks[("zone-capacity", deployment.zone_id)]
    assert check["level"] == "skip" and "GetHostedZoneLimit" in check["message"]
    assert result.exit_code == 0, result.output


def answering(monkeypatch, allowed: int, used: int) -> None:
    monkeypatch.setattr(doctor_module, "read_zone_limit", lambda client, zone_id: ZoneLimit(allowed, used))


def test_zone_capacity_counts_three_record_sets_a_task_once_a_task_name_has_an_aaaa(deployment, monkeypatch):
    answering(monkeypatch, 10_000, 100)
    deployment.put(f"t1.{DOMAIN_PREFIX}", "A", ["203.0.113.7"])
    before = stageless()[1][("zone-capacity", deployment.zone_id)]
    assert before["level"] == "ok" and "room for 4950 more tasks" in before["message"], before

    deployment.put(f"t2.{DOMAIN_PREFIX}", "AAAA", ["2001:db8::7"])
    after = stageless()[1][("zone-capacity", deployment.zone_id)]
    assert "room for 3300 more tasks" in after["message"] and "IPv6" in after["message"], after


def test_zone_capacity_warns_below_a_fifth_left(deployment, monkeypatch):
    answering(monkeypatch, 10_000, 9_000)

    result, checks = stageless()

    check = checks[("zone-capacity", deployment.zone_id)]
    assert check["level"] == "warn" and "room for 500 more tasks" in check["message"]
    assert result.exit_code == 0, result.output  # a warning is advice


def test_zone_capacity_access_denied_is_an_error_line_as_for_any_aws_error(deployment, monkeypatch):
    from botocore.exceptions import ClientError

    def denied(client, zone_id):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetHostedZoneLimit")

    monkeypatch.setattr(doctor_module, "read_zone_limit", denied)
    result, checks = stageless()

    check = checks[("zone-capacity", deployment.zone_id)]
    assert check["level"] == "error" and "access denied" in check["message"]
    assert result.exit_code == 2
