"""`chalice deploy --stage dev` against the emulator creates what the contract names, in both modes.

The real chalice CLI runs in a subprocess on a copy of the project, with the emulator's
AWS_ENDPOINT_URL and none of the app's variables: everything must come from .chalice/config.json.
Per-event mode deploys the committed configuration; buffered mode sets TASK_EVENTS_QUEUE_ARN at
stage level in the copy, regenerates its policies there (`python -m infra`), and deploys that;
hostname events likewise set HOSTNAME_EVENTS_QUEUE_ARN (in per-event mode).
Each deploys into a clean account of its own (class-scoped).
"""

import copy
import json

import boto3
import pytest

from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from chalicelib.task_records.events import task_event_pattern
from chalicelib.task_records.handlers import (
    BUFFERED_BATCH_SIZE,
    BUFFERED_BATCHING_WINDOW_SECONDS,
    BUFFERED_MAXIMUM_CONCURRENCY,
)
from embedded_stack.aws import ACCOUNT_ID, REGION
from infra.deployments import (
    CHALICE_DIR,
    FunctionDeployment,
    function_deployments,
    load_config,
)
from infra.merge_templates import load_base_template
from tests.chalice_project import (
    copy_project,
    explain,
    package_cache,
    run_chalice,
    run_infra,
    set_stage_variables,
)

STAGE = "dev"
CONFIG = load_config()
DEPLOYMENTS = {deployment.function: deployment for deployment in function_deployments(CONFIG, STAGE)}
SCHEDULES = {"reconcile_task_dns": "rate(10 minutes)", "renew_certificates": "rate(12 hours)"}

# Buffered mode: the dev stage with its cluster in the emulated account (the queue must be in the
# cluster's account, and the emulator has one account), and the queue the supporting stack makes.
QUEUE_NAME = f"task-subdomains-{STAGE}-task-events"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{QUEUE_NAME}"
BUFFERED_VARIABLES = {
    "CLUSTER_ARN": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/user-sessions-{STAGE}",
    "TASK_EVENTS_QUEUE_ARN": QUEUE_ARN,
}
BUFFERED_CONFIG = copy.deepcopy(CONFIG)
BUFFERED_CONFIG["stages"][STAGE]["environment_variables"].update(BUFFERED_VARIABLES)
BUFFERED = {deployment.function: deployment for deployment in function_deployments(BUFFERED_CONFIG, STAGE)}

# Hostname events: the queue of readiness checks the supporting stack makes, in per-event mode.
HOSTNAME_QUEUE_NAME = f"task-subdomains-{STAGE}-hostname-events"
HOSTNAME_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{HOSTNAME_QUEUE_NAME}"
HOSTNAME_VARIABLES = {
    "CLUSTER_ARN": BUFFERED_VARIABLES["CLUSTER_ARN"],
    "HOSTNAME_EVENTS_QUEUE_ARN": HOSTNAME_QUEUE_ARN,
}
HOSTNAMES_CONFIG = copy.deepcopy(CONFIG)
HOSTNAMES_CONFIG["stages"][STAGE]["environment_variables"].update(HOSTNAME_VARIABLES)
HOSTNAMES = {deployment.function: deployment for deployment in function_deployments(HOSTNAMES_CONFIG, STAGE)}


def deploy(project, emulated_aws) -> None:
    result = run_chalice(project, "deploy", "--stage", STAGE, aws=emulated_aws.environment())
    assert result.returncode == 0, explain(result)


@pytest.fixture(scope="module")
def lambda_(emulated_aws):
    return boto3.client("lambda")


@pytest.fixture(scope="module")
def iam(emulated_aws):
    return boto3.client("iam")


@pytest.fixture(scope="module")
def events(emulated_aws):
    return boto3.client("events")


def configuration_of(lambda_, deployment: FunctionDeployment) -> dict:
    return lambda_.get_function(FunctionName=deployment.lambda_name)["Configuration"]


def rule_of(events, function_arn: str) -> dict:
    names = events.list_rule_names_by_target(TargetArn=function_arn)["RuleNames"]
    assert len(names) == 1, f"{function_arn} is the target of {names}"
    return events.describe_rule(Name=names[0])


def assert_deployed_with_the_stage_settings(lambda_, deployment: FunctionDeployment, config: dict) -> None:
    stage = config["stages"][STAGE]
    configuration = configuration_of(lambda_, deployment)

    assert configuration["Handler"] == f"app.{deployment.function}"
    assert configuration["Runtime"] == "python3.11"
    assert configuration["Timeout"] == stage["lambda_functions"][deployment.function]["lambda_timeout"]
    assert configuration["MemorySize"] == stage["lambda_functions"][deployment.function]["lambda_memory_size"]
    assert configuration["Environment"]["Variables"] == stage["environment_variables"]
    # The dependencies (acme, powertools, ...) come in chalice's managed layer.
    layers = [layer["Arn"].split(":")[-2] for layer in configuration["Layers"]]
    assert layers == [f"task-subdomains-{STAGE}-managed-layer"]


def assert_runs_as_its_own_role_with(lambda_, iam, deployment: FunctionDeployment, policy: dict) -> None:
    role_arn = configuration_of(lambda_, deployment)["Role"]
    role_name = role_arn.rsplit("/", 1)[1]

    # As infra/supporting-resources.yaml names the renewal role in the bucket policy's
    # private-key deny: arn:<partition>:iam::<account>:role/<function name>, no path.
    assert role_arn == f"arn:aws:iam::{role_arn.split(':')[4]}:role/{deployment.lambda_name}"
    assert role_name == deployment.lambda_name
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    (policy_name,) = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"] == policy
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []


def assert_runs_on_its_schedule(lambda_, events, deployment: FunctionDeployment) -> None:
    function_arn = configuration_of(lambda_, deployment)["FunctionArn"]

    rule = rule_of(events, function_arn)

    assert rule["ScheduleExpression"] == SCHEDULES[deployment.function]
    assert rule["State"] == "ENABLED"
    assert_rule_may_invoke(lambda_, function_arn, rule["Arn"])


def assert_rule_may_invoke(lambda_, function_arn: str, rule_arn: str) -> None:
    statements = json.loads(lambda_.get_policy(FunctionName=function_arn)["Policy"])["Statement"]
    assert [(s["Principal"], s["Action"], s["Condition"]["ArnLike"]["AWS:SourceArn"]) for s in statements] == [
        ({"Service": "events.amazonaws.com"}, "lambda:InvokeFunction", rule_arn)]


def committed_policy(deployment: FunctionDeployment) -> dict:
    return json.loads((CHALICE_DIR / deployment.policy_file).read_text())


@pytest.fixture(scope="class")
def per_event_deployment(emulated_aws, tmp_path_factory, request):
    emulated_aws.reset()
    deploy(copy_project(tmp_path_factory.mktemp("deploy"), package_cache(request)), emulated_aws)
    yield
    # Later tests expect an empty account (they reset too; this keeps the order irrelevant).
    emulated_aws.reset()


@pytest.fixture(scope="class")
def buffered_project(emulated_aws, tmp_path_factory, request):
    """The copy, in buffered mode, deployed."""
    emulated_aws.reset()
    # The supporting stack creates the queue first (docs/deploying.md "Buffered mode"); Lambda refuses an
    # event source mapping on a queue that does not exist, or whose visibility timeout is
    # shorter than the function's timeout.
    queue = load_base_template()["Resources"]["TaskEvents"]["Properties"]
    boto3.client("sqs").create_queue(QueueName=QUEUE_NAME, Attributes={
        "VisibilityTimeout": str(queue["VisibilityTimeout"]),
        "MessageRetentionPeriod": str(queue["MessageRetentionPeriod"])})
    project = copy_project(tmp_path_factory.mktemp("deploy-buffered"), package_cache(request))
    assert set_stage_variables(project, STAGE, **BUFFERED_VARIABLES) == BUFFERED_CONFIG
    # `make policies` for the copy: the policy file of process_task_events, with its queue.
    result = run_infra(project)
    assert result.returncode == 0, explain(result)
    policy_file = BUFFERED[PROCESS_TASK_EVENTS].policy_file
    assert f"wrote .chalice/{policy_file}" in result.stdout.splitlines()
    assert not (CHALICE_DIR / policy_file).exists(), "python -m infra wrote into the repository"
    deploy(project, emulated_aws)
    yield project
    emulated_aws.reset()


@pytest.fixture(scope="class")
def hostnames_project(emulated_aws, tmp_path_factory, request):
    """The copy, with hostname events (per-event mode), deployed."""
    emulated_aws.reset()
    # The supporting stack creates the queue first (docs/deploying.md "Hostname events").
    queue = load_base_template()["Resources"]["HostnameEvents"]["Properties"]
    boto3.client("sqs").create_queue(QueueName=HOSTNAME_QUEUE_NAME, Attributes={
        "VisibilityTimeout": str(queue["VisibilityTimeout"]),
        "MessageRetentionPeriod": str(queue["MessageRetentionPeriod"])})
    project = copy_project(tmp_path_factory.mktemp("deploy-hostnames"), package_cache(request))
    assert set_stage_variables(project, STAGE, **HOSTNAME_VARIABLES) == HOSTNAMES_CONFIG
    # `make policies` for the copy: announce_hostnames' policy file, and the writers' with the queue.
    result = run_infra(project)
    assert result.returncode == 0, explain(result)
    written = set(result.stdout.splitlines())
    assert {f"wrote .chalice/{HOSTNAMES[function].policy_file}"
            for function in (UPDATE_TASK_DNS, RECONCILE_TASK_DNS, ANNOUNCE_HOSTNAMES)} <= written
    assert not (CHALICE_DIR / HOSTNAMES[ANNOUNCE_HOSTNAMES].policy_file).exists(), "python -m infra wrote here"
    deploy(project, emulated_aws)
    yield project
    emulated_aws.reset()


def generated_policy(project, deployment: FunctionDeployment) -> dict:
    return json.loads((project / ".chalice" / deployment.policy_file).read_text())


@pytest.mark.usefixtures("per_event_deployment")
class TestPerEventMode:
    """The committed configuration: update_task_dns on the stage's EventBridge rule."""

    @pytest.mark.parametrize("function", DEPLOYMENTS)
    def test_function_is_deployed_with_the_stage_settings(self, lambda_, function):
        assert_deployed_with_the_stage_settings(lambda_, DEPLOYMENTS[function], CONFIG)

    def test_task_event_bursts_are_bounded_by_reserved_concurrency(self, lambda_):
        # Route53 allows five requests a second per account: a burst of task starts must queue in
        # Lambda (whose async retries wait), not become a storm of throttled calls.
        concurrency = lambda_.get_function_concurrency(FunctionName=DEPLOYMENTS[UPDATE_TASK_DNS].lambda_name)
        assert concurrency["ReservedConcurrentExecutions"] == 5

    def test_renewals_never_overlap(self, lambda_):
        # A forced invoke during the scheduled run would otherwise interleave its TXT changes, its
        # S3 writes and its notices with the other run's; with one slot Lambda throttles it instead.
        concurrency = lambda_.get_function_concurrency(FunctionName=DEPLOYMENTS["renew_certificates"].lambda_name)
        assert concurrency["ReservedConcurrentExecutions"] == 1

    def test_renewal_function_has_time_for_dns_propagation(self, lambda_):
        assert configuration_of(lambda_, DEPLOYMENTS["renew_certificates"])["Timeout"] >= 300

    @pytest.mark.parametrize("function", DEPLOYMENTS)
    def test_each_function_runs_as_its_own_role_with_its_own_policy(self, lambda_, iam, function):
        deployment = DEPLOYMENTS[function]
        assert_runs_as_its_own_role_with(lambda_, iam, deployment, committed_policy(deployment))

    @pytest.mark.parametrize("function", SCHEDULES)
    def test_scheduled_functions_run_on_their_schedule(self, lambda_, events, function):
        assert_runs_on_its_schedule(lambda_, events, DEPLOYMENTS[function])

    def test_task_events_reach_update_task_dns_only_for_the_stage_cluster(self, lambda_, events):
        function_arn = configuration_of(lambda_, DEPLOYMENTS[UPDATE_TASK_DNS])["FunctionArn"]

        rule = rule_of(events, function_arn)

        # The stage's cluster, and only the statuses that can change a record.
        cluster_arn = CONFIG["stages"][STAGE]["environment_variables"]["CLUSTER_ARN"]
        assert json.loads(rule["EventPattern"]) == task_event_pattern(cluster_arn)
        assert_rule_may_invoke(lambda_, function_arn, rule["Arn"])

    def test_no_function_reads_a_queue(self, lambda_):
        assert lambda_.list_event_source_mappings()["EventSourceMappings"] == []
        with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
            lambda_.get_function(FunctionName=f"task-subdomains-{STAGE}-{PROCESS_TASK_EVENTS}")


@pytest.mark.usefixtures("buffered_project")
class TestBufferedMode:
    """The stage with TASK_EVENTS_QUEUE_ARN set: process_task_events on the queue, no per-event rule."""

    def test_process_task_events_replaces_update_task_dns(self, lambda_):
        assert list(BUFFERED) == [PROCESS_TASK_EVENTS, "reconcile_task_dns", "renew_certificates"]
        with pytest.raises(lambda_.exceptions.ResourceNotFoundException):
            lambda_.get_function(FunctionName=DEPLOYMENTS[UPDATE_TASK_DNS].lambda_name)

    @pytest.mark.parametrize("function", BUFFERED)
    def test_function_is_deployed_with_the_stage_settings(self, lambda_, function):
        assert_deployed_with_the_stage_settings(lambda_, BUFFERED[function], BUFFERED_CONFIG)

    @pytest.mark.parametrize("function", BUFFERED)
    def test_each_function_runs_as_its_own_role_with_its_own_policy(self, lambda_, iam, buffered_project, function):
        deployment = BUFFERED[function]
        assert_runs_as_its_own_role_with(lambda_, iam, deployment, generated_policy(buffered_project, deployment))

    def test_process_task_events_may_consume_its_queue_and_nothing_else(self, buffered_project):
        policy = generated_policy(buffered_project, BUFFERED[PROCESS_TASK_EVENTS])
        grants = [(action, s["Resource"]) for s in policy["Statement"]
                  for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
        assert sorted(grant for grant in grants if grant[0].startswith("sqs:")) == [
            ("sqs:DeleteMessage", QUEUE_ARN), ("sqs:GetQueueAttributes", QUEUE_ARN), ("sqs:ReceiveMessage", QUEUE_ARN)]

    def test_the_queue_feeds_process_task_events_in_batches(self, lambda_):
        function_arn = configuration_of(lambda_, BUFFERED[PROCESS_TASK_EVENTS])["FunctionArn"]

        (mapping,) = lambda_.list_event_source_mappings()["EventSourceMappings"]

        assert (mapping["EventSourceArn"], mapping["FunctionArn"]) == (QUEUE_ARN, function_arn)
        # docs/deploying.md "Buffered mode": up to 10,000 messages (6 MB, about 2,000 events) gathered for
        # up to 2 s, at most 2 invocations at a time (the lowest maximum concurrency SQS allows).
        assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (10_000, 2)
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
        assert (BUFFERED_BATCH_SIZE, BUFFERED_BATCHING_WINDOW_SECONDS, BUFFERED_MAXIMUM_CONCURRENCY) == (10_000, 2, 2)

    def test_no_rule_sends_task_events_to_a_function(self, events):
        # The supporting stack's rule sends them to the queue; chalice creates the schedules only.
        rules = events.list_rules()["Rules"]
        assert [rule for rule in rules if "EventPattern" in rule] == []
        assert sorted(rule["ScheduleExpression"] for rule in rules) == sorted(SCHEDULES.values())

    @pytest.mark.parametrize("function", SCHEDULES)
    def test_scheduled_functions_run_on_their_schedule(self, lambda_, events, function):
        assert_runs_on_its_schedule(lambda_, events, BUFFERED[function])


@pytest.mark.usefixtures("hostnames_project")
class TestHostnameEvents:
    """The stage with HOSTNAME_EVENTS_QUEUE_ARN set: announce_hostnames on the queue, beside the others."""

    def test_announce_hostnames_is_deployed_beside_the_functions_of_the_mode(self, lambda_):
        assert list(HOSTNAMES) == [UPDATE_TASK_DNS, RECONCILE_TASK_DNS, ANNOUNCE_HOSTNAMES, RENEW_CERTIFICATES]
        for deployment in HOSTNAMES.values():
            assert configuration_of(lambda_, deployment)["FunctionName"] == deployment.lambda_name

    @pytest.mark.parametrize("function", HOSTNAMES)
    def test_function_is_deployed_with_the_stage_settings(self, lambda_, function):
        assert_deployed_with_the_stage_settings(lambda_, HOSTNAMES[function], HOSTNAMES_CONFIG)

    def test_announce_hostnames_has_its_memory_and_timeout(self, lambda_):
        configuration = configuration_of(lambda_, HOSTNAMES[ANNOUNCE_HOSTNAMES])
        assert (configuration["MemorySize"], configuration["Timeout"]) == (256, 60)

    @pytest.mark.parametrize("function", HOSTNAMES)
    def test_each_function_runs_as_its_own_role_with_its_own_policy(self, lambda_, iam, hostnames_project, function):
        deployment = HOSTNAMES[function]
        assert_runs_as_its_own_role_with(lambda_, iam, deployment, generated_policy(hostnames_project, deployment))

    def test_the_queue_feeds_announce_hostnames_ten_checks_at_a_time(self, lambda_):
        function_arn = configuration_of(lambda_, HOSTNAMES[ANNOUNCE_HOSTNAMES])["FunctionArn"]

        (mapping,) = lambda_.list_event_source_mappings()["EventSourceMappings"]

        assert (mapping["EventSourceArn"], mapping["FunctionArn"]) == (HOSTNAME_QUEUE_ARN, function_arn)
        assert mapping["BatchSize"] == 10

    @pytest.mark.parametrize("function", [f for f in HOSTNAMES if f in TASK_RECORD_WRITERS])
    def test_the_writers_may_send_checks_to_the_queue(self, hostnames_project, function):
        policy = generated_policy(hostnames_project, HOSTNAMES[function])
        assert {"Sid": "SendHostnameChecks", "Effect": "Allow", "Action": "sqs:SendMessage",
                "Resource": HOSTNAME_QUEUE_ARN} in policy["Statement"]

    def test_task_events_still_reach_update_task_dns_by_the_stage_rule(self, lambda_, events):
        function_arn = configuration_of(lambda_, HOSTNAMES[UPDATE_TASK_DNS])["FunctionArn"]
        rule = rule_of(events, function_arn)
        assert json.loads(rule["EventPattern"]) == task_event_pattern(HOSTNAME_VARIABLES["CLUSTER_ARN"])

    @pytest.mark.parametrize("function", SCHEDULES)
    def test_scheduled_functions_run_on_their_schedule(self, lambda_, events, function):
        assert_runs_on_its_schedule(lambda_, events, HOSTNAMES[function])
