"""`chalice deploy --stage dev` against the emulator creates what the contract names.

The real chalice CLI runs in a subprocess on a copy of the project, with the emulator's
AWS_ENDPOINT_URL and none of the app's variables: everything must come from .chalice/config.json.
"""

import json

import boto3
import pytest

from infra.deployments import CHALICE_DIR, FUNCTIONS, function_deployments, load_config
from tests.chalice_project import copy_project, explain, package_cache, run_chalice

STAGE = "dev"
DEPLOYMENTS = {deployment.function: deployment for deployment in function_deployments(load_config(), STAGE)}
SCHEDULES = {"reconcile_task_dns": "rate(10 minutes)", "renew_certificates": "rate(12 hours)"}


@pytest.fixture(scope="module")
def deployed(emulated_aws, tmp_path_factory, request):
    emulated_aws.reset()
    project = copy_project(tmp_path_factory.mktemp("deploy"), package_cache(request))
    result = run_chalice(project, "deploy", "--stage", STAGE, aws=emulated_aws.environment())
    assert result.returncode == 0, explain(result)
    yield
    # Later tests expect an empty account (they reset too; this keeps the order irrelevant).
    emulated_aws.reset()


@pytest.fixture(scope="module")
def lambda_(deployed):
    return boto3.client("lambda")


@pytest.fixture(scope="module")
def iam(deployed):
    return boto3.client("iam")


@pytest.fixture(scope="module")
def events(deployed):
    return boto3.client("events")


def rule_of(events, function_arn: str) -> dict:
    names = events.list_rule_names_by_target(TargetArn=function_arn)["RuleNames"]
    assert len(names) == 1, f"{function_arn} is the target of {names}"
    return events.describe_rule(Name=names[0])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_is_deployed_with_the_stage_settings(lambda_, function):
    deployment = DEPLOYMENTS[function]
    stage = load_config()["stages"][STAGE]

    configuration = lambda_.get_function(FunctionName=deployment.lambda_name)["Configuration"]

    assert configuration["Handler"] == f"app.{function}"
    assert configuration["Runtime"] == "python3.11"
    assert configuration["Timeout"] == stage["lambda_functions"][function]["lambda_timeout"]
    assert configuration["MemorySize"] == stage["lambda_functions"][function]["lambda_memory_size"]
    assert configuration["Environment"]["Variables"] == stage["environment_variables"]
    # The dependencies (acme, powertools, ...) come in chalice's managed layer.
    layers = [layer["Arn"].split(":")[-2] for layer in configuration["Layers"]]
    assert layers == [f"task-subdomains-{STAGE}-managed-layer"]


def test_task_event_bursts_are_bounded_by_reserved_concurrency(lambda_):
    # Route53 allows five requests a second per account: a burst of task starts must queue in
    # Lambda (whose async retries wait), not become a storm of throttled calls.
    concurrency = lambda_.get_function_concurrency(FunctionName=DEPLOYMENTS["update_task_dns"].lambda_name)
    assert concurrency["ReservedConcurrentExecutions"] == 5


def test_renewals_never_overlap(lambda_):
    # A forced invoke during the scheduled run would otherwise interleave its TXT changes, its
    # S3 writes and its notices with the other run's; with one slot Lambda throttles it instead.
    concurrency = lambda_.get_function_concurrency(FunctionName=DEPLOYMENTS["renew_certificates"].lambda_name)
    assert concurrency["ReservedConcurrentExecutions"] == 1


def test_renewal_function_has_time_for_dns_propagation(lambda_):
    configuration = lambda_.get_function(FunctionName=DEPLOYMENTS["renew_certificates"].lambda_name)["Configuration"]
    assert configuration["Timeout"] >= 300


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_runs_as_its_own_role_with_its_own_policy(lambda_, iam, function):
    deployment = DEPLOYMENTS[function]
    role_arn = lambda_.get_function(FunctionName=deployment.lambda_name)["Configuration"]["Role"]
    role_name = role_arn.rsplit("/", 1)[1]

    # As infra/supporting-resources.yaml names the renewal role in the bucket policy's
    # private-key deny: arn:<partition>:iam::<account>:role/<function name>, no path.
    assert role_arn == f"arn:aws:iam::{role_arn.split(':')[4]}:role/{deployment.lambda_name}"
    assert role_name == deployment.lambda_name
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    granted = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
    assert granted == json.loads((CHALICE_DIR / deployment.policy_file).read_text())
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []


@pytest.mark.parametrize("function", SCHEDULES)
def test_scheduled_functions_run_on_their_schedule(lambda_, events, function):
    function_arn = lambda_.get_function(FunctionName=DEPLOYMENTS[function].lambda_name)["Configuration"]["FunctionArn"]

    rule = rule_of(events, function_arn)

    assert rule["ScheduleExpression"] == SCHEDULES[function]
    assert rule["State"] == "ENABLED"
    assert_rule_may_invoke(lambda_, function_arn, rule["Arn"])


def test_task_events_reach_update_task_dns_only_for_the_stage_cluster(lambda_, events):
    function_arn = lambda_.get_function(
        FunctionName=DEPLOYMENTS["update_task_dns"].lambda_name)["Configuration"]["FunctionArn"]

    rule = rule_of(events, function_arn)

    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [load_config()["stages"][STAGE]["environment_variables"]["CLUSTER_ARN"]]},
    }
    assert_rule_may_invoke(lambda_, function_arn, rule["Arn"])


def assert_rule_may_invoke(lambda_, function_arn: str, rule_arn: str) -> None:
    statements = json.loads(lambda_.get_policy(FunctionName=function_arn)["Policy"])["Statement"]
    assert [(s["Principal"], s["Action"], s["Condition"]["ArnLike"]["AWS:SourceArn"]) for s in statements] == [
        ({"Service": "events.amazonaws.com"}, "lambda:InvokeFunction", rule_arn)]
