"""`task-subdomains renew`: locally against Pebble, or by invoking the deployed function; and the
`{"names": [...]}` payload that restricts a run, which the function itself understands."""

import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from chalicelib.certificates.renewal import InvalidRequest, renew_certificates, requested_names
from chalicelib.shared.configuration import ConfigurationError
from embedded_stack.fargate import DOMAIN_PREFIX
from infra.deployments import load_config
from operator_cli.cli import Runtime
from tests.cli_support import BUCKET, run, set_up_deployment

OTHER = "other.example.com"


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
    assert f"{label}: issued, serial 0abc" in result.stdout


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
    assert "aws logs tail /aws/lambda/task-subdomains-dev-renew_certificates" in result.stdout


def test_without_a_stage_the_function_has_no_name_and_the_command_says_what_to_do(certificate_target):
    certificate_target("cli-no-stage", [f"*.{DOMAIN_PREFIX}"])

    result = run("renew")

    assert result.exit_code == 2 and "--stage" in result.output and "--local" in result.output
