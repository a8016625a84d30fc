"""`make deploy STAGE=x` and `make destroy STAGE=x`, run as a user runs them, against the emulator.

Each mode gets a clean account with the stage's zone and cluster, and a stage `x` added to a copy
of the project (in the emulator's account and region). Then, as two engineers would: `make deploy`
in the first copy; `make deploy` again in a second copy that has the first's committed files but
none of its local state (.chalice/deployed/); `make destroy`. After each step the test looks at
what the account holds. What moto cannot create (alarms, the bucket policy, the SNS subscription,
Lambda's failed-event destination) is checked in the template instead (test_infra.py, cfn-lint;
docs/testing.md).
"""

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    UPDATE_TASK_DNS,
)
from embedded_stack.aws import ACCOUNT_ID, REGION
from tests.chalice_project import (
    add_stage,
    copy_project,
    explain,
    package_cache,
    run_make,
    run_operator_command,
)
from tests.readme_commands import cli_arguments, cli_lines

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

STAGE = "x"
PREFIX = f"task-subdomains-{STAGE}-"
DOMAIN = "x.example.com"
CERTIFICATE_BUCKET = "task-subdomains-certs-x"
STATE_BUCKET = f"task-subdomains-deploy-{ACCOUNT_ID}-{REGION}"
STACK = f"task-subdomains-{STAGE}-infra"
TASK_EVENTS_QUEUE = f"{PREFIX}task-events"
HOSTNAME_EVENTS_QUEUE = f"{PREFIX}hostname-events"
ACCOUNT_KEY_PARAMETER = "/task-subdomains-x/LETSENCRYPT_ACCOUNT_KEY"


@dataclass(frozen=True)
class Account:
    """What the emulated account holds that a deployment of stage x creates."""

    functions: dict[str, str]  # name -> ARN
    roles: list[str]
    rules: list[str]
    mappings: list[tuple[str, str]]  # (queue ARN, function ARN)
    stacks: dict[str, str]  # name -> status
    stack_parameters: dict[str, str]
    queues: list[str]
    buckets: list[str]
    certificate_objects: list[str]
    parameters: list[str]
    stored_state: bool
    lock: bool
    log_groups: list[str]


def look_at_the_account() -> Account:
    lambda_, iam, events, cloudformation = (boto3.client(n) for n in ("lambda", "iam", "events", "cloudformation"))
    s3, sqs, ssm = boto3.client("s3"), boto3.client("sqs"), boto3.client("ssm")
    stacks = {s["StackName"]: s["StackStatus"] for s in cloudformation.describe_stacks()["Stacks"]
              if s["StackStatus"] != "DELETE_COMPLETE"}
    parameters = {}
    if STACK in stacks:
        (stack,) = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    buckets = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
    objects = ([o["Key"] for o in s3.list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])]
               if STATE_BUCKET in buckets else [])
    return Account(
        functions={f["FunctionName"]: f["FunctionArn"] for f in lambda_.list_functions()["Functions"]},
        roles=sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)),
        rules=sorted(r["Name"] for r in events.list_rules()["Rules"]),
        mappings=sorted((m["EventSourceArn"], m["FunctionArn"])
                        for m in lambda_.list_event_source_mappings()["EventSourceMappings"]),
        stacks=stacks,
        stack_parameters=parameters,
        queues=sorted(url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", [])),
        buckets=buckets,
        certificate_objects=([o["Key"] for o in s3.list_objects_v2(Bucket=CERTIFICATE_BUCKET).get("Contents", [])]
                             if CERTIFICATE_BUCKET in buckets else []),
        parameters=sorted(p["Name"] for p in ssm.describe_parameters()["Parameters"]),
        stored_state=f"{STAGE}/deployed.json" in objects,
        lock=f"{STAGE}/deploy.lock" in objects,
        log_groups=sorted(g["logGroupName"] for g in boto3.client("logs").describe_log_groups()["logGroups"]),
    )


@dataclass(frozen=True)
class Journey:
    first: object  # subprocess.CompletedProcess of each make
    after_first: Account
    second: object
    after_second: Account
    destroy: object
    after_destroy: Account
    again: object = None  # make deploy once more, after the destroy
    after_again: Account | None = None
    readme_commands: dict[str, object] = dataclasses.field(default_factory=dict)  # line -> its run
    switches: dict[str, tuple[object, Account]] = dataclasses.field(default_factory=dict)  # mode -> (make, after)


def deploy_twice_and_destroy(emulated_aws, tmp_path_factory, request, again: bool = False,
                             switch_modes: bool = False, **mode_variables: str) -> Journey:
    emulated_aws.reset()
    zone_id = boto3.client("route53").create_hosted_zone(
        Name=DOMAIN, CallerReference="make-deploy")["HostedZone"]["Id"].rsplit("/", 1)[1]
    cluster_arn = boto3.client("ecs").create_cluster(clusterName="user-sessions-x")["cluster"]["clusterArn"]
    first = copy_project(tmp_path_factory.mktemp("first-clone"), package_cache(request))
    add_stage(first, STAGE, like="dev", DOMAIN_PREFIX=DOMAIN, HOSTED_ZONE_ID=zone_id, CLUSTER_ARN=cluster_arn,
              WORKSPACE="task-subdomains-x", CERTIFICATES=json.dumps([{
                  "domains": [f"*.{DOMAIN}"], "zoneId": zone_id, "certStorageBucketName": CERTIFICATE_BUCKET,
                  "certStoragePrefix": f"{DOMAIN}/",
                  "failureSnsTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:task-subdomains-x-certificates"}]),
              **mode_variables)
    # No region anywhere: make deploy takes it from the stage's CLUSTER_ARN.
    aws = {k: v for k, v in emulated_aws.environment().items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}

    deployed = run_make(first, "deploy", f"STAGE={STAGE}", aws=aws)
    after_first = look_at_the_account()
    # The README's Deploy and Verify commands, as a user runs them next (its stage `prod` is ours).
    readme = {line: run_operator_command(first, cli_arguments(line, stage=STAGE), aws) for line in cli_lines()}

    # The second engineer's clone: the committed files (the stage's configuration and the policy
    # files make deploy wrote), none of the first machine's local state.
    second = tmp_path_factory.mktemp("second-clone")
    shutil.copytree(first, second, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns("deployed", "__pycache__"))
    assert not (second / ".chalice" / "deployed").exists()
    redeployed = run_make(second, "deploy", f"STAGE={STAGE}", aws=aws)
    after_second = look_at_the_account()

    switches = {}
    if switch_modes:
        # To buffered mode and back, each a variable and a make deploy (docs/deploying.md).
        config_path = second / ".chalice" / "config.json"
        per_event_config = config_path.read_text()
        add_stage(second, STAGE, like=STAGE,
                  TASK_EVENTS_QUEUE_ARN=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{TASK_EVENTS_QUEUE}")
        switches["buffered"] = (run_make(second, "deploy", f"STAGE={STAGE}", aws=aws), look_at_the_account())
        config_path.write_text(per_event_config)
        switches["per-event"] = (run_make(second, "deploy", f"STAGE={STAGE}", aws=aws), look_at_the_account())

    # What must survive the stage: the live certificate and the ACME account.
    boto3.client("s3").put_object(Bucket=CERTIFICATE_BUCKET, Key=f"{DOMAIN}/bundle.pem", Body=b"live")
    boto3.client("ssm").put_parameter(Name=ACCOUNT_KEY_PARAMETER, Value="{}", Type="SecureString")
    destroyed = run_make(second, "destroy", f"STAGE={STAGE}", aws=aws)
    after_destroy = look_at_the_account()
    journey = Journey(deployed, after_first, redeployed, after_second, destroyed, after_destroy,
                      readme_commands=readme, switches=switches)
    if again:
        journey = dataclasses.replace(journey, again=run_make(second, "deploy", f"STAGE={STAGE}", aws=aws))
        journey = dataclasses.replace(journey, after_again=look_at_the_account())
    emulated_aws.reset()
    return journey


@pytest.fixture(scope="class")
def per_event(emulated_aws, tmp_path_factory, request) -> Journey:
    return deploy_twice_and_destroy(emulated_aws, tmp_path_factory, request, again=True, switch_modes=True)


@pytest.fixture(scope="class")
def buffered(emulated_aws, tmp_path_factory, request) -> Journey:
    # Buffered mode, and hostname events too: both queues are the supporting stack's, named as
    # the stage's variables name them, created before the functions that read them.
    return deploy_twice_and_destroy(
        emulated_aws, tmp_path_factory, request,
        TASK_EVENTS_QUEUE_ARN=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{TASK_EVENTS_QUEUE}",
        HOSTNAME_EVENTS_QUEUE_ARN=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{HOSTNAME_EVENTS_QUEUE}")


def lambda_names(*functions: str) -> list[str]:
    return sorted(f"{PREFIX}{function}" for function in functions)


def steps_in(output: str) -> list[str]:
    return [line.removeprefix("==> ") for line in output.splitlines() if line.startswith("==> ")]


class TestPerEventMode:
    FUNCTIONS = (UPDATE_TASK_DNS, RECONCILE_TASK_DNS, RENEW_CERTIFICATES)

    def test_first_deploy_does_every_step_in_order(self, per_event):
        assert per_event.first.returncode == 0, explain(per_event.first)
        assert steps_in(per_event.first.stdout) == [
            "credentials", "IAM policies (make policies), checked", f"deploy state in s3://{STATE_BUCKET}/x/",
            f"supporting stack {STACK}", "functions (chalice deploy --stage x)",
            f"supporting stack {STACK}, now that the functions exist", "task-subdomains --stage x doctor"]

    def test_first_deploy_creates_the_functions_their_roles_and_the_supporting_stack(self, per_event):
        account = per_event.after_first
        assert sorted(account.functions) == lambda_names(*self.FUNCTIONS)
        assert account.roles == lambda_names(*self.FUNCTIONS)
        assert account.stacks == {STACK: "UPDATE_COMPLETE"}
        # The failed-event destination needs update_task_dns to exist: added by the second pass.
        assert account.stack_parameters["FunctionsDeployed"] == "true"
        assert CERTIFICATE_BUCKET in account.buckets
        assert f"{PREFIX}update_task_dns-failed" in account.queues
        assert account.stored_state and not account.lock

    def test_first_deploy_says_where_things_are(self, per_event):
        output = per_event.first.stdout
        for function in self.FUNCTIONS:
            assert f"function  {PREFIX}{function}   log: /aws/lambda/{PREFIX}{function}" in output
        assert f"CertificateBucketName  {CERTIFICATE_BUCKET}" in output
        assert f"NotificationTopicArn  arn:aws:sns:{REGION}:{ACCOUNT_ID}:task-subdomains-x-certificates" in output
        assert f"deploy state: s3://{STATE_BUCKET}/x/deployed.json" in output
        # The doctor's report is there (its checks run against the deployed stage).
        assert "ok    task-events          task-subdomains-x-update_task_dns: deployed" in output

    def test_the_readmes_commands_answer_for_the_deployed_stage(self, per_event):
        runs = {" ".join(cli_arguments(line)[2:]): result for line, result in per_event.readme_commands.items()}
        assert set(runs) == {"doctor", "status", "renew --force --async"}
        # None may say it cannot tell (exit 2): the stage is deployed and found.
        assert {command: result.returncode for command, result in runs.items()} == {
            # moto's stack applies none of the bucket's settings: doctor fails its public access.
            "doctor": 1,
            # No certificate until the first renewal.
            "status": 1,
            "renew --force --async": 0}
        assert "ok    task-events          task-subdomains-x-update_task_dns: deployed" in runs["doctor"].stdout
        assert "*.x.example.com: MISSING" in runs["status"].stdout
        assert "running, without a record: 0" in runs["status"].stdout
        assert runs["renew --force --async"].stdout.startswith(
            "queued task-subdomains-x-renew_certificates with {\"force\": true} (status 202)")

    def test_deploy_from_a_clone_without_local_state_updates_the_same_resources(self, per_event):
        assert per_event.second.returncode == 0, explain(per_event.second)
        assert f"state from s3://{STATE_BUCKET}/x/deployed.json" in per_event.second.stdout
        first, second = per_event.after_first, per_event.after_second
        assert second.functions == first.functions
        assert (second.roles, second.rules, second.mappings, list(second.stacks), second.queues) == (
            first.roles, first.rules, first.mappings, list(first.stacks), first.queues)
        assert second.stack_parameters == first.stack_parameters
        assert "Creating lambda function" not in per_event.second.stdout

    def test_switching_to_buffered_mode_is_a_variable_and_a_deploy(self, per_event):
        result, account = per_event.switches["buffered"]
        assert result.returncode == 0, explain(result)
        assert sorted(account.functions) == lambda_names(PROCESS_TASK_EVENTS, RECONCILE_TASK_DNS, RENEW_CERTIFICATES)
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{TASK_EVENTS_QUEUE}"
        assert account.mappings == [(queue_arn, account.functions[f"{PREFIX}{PROCESS_TASK_EVENTS}"])]
        assert TASK_EVENTS_QUEUE in account.queues
        # (moto's stack update keeps resources whose condition became false, such as the failed-events
        # queue; CloudFormation deletes them. The parameter that decides it:)
        assert account.stack_parameters["TaskEventsQueueName"] == TASK_EVENTS_QUEUE
        # update_task_dns ran until chalice removed it: its log group stayed the stack's all along.
        assert {f"/aws/lambda/{PREFIX}{UPDATE_TASK_DNS}", f"/aws/lambda/{PREFIX}{PROCESS_TASK_EVENTS}"} <= set(
            account.log_groups)

    def test_switching_back_to_per_event_mode_restores_update_task_dns_and_its_destination(self, per_event):
        result, account = per_event.switches["per-event"]
        assert result.returncode == 0, explain(result)
        assert sorted(account.functions) == lambda_names(*self.FUNCTIONS)
        assert account.mappings == []
        assert account.stack_parameters["TaskEventsQueueName"] == ""
        assert account.stack_parameters["FunctionsDeployed"] == "true"
        assert f"supporting stack {STACK}, now that the functions exist" in steps_in(result.stdout)

    def test_destroy_removes_the_stage_and_keeps_the_certificate_and_the_account_key(self, per_event):
        assert per_event.destroy.returncode == 0, explain(per_event.destroy)
        account = per_event.after_destroy
        assert (account.functions, account.roles, account.rules, account.mappings, account.stacks) == ({}, [], [], [],
                                                                                                       {})
        assert account.queues == []
        assert account.certificate_objects == [f"{DOMAIN}/bundle.pem"]
        assert account.parameters == [ACCOUNT_KEY_PARAMETER]
        assert not account.stored_state and not account.lock
        assert f"certificate bucket s3://{CERTIFICATE_BUCKET}" in per_event.destroy.stdout
        assert ACCOUNT_KEY_PARAMETER in per_event.destroy.stdout

    def test_a_deploy_after_destroy_adopts_the_kept_bucket_with_its_certificate(self, per_event):
        # A new stack cannot create a bucket that exists: it takes the one the old stack kept.
        assert per_event.again.returncode == 0, explain(per_event.again)
        assert f"certificate bucket s3://{CERTIFICATE_BUCKET} is kept from before: the stack adopts it" in (
            per_event.again.stdout)
        account = per_event.after_again
        assert account.stack_parameters["CertificateBucketExists"] == "true"
        assert account.certificate_objects == [f"{DOMAIN}/bundle.pem"]
        assert sorted(account.functions) == sorted(per_event.after_first.functions)
        assert account.stacks == {STACK: "UPDATE_COMPLETE"}


class TestBufferedModeWithHostnameEvents:
    FUNCTIONS = (PROCESS_TASK_EVENTS, RECONCILE_TASK_DNS, ANNOUNCE_HOSTNAMES, RENEW_CERTIFICATES)

    def test_first_deploy_creates_the_queues_before_the_functions_that_read_them(self, buffered):
        assert buffered.first.returncode == 0, explain(buffered.first)
        account = buffered.after_first
        assert sorted(account.functions) == lambda_names(*self.FUNCTIONS)
        assert {TASK_EVENTS_QUEUE, f"{TASK_EVENTS_QUEUE}-dlq", HOSTNAME_EVENTS_QUEUE,
                f"{HOSTNAME_EVENTS_QUEUE}-dlq"} <= set(account.queues)
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:"
        assert account.mappings == sorted([
            (queue_arn + TASK_EVENTS_QUEUE, account.functions[f"{PREFIX}{PROCESS_TASK_EVENTS}"]),
            (queue_arn + HOSTNAME_EVENTS_QUEUE, account.functions[f"{PREFIX}{ANNOUNCE_HOSTNAMES}"])])
        assert account.stack_parameters["TaskEventsQueueName"] == TASK_EVENTS_QUEUE
        assert account.stack_parameters["HostnameEventsQueueName"] == HOSTNAME_EVENTS_QUEUE

    def test_deploy_from_a_clone_without_local_state_adds_no_second_event_source(self, buffered):
        assert buffered.second.returncode == 0, explain(buffered.second)
        first, second = buffered.after_first, buffered.after_second
        assert second.mappings == first.mappings
        assert (second.functions, second.roles, second.rules, list(second.stacks), second.queues) == (
            first.functions, first.roles, first.rules, list(first.stacks), first.queues)

    def test_destroy_removes_the_queues_and_their_readers(self, buffered):
        assert buffered.destroy.returncode == 0, explain(buffered.destroy)
        account = buffered.after_destroy
        assert (account.functions, account.mappings, account.queues, account.stacks) == ({}, [], [], {})
        assert account.certificate_objects == [f"{DOMAIN}/bundle.pem"]
        assert account.parameters == [ACCOUNT_KEY_PARAMETER]


def test_make_deploy_without_a_stage_says_how_to_name_one(tmp_path, request, emulated_aws):
    project = copy_project(tmp_path, package_cache(request))
    result = run_make(project, "deploy", aws=emulated_aws.environment())
    assert result.returncode == 2
    assert "make deploy: name the stage: make deploy STAGE=dev" in result.stdout


def test_readme_deploys_and_destroys_with_the_make_targets_tested_here():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "make deploy STAGE=prod" in readme
    assert "make destroy STAGE=prod" in readme
