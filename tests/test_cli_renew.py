"""`task-subdomains renew`: locally against Pebble, or by invoking the deployed function; and the
`{"names": [...]}` payload that restricts a run, which the function itself understands. On a
terminal it says what it is doing and where its log is; when some certificates fail, which were
issued and stored beside them."""

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from chalicelib.certificates.renewal import InvalidRequest, RenewalFailed, renew_certificates, requested_names
from chalicelib.shared.configuration import ConfigurationError
from embedded_stack.fargate import DOMAIN_PREFIX
from infra.deployments import load_config
from operator_cli.cli import Runtime
from operator_cli.invoke import lambda_invoke_client
from operator_cli.renew.outcomes import CertificateOutcome
from operator_cli.renew.render import renewal_text
from tests.cli_support import BUCKET, run, set_up_deployment

OTHER = "other.example.com"
RENEW_FUNCTION = "task-subdomains-dev-renew_certificates"


@pytest.fixture
def deployment(cluster, pebble, monkeypatch):
    deployment = set_up_deployment(cluster, monkeypatch, pebble.directory_url)
    other = deployment.certificate([OTHER], f"{OTHER}/")
    monkeypatch.setenv("CERTIFICATES", json.dumps([*deployment.certificates, other]))
    return deployment


def stored_prefixes() -> set[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"].split("/", 1)[0] for item in listing}


def test_renew_local_name_renews_only_the_certificate_containing_it(deployment, fast_clocks):
    result = run("renew", "--local", "--force", "--name", OTHER, "--json", runtime=Runtime(clocks=fast_clocks))

    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {OTHER}
    assert json.loads(result.stdout)[OTHER]["outcome"] == "issued"
    assert stored_prefixes() == {OTHER}
    assert "in this process" not in result.stderr  # not a terminal: no progress lines


def test_the_function_takes_the_same_names_in_its_payload(deployment, fast_clocks):
    result = renew_certificates({"force": True, "names": [OTHER]}, fast_clocks)

    assert set(result) == {OTHER} and stored_prefixes() == {OTHER}


def test_a_name_no_certificate_contains_renews_nothing_and_says_so(deployment, fast_clocks):
    result = run("renew", "--local", "--name", "typo.example.com", runtime=Runtime(clocks=fast_clocks))

    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "typo.example.com" in result.output and "CERTIFICATES" in result.output
    assert stored_prefixes() == set()
    with pytest.raises(ConfigurationError, match="typo.example.com"):
        renew_certificates({"names": ["typo.example.com"]}, fast_clocks)


@pytest.mark.parametrize("event, names", [
    ({}, ()), ({"force": True}, ()), (None, ()), ({"names": ["A.example.com"]}, ("A.example.com",)),
    ({"detail": {"names": ["a.example.com", "b.example.com"]}}, ("a.example.com", "b.example.com")),
])
def test_requested_names_come_from_the_payload_or_a_scheduled_events_detail(event, names):
    assert requested_names(event) == names


@pytest.mark.parametrize("event", [{"names": "a.example.com"}, {"names": []}, {"names": [1]}, {"names": [" "]}])
def test_malformed_names_are_refused_with_the_accepted_form(event):
    with pytest.raises(InvalidRequest, match='"names"'):
        requested_names(event)


# The deployed function, invoked (moto cannot run Lambda code here, so its answers are stubbed at
# the client: the request is still built and validated by botocore against the Lambda API).

def stubbed_lambda():
    client = boto3.client("lambda")
    sent = []
    client.meta.events.register("before-parameter-build.lambda.Invoke", lambda params, **_: sent.append(dict(params)))
    return client, Stubber(client), sent


def answer(document) -> dict:
    body = json.dumps(document).encode()
    return {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}


@pytest.fixture
def dev_stage(monkeypatch):
    """`--stage dev` with the renewal variables of .chalice/config.json, none from the environment."""
    for name in ("WORKSPACE", "CERTIFICATES", "ACME_DIRECTORY_URL", "NOTIFY_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    return json.loads(load_config()["stages"]["dev"]["environment_variables"]["CERTIFICATES"])


def test_renew_invokes_the_stages_function_with_force_and_names_and_prints_its_answer(dev_stage):
    name = dev_stage[0]["domains"][-1]
    label = ", ".join(dev_stage[0]["domains"])
    client, stub, sent = stubbed_lambda()
    stub.add_response("invoke", answer({label: {"outcome": "issued", "serial": "0abc", "not_after": "2031-01-01"}}),
                      expected_params={"FunctionName": "task-subdomains-dev-renew_certificates",
                                       "InvocationType": "RequestResponse", "Payload": ANY})
    with stub:
        result = run("--stage", "dev", "renew", "--force", "--name", name,
                     runtime=Runtime(lambda_client=lambda: client))

    assert result.exit_code == 0, result.output
    assert json.loads(sent[0]["Payload"]) == {"force": True, "names": [name]}
    stored_at = f"s3://{dev_stage[0]['certStorageBucketName']}/{dev_stage[0]['certStoragePrefix']}"
    assert result.stdout == f"{label}: issued and stored in {stored_at}: serial 0abc, not after 2031-01-01\n"


def test_a_failed_run_exits_1_with_the_functions_error(dev_stage):
    client, stub, _ = stubbed_lambda()
    failed = answer({"errorType": "RenewalFailed", "errorMessage": "renewal failed for: x"})
    stub.add_response("invoke", {**failed, "FunctionError": "Unhandled"})
    with stub:
        result = run("--stage", "dev", "renew", runtime=Runtime(lambda_client=lambda: client))

    assert result.exit_code == 1
    assert "RenewalFailed: renewal failed for: x" in result.output
    assert "/aws/lambda/task-subdomains-dev-renew_certificates" in result.output


def test_a_busy_function_says_to_wait_or_queue(dev_stage):
    client, stub, _ = stubbed_lambda()
    stub.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
    with stub:
        result = run("--stage", "dev", "renew", runtime=Runtime(lambda_client=lambda: client))

    assert result.exit_code == 1 and "--async" in result.output and "Traceback" not in result.output


def test_async_queues_the_run_and_returns(dev_stage):
    client, stub, sent = stubbed_lambda()
    stub.add_response("invoke", {"StatusCode": 202}, expected_params={
        "FunctionName": "task-subdomains-dev-renew_certificates", "InvocationType": "Event", "Payload": ANY})
    with stub:
        result = run("--stage", "dev", "renew", "--force", "--async", runtime=Runtime(lambda_client=lambda: client))

    assert result.exit_code == 0, result.output
    assert json.loads(sent[0]["Payload"]) == {"force": True}
    assert f"aws logs tail --region eu-west-2 /aws/lambda/{RENEW_FUNCTION} --follow" in result.stdout


def test_without_a_stage_the_function_has_no_name_and_the_command_says_what_to_do(certificate_target):
    certificate_target("cli-no-stage", [f"*.{DOMAIN_PREFIX}"])

    result = run("renew")

    assert result.exit_code == 2 and "--stage" in result.output and "--local" in result.output


# What it says while it waits: on a terminal only (stderr), never to a script or under --json.

ELSEWHERE = "us-east-1"  # not the test account's region: the log line must follow the command's region choice


@pytest.fixture
def dev_stage_elsewhere(dev_stage, monkeypatch):
    """The dev stage with its cluster (so its functions and their logs) in ELSEWHERE."""
    monkeypatch.setenv("CLUSTER_ARN", f"arn:aws:ecs:{ELSEWHERE}:111122223333:cluster/user-sessions-dev")
    return dev_stage


def answering_invoke_client(document, function_error: bool = False):
    """The command's own Lambda client (built when the command asks for it, in the region it chose),
    answering one invoke with `document`."""
    def build():
        client = lambda_invoke_client()
        stub = Stubber(client)
        stub.add_response("invoke", {**answer(document), **({"FunctionError": "Unhandled"} if function_error else {})},
                          expected_params={"FunctionName": RENEW_FUNCTION, "InvocationType": "RequestResponse",
                                           "Payload": ANY})
        stub.activate()
        return client
    return build


def terminal(is_terminal: bool, lambda_client) -> Runtime:
    return Runtime(lambda_client=lambda_client, stderr_is_terminal=lambda: is_terminal)


def test_on_a_terminal_renew_says_what_it_invokes_and_how_to_follow_the_functions_log(dev_stage_elsewhere):
    label = ", ".join(dev_stage_elsewhere[0]["domains"])
    client = answering_invoke_client({label: {"outcome": "not-due", "renew_at": "2031-01-01T00:00:00+00:00"}})

    result = run("--stage", "dev", "--region", ELSEWHERE, "renew", runtime=terminal(True, client))

    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"invoking {RENEW_FUNCTION} in {ELSEWHERE} (this can take several minutes: DNS propagation and ACME "
        "validation)…",
        f"its log: /aws/lambda/{RENEW_FUNCTION}; follow it with: "
        f"aws logs tail --region {ELSEWHERE} /aws/lambda/{RENEW_FUNCTION} --follow"]
    assert result.stdout.startswith(f"{label}: unchanged in s3://")  # the answer alone on stdout


@pytest.mark.parametrize("is_terminal, options", [(False, ()), (True, ("--json",))], ids=["not-a-terminal", "json"])
def test_no_progress_lines_for_a_script_or_under_json(dev_stage_elsewhere, is_terminal, options):
    label = ", ".join(dev_stage_elsewhere[0]["domains"])
    document = {label: {"outcome": "not-due", "renew_at": "2031-01-01T00:00:00+00:00"}}

    result = run("--stage", "dev", "--region", ELSEWHERE, "renew", *options,
                 runtime=terminal(is_terminal, answering_invoke_client(document)))

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    if options:
        assert json.loads(result.stdout) == document


# One certificate of several fails: which were issued and stored, which failed and why; exit 1.

BROKEN_ZONE = "Z0000000000000NOZONE"  # no such hosted zone: the challenge record cannot be written
CAA_REFUSED = "IssuanceError: authorization for other.example.com is invalid: CAA forbids it"


@pytest.fixture
def one_of_two_fails(cluster, pebble, monkeypatch):
    """The deployment's certificate, and OTHER pointed at a zone that does not exist."""
    deployment = set_up_deployment(cluster, monkeypatch, pebble.directory_url)
    broken = {**deployment.certificate([OTHER], f"{OTHER}/"), "zoneId": BROKEN_ZONE}
    monkeypatch.setenv("CERTIFICATES", json.dumps([*deployment.certificates, broken]))
    return deployment


def test_local_run_where_one_of_two_fails_says_which_was_issued_and_stored_and_exits_1(one_of_two_fails,
                                                                                    fast_clocks):
    good = f"*.{DOMAIN_PREFIX}, {DOMAIN_PREFIX}"

    result = run("renew", "--local", "--force",
                 runtime=Runtime(clocks=fast_clocks, stderr_is_terminal=lambda: True))

    assert result.exit_code == 1, result.output
    issued, failed, summary = result.stdout.splitlines()
    assert issued.startswith(f"{good}: issued and stored in s3://{BUCKET}/{DOMAIN_PREFIX}/: serial ")
    assert failed.startswith(f"{OTHER}: FAILED (s3://{BUCKET}/{OTHER}/ not renewed): ")
    assert BROKEN_ZONE in failed  # the error itself, as its failure notice has it
    assert summary == f"renewal failed for 1 of 2 certificate(s): {OTHER}; each failure was logged and notified"
    assert "PRIVATE KEY" not in result.output
    assert result.stderr.startswith("renewing 2 certificate(s) here, in this process, with your credentials "
                                    "(this can take several minutes")
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{DOMAIN_PREFIX}/cert.pem")["Body"].read()


def failed_run_of_two(dev_stage) -> tuple[str, str, RenewalFailed]:
    """The error renew_certificates raises when the second of two certificates fails, and the labels."""
    second = {**dev_stage[0], "domains": [OTHER], "certStoragePrefix": f"{OTHER}/"}
    first_label, second_label = ", ".join(dev_stage[0]["domains"]), OTHER
    error = RenewalFailed(f"renewal failed for: {second_label}", {
        first_label: {"outcome": "issued", "serial": "0abc", "not_after": "2031-01-01T00:00:00+00:00"},
        second_label: {"outcome": "failed", "error": CAA_REFUSED}})
    return json.dumps([dev_stage[0], second]), first_label, error


def test_invoked_run_where_one_of_two_fails_says_the_same_from_the_functions_error(dev_stage_elsewhere,
                                                                                  monkeypatch):
    certificates, first, error = failed_run_of_two(dev_stage_elsewhere)
    monkeypatch.setenv("CERTIFICATES", certificates)
    # What Lambda answers for a function that raised: its error's type and message, nothing else.
    lambda_error = {"errorType": "RenewalFailed", "errorMessage": str(error), "stackTrace": []}
    bucket = dev_stage_elsewhere[0]["certStorageBucketName"]

    result = run("--stage", "dev", "--region", ELSEWHERE, "renew",
                 runtime=terminal(False, answering_invoke_client(lambda_error, function_error=True)))

    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        f"{first}: issued and stored in s3://{bucket}/{dev_stage_elsewhere[0]['certStoragePrefix']}: serial 0abc, "
        "not after 2031-01-01T00:00:00+00:00",
        f"{OTHER}: FAILED (s3://{bucket}/{OTHER}/ not renewed): {CAA_REFUSED}",
        f"renewal failed for 1 of 2 certificate(s): {OTHER}; each failure was logged and notified "
        f"(its log: /aws/lambda/{RENEW_FUNCTION})"]


def test_under_json_a_partly_failed_run_is_an_error_document_with_every_outcome(dev_stage_elsewhere, monkeypatch):
    certificates, _first, error = failed_run_of_two(dev_stage_elsewhere)
    monkeypatch.setenv("CERTIFICATES", certificates)
    lambda_error = {"errorType": "RenewalFailed", "errorMessage": str(error), "stackTrace": []}

    result = run("--stage", "dev", "--region", ELSEWHERE, "renew", "--json",
                 runtime=terminal(True, answering_invoke_client(lambda_error, function_error=True)))

    assert result.exit_code == 1 and result.stderr == ""
    assert json.loads(result.stdout) == {"error": f"renewal failed for 1 of 2 certificate(s): {OTHER}",
                                         "exit_code": 1, "outcomes": error.outcomes}


@pytest.mark.parametrize("outcome, line", [
    (CertificateOutcome("a.example.com", "s3://b/a/", "repaired", {
        "outcome": "repaired", "repaired_from": "bundle.pem", "serial": "0abc", "not_after": "2031-01-01",
        "renew_at": "2030-12-01"}),
     "a.example.com: repaired in s3://b/a/ from bundle.pem: serial 0abc, not after 2031-01-01; renews at 2030-12-01"),
    (CertificateOutcome("a.example.com", None, "issued", {
        "outcome": "issued", "serial": "0abc", "not_after": "2031-01-01",
        "challenges_left": ["_acme-challenge.a.example.com"]}),
     "a.example.com: issued and stored: serial 0abc, not after 2031-01-01; challenge values left at "
     "_acme-challenge.a.example.com (the next run removes them)"),
    (CertificateOutcome("a.example.com", None, "failed", {"outcome": "failed", "error": "ValueError: no"}),
     "a.example.com: FAILED: ValueError: no\nrenewal failed for 1 of 1 certificate(s): a.example.com; "
     "each failure was logged and notified"),
    (CertificateOutcome("a.example.com", "s3://b/a/", "postponed", {"outcome": "postponed"}),
     "a.example.com: postponed"),
], ids=["repaired", "challenges-left-and-not-configured-here", "failed-not-configured-here", "unknown-outcome"])
def test_each_outcome_reads_as_one_line(outcome, line):
    assert renewal_text([outcome]) == line
