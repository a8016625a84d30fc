"""Region, profile, credentials and exit codes: one rule for every command, against the emulator."""

import json
from importlib.metadata import version

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from chalicelib.certificates.settings import LETSENCRYPT_STAGING
from chalicelib.shared.aws_clients import client
from embedded_stack.aws import REGION
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.aws_settings import AwsSettingsError, choose_region
from operator_cli.cli import Runtime
from operator_cli.errors import EXIT_CANNOT_TELL, exit_code_and_message
from tests.cli_support import checks_of, run, set_up_deployment
from tests.conftest import CLUSTER_ARN
from tests.fault_injection import failing
from tests.helpers import hooked

TASK_ID = "0123456789abcdef0123456789abcdef"
# Every command, as an operator would type it; each needs AWS.
COMMANDS = [("status",), ("doctor",), ("renew", "--local"), ("reconcile", "--local", "--dry-run"),
            ("wait", TASK_ID, "--timeout", "0")]


@pytest.fixture
def deployment(cluster, monkeypatch):
    return set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)


@pytest.fixture
def no_region(monkeypatch, tmp_path):
    """No region anywhere the SDK looks: not in the environment, not in a config file."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# --- the rule, pure -------------------------------------------------------------------------------

OTHER_CLUSTER = "arn:aws:ecs:eu-west-1:123456789012:cluster/c"


@pytest.mark.parametrize("option, environ, sdk, expected", [
    ("eu-west-1", {"AWS_REGION": "eu-west-1"}, "eu-west-1", ("eu-west-1", "--region")),
    (None, {"AWS_REGION": "eu-west-1"}, None, ("eu-west-1", "AWS_REGION")),  # AWS_REGION alone is honoured
    (None, {}, "eu-west-1", ("eu-west-1", "AWS_DEFAULT_REGION or the profile's region")),
    (None, {}, None, ("eu-west-1", "CLUSTER_ARN")),  # none set: the stage's
])
def test_the_region_is_the_first_set_else_the_clusters(option, environ, sdk, expected):
    choice = choose_region(option, environ, sdk, OTHER_CLUSTER)
    assert (choice.region, choice.source) == expected


def test_a_region_other_than_the_clusters_is_refused_naming_both():
    with pytest.raises(AwsSettingsError, match="us-east-1 \\(AWS_REGION\\) but CLUSTER_ARN is in eu-west-1"):
        choose_region(None, {"AWS_REGION": "us-east-1"}, "eu-west-1", OTHER_CLUSTER)


def test_no_region_anywhere_is_refused():
    with pytest.raises(AwsSettingsError, match="no AWS region"):
        choose_region(None, {}, None, None)
    assert choose_region(None, {"AWS_REGION": "eu-west-1"}, None, None).region == "eu-west-1"


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"])
def test_access_denied_is_cannot_tell_whatever_the_service_calls_it(code):
    error = ClientError({"Error": {"Code": code, "Message": "no"}}, "ListTasks")
    exit_code, message = exit_code_and_message(error)
    assert exit_code == EXIT_CANNOT_TELL and message.startswith("access denied: ListTasks")
    assert exit_code_and_message(NoCredentialsError())[0] == EXIT_CANNOT_TELL


# --- the commands ---------------------------------------------------------------------------------

def test_without_a_region_the_clusters_is_used(deployment, cluster, no_region):
    task = cluster.run_task(public_ip="203.0.113.10")

    result = run("status", "--json")

    assert result.exit_code == 1, result.output  # the task has no record yet: a problem, found in eu-west-2
    (unpublished,) = json.loads(result.stdout)["task_records"]["running_without_record"]
    assert unpublished["hostname"] == cluster.hostname(task)
    assert run("doctor", "--json").exit_code == 0


def test_aws_region_alone_is_honoured(deployment, cluster, no_region, monkeypatch):
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("CLUSTER_ARN")

    # renew needs no CLUSTER_ARN: it gets past the region and stops at what it really lacks.
    result = run("renew")

    assert result.exit_code == 2 and "--stage" in result.output and "region" not in result.output

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("CLUSTER_ARN", CLUSTER_ARN)
    refused = run("status")
    assert refused.exit_code == 2
    assert refused.output.startswith("Error: the region is eu-west-1 (AWS_REGION) but CLUSTER_ARN is in eu-west-2")


def test_no_region_and_no_cluster_arn_exits_2_saying_so(deployment, no_region, monkeypatch):
    monkeypatch.delenv("CLUSTER_ARN")

    result = run("renew", "--local")

    assert result.exit_code == 2 and result.output.startswith("Error: no AWS region: give --region")
    assert result.output.count("\n") == 1


def test_the_region_option(deployment, no_region):
    assert run("--region", REGION, "doctor").exit_code == 0
    refused = run("--region", "us-east-1", "doctor", "--json")
    assert refused.exit_code == 2
    assert json.loads(refused.stdout) == {"exit_code": 2, "error": "the region is us-east-1 (--region) but "
                                          "CLUSTER_ARN is in eu-west-2, where the stage's tasks and functions are: "
                                          "give --region eu-west-2, or unset --region"}


def test_the_profile_option_wins_over_credentials_in_the_environment(deployment, no_region, monkeypatch, tmp_path):
    (tmp_path / "config").write_text("[profile ops]\nregion = eu-west-2\n")
    (tmp_path / "credentials").write_text("[ops]\naws_access_key_id = opskey\naws_secret_access_key = opssecret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    keys = set()

    def signed_with(request, **_):
        authorization = request.headers["Authorization"]
        authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
        keys.add(authorization.split("Credential=")[1].split("/")[0])

    def recording_client(service: str):
        made = client(service)  # the app's shared client, as the command has it built
        made.meta.events.register("before-send", signed_with, unique_id="test-signed-with")
        return made

    result = run("--profile", "ops", "doctor", "--json", runtime=Runtime(client=recording_client))

    assert result.exit_code == 0, result.output
    assert keys == {"opskey"}  # not the environment's AWS_ACCESS_KEY_ID
    missing = run("--profile", "nosuch", "status")
    assert missing.exit_code == 2 and missing.output == "Error: no AWS profile 'nosuch' in the SDK's config files\n"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_without_credentials_every_command_exits_2_in_one_line(deployment, no_credentials, command):
    result = run(*command)

    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: no AWS credentials") and result.output.count("\n") == 1


@pytest.mark.parametrize("command", [c for c in COMMANDS if c[0] != "wait"] + [("wait", TASK_ID)],
                         ids=lambda c: c[0])
def test_under_json_an_error_is_json(deployment, no_credentials, command):
    result = run(*command, "--json")

    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and document["error"].startswith("no AWS credentials")


def test_access_denied_exits_2_in_status_and_in_doctor(deployment):
    denied = failing(403, "AccessDenied")

    with hooked(client("route53"), "before-send.route53.ListResourceRecordSets", denied):
        status = run("status")
        doctor = run("doctor", "--json")

    assert status.exit_code == 2 and status.output.startswith("Error: access denied: ListResourceRecordSets")
    assert doctor.exit_code == 2, doctor.output  # nothing failed; what could not be checked says so
    zone_check = checks_of(doctor)[("zone", deployment.zone_id)]
    assert zone_check["level"] == "error"
    assert zone_check["message"].startswith("could not check: access denied: ListResourceRecordSets")


def test_a_function_that_is_not_deployed_exits_2(deployment):
    result = run("--stage", "dev", "reconcile", "--dry-run")

    assert result.exit_code == 2, result.output
    assert "task-subdomains-dev-reconcile_task_dns is not deployed" in result.output


def test_version_is_the_packages():
    result = run("--version")

    assert result.exit_code == 0 and result.output == f"task-subdomains, version {version('task-subdomains')}\n"


def test_the_prefix_is_the_clusters_stage(deployment):
    # The emulator's CLUSTER_ARN is in the emulator's region, so the tests above are about the rule alone.
    assert CLUSTER_ARN.split(":")[3] == REGION and DOMAIN_PREFIX.startswith(REGION)
