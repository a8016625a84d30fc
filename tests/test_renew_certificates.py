"""renew_certificates against real Pebble, validating DNS-01 through our DNS server."""

import json
import re

import boto3
import pytest
import requests

from chalicelib.certificates.renewal import RenewalFailed, outcomes_in, renew_certificates
from chalicelib.shared.aws_clients import client
from embedded_stack.pebble import running_pebble
from tests.certificates import CertificateTarget, emitted_days_remaining, key_matches, san_names, verify_chain
from tests.fault_injection import failing
from tests.helpers import hooked

PREFIX = "eu-west-2.browser.example.com"
OTHER_PREFIX = "eu-west-1.browser.example.net"


@pytest.fixture
def target(certificate_target):
    return certificate_target("tests", [f"*.{PREFIX}", PREFIX])


def renew(clocks, force=False):
    return renew_certificates({"force": True} if force else {}, clocks)


def test_apex_and_wildcard_are_issued_stored_and_announced(target, pebble, fast_clocks):
    result = renew(fast_clocks)

    assert result[f"*.{PREFIX}, {PREFIX}"]["outcome"] == "issued"
    fullchain, key = target.read("cert.pem"), target.read("key.pem")
    verify_chain(fullchain, pebble.root_pem(), f"3f2c9a.{PREFIX}")
    verify_chain(fullchain, pebble.root_pem(), PREFIX)
    assert san_names(fullchain) == {f"*.{PREFIX}", PREFIX}
    assert key_matches(key, fullchain)
    bundle = target.read("bundle.pem")
    assert bundle.startswith("-----BEGIN PRIVATE KEY-----") and key.strip() in bundle and fullchain in bundle
    metadata = json.loads(target.read("metadata.json"))
    assert set(metadata["names"]) == {f"*.{PREFIX}", PREFIX}
    assert metadata["serial"] and metadata["notBefore"] < metadata["notAfter"]
    head = target.s3.head_object(Bucket=target.bucket, Key=target.prefix + "key.pem")
    assert head["ServerSideEncryption"] == "AES256"
    (notice,) = target.notices(target.success_queue)
    assert PREFIX in notice["Subject"] and f"*.{PREFIX}" in notice["Message"]
    assert target.txt_values(f"_acme-challenge.{PREFIX}") == []


def test_second_scheduled_run_skips_and_writes_nothing(target, fast_clocks):
    renew(fast_clocks)
    target.notices(target.success_queue)
    before = target.objects()

    result = renew(fast_clocks)

    assert result[f"*.{PREFIX}, {PREFIX}"]["outcome"] == "not-due"
    assert result[f"*.{PREFIX}, {PREFIX}"]["renew_at"]
    assert target.objects() == before
    assert target.notices(target.success_queue) == []


def test_foreign_txt_value_survives_issuance_and_cleanup(target, fast_clocks):
    name = f"_acme-challenge.{PREFIX}"
    target.route53.change_resource_record_sets(HostedZoneId=target.zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": 300,
                                                  "ResourceRecords": [{"Value": '"someone-elses-token"'}]}}]})

    renew(fast_clocks)

    assert target.txt_values(name) == ['"someone-elses-token"']


def test_failed_validation_cleans_up_notifies_raises_and_spares_the_other(target, dns_server, pebble,
                                                                          fast_clocks, monkeypatch):
    other = CertificateTarget("example.net", "other")
    monkeypatch.setenv("CERTIFICATES", json.dumps([
        target.item([f"*.{PREFIX}", PREFIX]),
        other.item([f"*.{OTHER_PREFIX}"]),
    ]))
    dns_server.override_txt(f"_acme-challenge.{PREFIX}", ["not-the-right-value"])

    with pytest.raises(RenewalFailed, match=PREFIX) as failed:
        renew(fast_clocks)

    # Every certificate's outcome, on the error and in its message (all an invoked function's
    # error carries): the other one was issued and stored.
    assert str(failed.value).splitlines()[0] == f"renewal failed for: *.{PREFIX}, {PREFIX}"
    outcomes = failed.value.outcomes
    assert outcomes_in(str(failed.value)) == outcomes
    assert outcomes[f"*.{PREFIX}, {PREFIX}"]["outcome"] == "failed" and outcomes[f"*.{PREFIX}, {PREFIX}"]["error"]
    assert outcomes[f"*.{OTHER_PREFIX}"]["outcome"] == "issued"
    # No certificate stored; the challenge journal is there, and names nothing left.
    assert list(target.objects()) == [target.prefix + "challenges.json"]
    assert json.loads(target.read("challenges.json")) == {"challenges": []}
    assert target.txt_values(f"_acme-challenge.{PREFIX}") == []
    (notice,) = target.notices(target.failure_queue)
    assert PREFIX in notice["Subject"] and "error:" in notice["Message"]
    verify_chain(other.read("cert.pem"), pebble.root_pem(), f"abc.{OTHER_PREFIX}")
    assert other.txt_values(f"_acme-challenge.{OTHER_PREFIX}") == []


def rejecting_nonces(times_in_a_row: int):
    """Answers each signed request (POST) to the CA with badNonce `times_in_a_row` times before
    letting it through, at the HTTP layer under the ACME library (its transport adapter)."""
    real_send = requests.adapters.HTTPAdapter.send
    rejected: dict[str, int] = {}

    def send(adapter, request, *args, **kwargs):
        if request.method != "POST" or rejected.get(request.url, 0) >= times_in_a_row:
            rejected.pop(request.url, None)  # the next request to this URL is rejected afresh
            return real_send(adapter, request, *args, **kwargs)
        rejected[request.url] = rejected.get(request.url, 0) + 1
        send.rejections += 1
        response = requests.Response()
        response.status_code, response.url, response.request = 400, request.url, request
        response.headers["Content-Type"] = "application/problem+json"
        response._content = json.dumps({"type": "urn:ietf:params:acme:error:badNonce",
                                         "detail": "injected nonce rejection", "status": 400}).encode()
        return response

    send.rejections = 0
    return send


def test_nonce_rejections_beyond_the_libraries_retry_never_fail_an_issuance(target, fast_clocks, monkeypatch):
    # The acme library retries a badNonce once; two in a row, which Pebble's 5% random rejections
    # make common enough over an issuance's dozen signed requests, need the product's own retry.
    # Here every signed request is rejected twice in a row, so nothing passes without it.
    send = rejecting_nonces(times_in_a_row=2)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)

    result = renew(fast_clocks)

    assert result[f"*.{PREFIX}, {PREFIX}"]["outcome"] == "issued"
    assert send.rejections >= 2 * 8  # account, order, 2 authorizations, 2 challenges, finalize, certificate


def test_challenge_values_are_recorded_before_they_are_written(target, fast_clocks):
    journal_at_write = []

    def look_at_the_journal(request, **_):
        if b"<Action>CREATE</Action>" in request.body:
            body = boto3.client("s3").get_object(Bucket=target.bucket, Key=target.prefix + "challenges.json")
            recorded = {entry["value"] for entry in json.loads(body["Body"].read())["challenges"]}
            written = set(re.findall(rb'<Value>"([^"]+)"</Value>', request.body))
            journal_at_write.append((recorded, {value.decode() for value in written}))

    with hooked(client("route53"), "before-send.route53.ChangeResourceRecordSets", look_at_the_journal):
        renew(fast_clocks)

    ((recorded, written),) = journal_at_write
    assert len(written) == 2 and written <= recorded  # the apex's value and the wildcard's
    assert json.loads(target.read("challenges.json")) == {"challenges": []}  # forgotten once removed


def test_account_key_is_a_securestring_created_once(target, fast_clocks):
    ssm = boto3.client("ssm")
    renew(fast_clocks)
    key = ssm.get_parameter(Name="/tests/LETSENCRYPT_ACCOUNT_KEY", WithDecryption=True)["Parameter"]
    url = ssm.get_parameter(Name="/tests/LETSENCRYPT_ACCOUNT_URL")["Parameter"]

    renew(fast_clocks, force=True)

    again = ssm.get_parameter(Name="/tests/LETSENCRYPT_ACCOUNT_KEY", WithDecryption=True)["Parameter"]
    assert key["Type"] == "SecureString" and again["Value"] == key["Value"] and again["Version"] == 1
    assert url["Value"].startswith("https://")
    assert ssm.get_parameter(Name="/tests/LETSENCRYPT_ACCOUNT_URL")["Parameter"]["Version"] == 1


def test_existing_plain_string_key_of_an_older_deployment_is_reused(target, fast_clocks):
    from chalicelib.certificates.issuer import new_private_key_pem

    ssm = boto3.client("ssm")
    legacy_key = new_private_key_pem()
    ssm.put_parameter(Name="/tests/LETSENCRYPT_ACCOUNT_KEY", Value=legacy_key, Type="String")

    renew(fast_clocks)

    parameter = ssm.get_parameter(Name="/tests/LETSENCRYPT_ACCOUNT_KEY", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "String" and parameter["Value"] == legacy_key
    assert target.read("cert.pem")


def test_forced_reissue_while_the_server_reuses_every_authorization(target, dns_server, fast_clocks, monkeypatch):
    with running_pebble(dns_server.port, extra_env={"PEBBLE_AUTHZREUSE": "100"}) as reusing:
        monkeypatch.setenv("ACME_DIRECTORY_URL", reusing.directory_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(reusing.listener_ca_path))
        first = renew(fast_clocks)[f"*.{PREFIX}, {PREFIX}"]
        # Every authorization is valid already: the reissue must not wait on a challenge.
        dns_server.override_txt(f"_acme-challenge.{PREFIX}", ["a-challenge-would-fail-now"])
        second = renew(fast_clocks, force=True)[f"*.{PREFIX}, {PREFIX}"]
        chain = target.read("cert.pem")
        root = reusing.root_pem()

    assert second["outcome"] == "issued" and second["serial"] != first["serial"]
    verify_chain(chain, root, PREFIX)


def test_not_due_run_logs_when_it_will_be(target, fast_clocks, logs):
    renew(fast_clocks)
    logs.clear()

    renew(fast_clocks)

    (line,) = [line for line in logs if line["message"] == "Certificate not due"]
    assert line["renew_at"] and line["domains"] == [f"*.{PREFIX}", PREFIX]


def test_failing_notification_is_logged_and_changes_no_outcome(target, fast_clocks, logs, monkeypatch):
    missing_topic = "arn:aws:sns:eu-west-2:123456789012:deleted-topic"
    monkeypatch.setenv("CERTIFICATES", json.dumps([
        target.item([f"*.{PREFIX}", PREFIX], successSnsTopicArn=missing_topic)]))

    result = renew(fast_clocks)

    assert result[f"*.{PREFIX}, {PREFIX}"]["outcome"] == "issued"
    assert target.read("cert.pem")
    assert any(line["message"] == "Could not send notification" and line["topic_arn"] == missing_topic
               for line in logs)


def test_cleanup_failure_is_logged_and_never_hides_the_validation_error(target, dns_server, fast_clocks, logs):
    # Route53 throttles every change that only removes values (the cleanup), even after retries.
    cleanup_throttled = failing(400, "Throttling", when=lambda request: b"<Action>CREATE</Action>" not in request.body)
    dns_server.override_txt(f"_acme-challenge.{PREFIX}", ["wrong"])

    with hooked(client("route53"), "before-send.route53.ChangeResourceRecordSets", cleanup_throttled), \
            pytest.raises(RenewalFailed):
        renew(fast_clocks)

    (notice,) = target.notices(target.failure_queue)
    assert "IssuanceError" in notice["Message"] and "Throttling" not in notice["Message"]
    assert any(line["message"].startswith("Could not remove challenge records") for line in logs)


def test_days_remaining_metric_covers_every_certificate_and_zero_for_a_failed_one(
        target, dns_server, fast_clocks, monkeypatch, capsys):
    other = CertificateTarget("example.net", "other")
    monkeypatch.setenv("CERTIFICATES", json.dumps([
        target.item([f"*.{PREFIX}", PREFIX]), other.item([f"*.{OTHER_PREFIX}"])]))
    dns_server.override_txt(f"_acme-challenge.{OTHER_PREFIX}", ["wrong"])
    capsys.readouterr()

    with pytest.raises(RenewalFailed):
        renew(fast_clocks)

    (failed, issued), _document = emitted_days_remaining(capsys.readouterr().out)
    assert failed == 0.0
    assert 5 * 365 - 2 < issued < 5 * 365 + 2  # Pebble issues for five years


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_days_remaining_metric_names_its_function_so_each_stage_alarms_on_its_own(
        stage, target, fast_clocks, monkeypatch, capsys):
    function = f"task-subdomains-{stage}-renew_certificates"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)  # set by Lambda in every invocation
    capsys.readouterr()

    renew(fast_clocks)

    values, document = emitted_days_remaining(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "TaskSubdomains"
    assert sorted(map(sorted, directive["Dimensions"])) == [["FunctionName", "service"]]
    assert (document["service"], document["FunctionName"]) == ("task-subdomains", function)
    assert len(values) == 1


def test_configured_profile_is_requested_in_the_new_order(target, fast_clocks, monkeypatch, caplog):
    import logging

    monkeypatch.setenv("CERTIFICATES", json.dumps([target.item([f"*.{PREFIX}", PREFIX], profile="shortlived")]))
    caplog.set_level(logging.DEBUG, logger="acme.client")  # the acme library logs each JWS payload

    renew(fast_clocks)

    payloads = [r.args[0] for r in caplog.records if r.msg.startswith("JWS payload:") and r.args]
    # A request Pebble refused with badNonce (5% of them) is sent again with the same payload.
    orders = [json.loads(p) for p in dict.fromkeys(payloads) if b'"identifiers"' in p]
    assert [order.get("profile") for order in orders] == ["shortlived"]
    assert {i["value"] for i in orders[0]["identifiers"]} == {f"*.{PREFIX}", PREFIX}


@pytest.mark.parametrize("message", ["renewal failed for: x", "renewal failed for: x\noutcomes: not json",
                                     "renewal failed for: x\noutcomes: [1]"])
def test_a_message_without_readable_outcomes_has_none(message):
    assert outcomes_in(message) is None
