"""make deploy's decisions (pure) and its refusals and failures, in process against the emulator.

The whole command, run as `make deploy`, is in test_make_deploy.py; here each way it can stop is
shown to stop before it changes anything (exit 2) or to leave what a rerun needs (exit 1).
"""

import copy
import json
import signal

import boto3
import pytest

from embedded_stack.aws import ACCOUNT_ID, REGION
from infra.deploy.plan import AS_BEFORE, StageTarget, stack_passes
from infra.deploy.stack import failure_reasons_of
from infra.deploy.stage import EXIT_CANNOT_START, EXIT_DONE, EXIT_FAILED, StageDeployment
from infra.deploy.state import DeployState
from infra.deployments import DeploymentConfigError, Location, function_deployments, load_config
from infra.merge_templates import load_base_template
from tests.chalice_project import add_stage, copy_project, package_cache

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

CONFIG = load_config()
TEMPLATE = load_base_template()
DEV = function_deployments(CONFIG, "dev")


def with_variables(**variables: str):
    config = copy.deepcopy(CONFIG)
    config["stages"]["dev"]["environment_variables"].update(variables)
    return function_deployments(config, "dev")


# -- the supporting stack's parameters (pure) --------------------------------------------------


def test_a_first_deploy_leaves_the_failed_event_destination_to_a_second_pass():
    passes = stack_passes(DEV, TEMPLATE, previous=None, functions_exist=False, certificate_readers=None)

    assert passes.before_functions["FunctionsDeployed"] == "false"
    assert passes.after_functions == {**passes.before_functions, "FunctionsDeployed": "true"}
    assert passes.before_functions["CertificateReaderRoleArns"] == ""
    assert passes.before_functions["CertificateBucketName"] == "task-subdomains-certs-dev"
    assert passes.before_functions["NotificationTopicName"] == "task-subdomains-dev-certificates"
    assert passes.before_functions["UpdateTaskDnsFunctionName"] == "task-subdomains-dev-update_task_dns"
    assert set(passes.before_functions) <= set(TEMPLATE["Parameters"])


def test_a_redeploy_is_one_pass_and_keeps_the_reader_roles_the_stack_has():
    previous = {"CertificateReaderRoleArns": "arn:aws:iam::111122223333:role/reader", "FunctionsDeployed": "true"}

    passes = stack_passes(DEV, TEMPLATE, previous=previous, functions_exist=True, certificate_readers=None)

    assert passes.after_functions is None
    assert passes.before_functions["FunctionsDeployed"] == "true"
    assert passes.before_functions["CertificateReaderRoleArns"] is AS_BEFORE


def test_reader_roles_given_replace_the_stacks():
    passes = stack_passes(DEV, TEMPLATE, previous={"CertificateReaderRoleArns": "arn:old"}, functions_exist=True,
                          certificate_readers=" arn:aws:iam::111122223333:role/a ,arn:aws:iam::111122223333:role/b,")
    assert passes.before_functions["CertificateReaderRoleArns"] == (
        "arn:aws:iam::111122223333:role/a,arn:aws:iam::111122223333:role/b")


def test_the_hostname_queue_outlives_the_writers_that_send_to_it():
    # Turning hostname events off: the deployed writers send checks until chalice replaces them.
    previous = {"HostnameEventsQueueName": "task-subdomains-dev-hostname-events", "FunctionsDeployed": "true"}

    passes = stack_passes(DEV, TEMPLATE, previous=previous, functions_exist=True, certificate_readers=None)

    assert passes.before_functions["HostnameEventsQueueName"] == "task-subdomains-dev-hostname-events"
    assert passes.after_functions["HostnameEventsQueueName"] == ""


def test_buffered_mode_names_its_queue_and_cluster():
    queue = "arn:aws:sqs:eu-west-2:111122223333:task-subdomains-dev-task-events"
    passes = stack_passes(with_variables(TASK_EVENTS_QUEUE_ARN=queue), TEMPLATE, previous=None,
                          functions_exist=False, certificate_readers=None)
    assert passes.before_functions["TaskEventsQueueName"] == "task-subdomains-dev-task-events"
    assert passes.before_functions["ClusterArn"] == CONFIG["stages"]["dev"]["environment_variables"]["CLUSTER_ARN"]


def test_a_stage_without_a_notification_email_is_refused_naming_the_setting():
    config = copy.deepcopy(CONFIG)
    del config["stages"]["dev"]["environment_variables"]["NOTIFY_EMAIL"]
    with pytest.raises(DeploymentConfigError, match="NotificationEmail \\(NOTIFY_EMAIL\\)"):
        stack_passes(function_deployments(config, "dev"), TEMPLATE, None, False, None)


def test_parameters_the_stage_does_not_set_keep_the_stacks_values():
    passes = stack_passes(DEV, TEMPLATE, previous={"LogRetentionDays": "90", "FunctionsDeployed": "true"},
                          functions_exist=True, certificate_readers=None)
    assert passes.before_functions["LogRetentionDays"] is AS_BEFORE
    first = stack_passes(DEV, TEMPLATE, previous=None, functions_exist=False, certificate_readers=None)
    assert "LogRetentionDays" not in first.before_functions  # the template's default on a first deploy


def test_readers_none_removes_them():
    passes = stack_passes(DEV, TEMPLATE, previous={"CertificateReaderRoleArns": "arn:old"}, functions_exist=True,
                          certificate_readers="none")
    assert passes.before_functions["CertificateReaderRoleArns"] == ""


def test_the_reasons_of_a_failure_are_those_of_the_last_operation_root_cause_first():
    events = [  # newest first
        {"LogicalResourceId": "stack", "ResourceStatus": "ROLLBACK_COMPLETE"},
        {"LogicalResourceId": "Topic", "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason":
            "Resource creation cancelled"},
        {"LogicalResourceId": "LogGroup", "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason":
            "/aws/lambda/f already exists"},
        {"LogicalResourceId": "stack", "ResourceStatus": "CREATE_IN_PROGRESS", "ResourceStatusReason":
            "User Initiated"},
        {"LogicalResourceId": "Old", "ResourceStatus": "UPDATE_FAILED", "ResourceStatusReason": "an old failure"},
    ]
    assert failure_reasons_of(events, "stack") == ["LogGroup: /aws/lambda/f already exists"]


def test_the_state_bucket_is_named_from_the_account_and_region():
    target = StageTarget("task-subdomains", "prod", Location("aws", "eu-west-2", "111122223333"))
    assert target.state_bucket == "task-subdomains-deploy-111122223333-eu-west-2"
    assert (target.state_key, target.lock_key, target.stack_name) == (
        "prod/deployed.json", "prod/deploy.lock", "task-subdomains-prod-infra")


# -- refusals and failures, in process ---------------------------------------------------------


@pytest.fixture
def project(aws, tmp_path, request):
    """A copy with stage x in the emulated account; the zone and cluster it names exist."""
    zone_id = boto3.client("route53").create_hosted_zone(
        Name="x.example.com", CallerReference="steps")["HostedZone"]["Id"].rsplit("/", 1)[1]
    cluster_arn = boto3.client("ecs").create_cluster(clusterName="sessions-x")["cluster"]["clusterArn"]
    path = copy_project(tmp_path / "clone", package_cache(request))
    add_stage(path, "x", like="dev", DOMAIN_PREFIX="x.example.com", HOSTED_ZONE_ID=zone_id, CLUSTER_ARN=cluster_arn,
              CERTIFICATES=json.dumps([{"domains": ["*.x.example.com"], "zoneId": zone_id,
                                        "certStorageBucketName": "task-subdomains-certs-x", "certStoragePrefix": "x/",
                                        "failureSnsTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:x-certificates"}]))
    return path


class Recorder:
    def __init__(self, chalice_exit: int = 0, state: bytes | None = None):
        self.commands: list[list[str]] = []
        self.lines: list[str] = []
        self._chalice_exit = chalice_exit
        self._state = state

    def run(self, command, cwd, environ) -> int:
        self.commands.append(list(command))
        if command[0].endswith("chalice"):
            if self._state is not None:
                (cwd / ".chalice" / "deployed").mkdir(parents=True, exist_ok=True)
                (cwd / ".chalice" / "deployed" / "x.json").write_bytes(self._state)
            return self._chalice_exit
        return 0

    def deployment(self, project, stage="x", **environ) -> StageDeployment:
        import os

        return StageDeployment(project_dir=project, stage=stage, environ={**os.environ, **environ}, run=self.run,
                               say=self.lines.append)


STATE_BUCKET = f"task-subdomains-deploy-{ACCOUNT_ID}-{REGION}"


def stacks() -> list[str]:
    return [s["StackName"] for s in boto3.client("cloudformation").describe_stacks()["Stacks"]]


def test_without_credentials_it_stops_first_in_one_line(project, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    recorder = Recorder()

    assert recorder.deployment(project).deploy() == EXIT_CANNOT_START

    assert recorder.lines[-1].startswith("make deploy: no AWS credentials: set AWS_PROFILE")
    assert recorder.commands == []


def test_a_region_set_in_the_shell_is_not_used_and_it_says_so(project):
    recorder = Recorder(state=b"{}")
    assert recorder.deployment(project, AWS_REGION="us-east-1").deploy() == EXIT_DONE
    assert (f"  arn:aws:sts::{ACCOUNT_ID}:user/moto, region eu-west-2 (from CLUSTER_ARN; AWS_REGION=us-east-1 not "
            "used)") in recorder.lines
    assert stacks() == ["task-subdomains-x-infra"]  # in eu-west-2, where the test's clients look


def test_credentials_of_another_account_are_refused(aws, tmp_path, request):
    # The committed dev stage is in account 111122223333; the emulator's credentials are not.
    recorder = Recorder()
    project = copy_project(tmp_path / "clone", package_cache(request))
    assert recorder.deployment(project, stage="dev").deploy() == EXIT_CANNOT_START
    assert recorder.lines[-1] == (
        f"make deploy: the credentials are of account {ACCOUNT_ID}, but stage dev's CLUSTER_ARN is in account "
        "111122223333: use credentials of that account (AWS_PROFILE)")
    assert stacks() == []


def test_an_unknown_stage_is_refused_naming_the_stages(project):
    recorder = Recorder()
    assert recorder.deployment(project, stage="staging").deploy() == EXIT_CANNOT_START
    assert recorder.lines[-1] == "make deploy: no stage 'staging' in .chalice/config.json (its stages: dev, prod, x)"


def test_a_deploy_under_way_keeps_a_second_one_out(project):
    state = DeployState(boto3.client("s3"), STATE_BUCKET, ACCOUNT_ID, REGION)
    state.ensure_bucket()
    state.lock("x/deploy.lock", "make deploy STAGE=x")
    recorder = Recorder()

    assert recorder.deployment(project).deploy() == EXIT_FAILED

    assert "make deploy STAGE=x by " in recorder.lines[-1]
    assert f"aws s3 rm s3://task-subdomains-deploy-{ACCOUNT_ID}-{REGION}/x/deploy.lock" in recorder.lines[-1]
    assert stacks() == [] and recorder.commands == []


def test_a_failed_chalice_deploy_releases_the_lock_and_runs_nothing_after_it(project):
    # chalice writes its record only when the whole deploy succeeded.
    recorder = Recorder(chalice_exit=2)

    assert recorder.deployment(project).deploy() == EXIT_FAILED

    assert state_objects() == []
    assert recorder.lines[-1] == ("make deploy: chalice deploy --stage x exited 2 (its output is above); run make "
                                  "again once the cause is fixed")
    # The stack's first pass ran; the second (after the functions) and doctor did not.
    (stack,) = boto3.client("cloudformation").describe_stacks()["Stacks"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["FunctionsDeployed"] == "false"
    assert [c for c in recorder.commands if "operator_cli" in c] == []


def test_what_chalice_recorded_is_stored_for_the_next_clone(project):
    recorder = Recorder(state=b'{"resources": []}')
    assert recorder.deployment(project).deploy() == EXIT_DONE
    assert state_objects() == ["x/deployed.json"]
    assert boto3.client("s3").get_object(Bucket=STATE_BUCKET, Key="x/deployed.json")["Body"].read() == (
        b'{"resources": []}')


def state_objects() -> list[str]:
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=STATE_BUCKET).get("Contents", [])]


def test_a_configuration_error_stops_it_before_anything_is_changed(project):
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    del config["stages"]["x"]["environment_variables"]["NOTIFY_EMAIL"]
    config_path.write_text(json.dumps(config))
    recorder = Recorder()

    assert recorder.deployment(project).deploy() == EXIT_CANNOT_START

    assert "NotificationEmail (NOTIFY_EMAIL)" in recorder.lines[-1]
    assert recorder.lines[-1].startswith("make deploy: .chalice/config.json: stage 'x'")
    assert STATE_BUCKET not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    assert stacks() == []


def a_function(name: str) -> str:
    iam, lambda_ = boto3.client("iam"), boto3.client("lambda")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    return lambda_.create_function(FunctionName=name, Runtime="python3.11", Role=role["Role"]["Arn"],
                                   Handler="app.handler", Code={"ZipFile": zip_of("def handler(e, c): pass")})[
        "FunctionArn"]


def a_mapping(function: str, queue: str) -> tuple[str, str, str]:
    """A function reading a queue: (function ARN, queue ARN, the mapping's UUID)."""
    function_arn = a_function(function)
    sqs = boto3.client("sqs")
    queue_arn = sqs.get_queue_attributes(QueueUrl=sqs.create_queue(QueueName=queue)["QueueUrl"],
                                         AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    uuid = boto3.client("lambda").create_event_source_mapping(EventSourceArn=queue_arn,
                                                              FunctionName=function_arn)["UUID"]
    return function_arn, queue_arn, uuid


def zip_of(source: str) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def test_destroy_leaves_the_stack_while_functions_it_has_no_record_of_still_run(project):
    a_function("task-subdomains-x-update_task_dns")
    recorder = Recorder()  # chalice delete without a record deletes nothing

    assert recorder.deployment(project).destroy() == EXIT_FAILED

    assert recorder.lines[-1].startswith("make destroy: task-subdomains-x-update_task_dns still exist: chalice had "
                                         "no record of them")
    assert "supporting stack task-subdomains-x-infra" not in " ".join(recorder.lines)
    assert state_objects() == []  # no lock left


def test_an_event_source_mapping_chalice_has_no_record_of_is_removed_before_it_deploys(project):
    # A chalice deploy that failed after creating the mapping recorded nothing; the next would be
    # refused a second mapping of the same queue and function.
    function_arn, queue_arn, uuid = a_mapping("task-subdomains-x-reconcile_task_dns", "left-behind")
    lambda_ = boto3.client("lambda")
    recorder = Recorder(state=b"{}")

    assert recorder.deployment(project).deploy() == EXIT_DONE

    assert lambda_.list_event_source_mappings(FunctionName=function_arn)["EventSourceMappings"] == []
    assert any(line.startswith(f"  removing event source mapping {uuid} ({queue_arn} -> ") for line in recorder.lines)


def test_a_recorded_event_source_mapping_is_left_to_chalice(project, tmp_path):
    function_arn, _, uuid = a_mapping("task-subdomains-x-reconcile_task_dns", "recorded")
    lambda_ = boto3.client("lambda")
    record = json.dumps({"resources": [{"name": "mapping", "resource_type": "sqs_event", "event_uuid": uuid}]})
    (project / ".chalice" / "deployed").mkdir(parents=True)
    (project / ".chalice" / "deployed" / "x.json").write_text(record)
    recorder = Recorder(state=record.encode())

    assert recorder.deployment(project).deploy() == EXIT_DONE

    mappings = lambda_.list_event_source_mappings(FunctionName=function_arn)["EventSourceMappings"]
    assert [m["UUID"] for m in mappings] == [uuid]


def test_the_kept_bucket_policy_is_handed_over_to_the_stack_that_adopts_the_bucket(project):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="task-subdomains-certs-x", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket="task-subdomains-certs-x", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "OnlyRenewalAndTaskRolesReadPrivateKeys", "Effect": "Deny", "Principal": "*",
         "Action": "s3:GetObject", "Resource": "arn:aws:s3:::task-subdomains-certs-x/*key.pem"}]}))
    recorder = Recorder(state=b"{}")

    assert recorder.deployment(project).deploy() == EXIT_DONE

    assert "  its kept bucket policy is handed over to the stack" in recorder.lines
    (stack,) = boto3.client("cloudformation").describe_stacks()["Stacks"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["CertificateBucketExists"] == "true"


def test_a_foreign_bucket_policy_on_the_kept_bucket_stops_it(project):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="task-subdomains-certs-x", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_policy(Bucket="task-subdomains-certs-x", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "SomeoneElses", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
         "Resource": "arn:aws:s3:::task-subdomains-certs-x"}]}))
    recorder = Recorder()

    assert recorder.deployment(project).deploy() == EXIT_CANNOT_START

    assert "has a bucket policy that is not the supporting stack's" in recorder.lines[-1]
    assert s3.get_bucket_policy(Bucket="task-subdomains-certs-x")["Policy"]
    assert stacks() == []


def test_a_successful_deploy_ends_with_doctor_for_the_stage(project):
    recorder = Recorder(state=b"{}")
    assert recorder.deployment(project).deploy() == EXIT_DONE
    assert recorder.commands[-1][1:] == ["-m", "operator_cli", "--stage", "x", "doctor"]


def test_a_kept_certificate_bucket_is_adopted_not_created_again():
    created = stack_passes(DEV, TEMPLATE, previous=None, functions_exist=False, certificate_readers=None)
    adopted = stack_passes(DEV, TEMPLATE, previous=None, functions_exist=False, certificate_readers=None,
                           adopt_bucket=True)
    assert created.before_functions["CertificateBucketExists"] == "false"
    assert adopted.before_functions["CertificateBucketExists"] == adopted.after_functions["CertificateBucketExists"]
    assert adopted.after_functions["CertificateBucketExists"] == "true"


def test_a_terminated_deploy_releases_the_stages_lock(project):
    # SIGTERM/SIGHUP become SystemExit, which runs the finally that removes the lock.
    from infra.deploy.__main__ import exit_on_termination

    def terminated(command, cwd, environ):
        if command[0].endswith("chalice"):
            exit_on_termination(signal.SIGTERM, None)
        return 0

    recorder = Recorder()
    recorder.run = terminated
    with pytest.raises(SystemExit) as stopped:
        recorder.deployment(project).deploy()

    assert stopped.value.code == 128 + signal.SIGTERM
    assert state_objects() == []


def test_a_run_removes_only_its_own_lock(aws):
    s3 = boto3.client("s3")
    first = DeployState(s3, STATE_BUCKET, ACCOUNT_ID, REGION)
    first.ensure_bucket()
    first.lock("x/deploy.lock", "make deploy STAGE=x")
    # Its lock was removed by hand meanwhile, and another run took the stage.
    s3.delete_object(Bucket=STATE_BUCKET, Key="x/deploy.lock")
    second = DeployState(s3, STATE_BUCKET, ACCOUNT_ID, REGION)
    second.lock("x/deploy.lock", "make deploy STAGE=x")

    first.unlock("x/deploy.lock")

    assert state_objects() == ["x/deploy.lock"]
    second.unlock("x/deploy.lock")
    assert state_objects() == []
