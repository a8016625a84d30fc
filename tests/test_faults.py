"""Faults: storage failing halfway, crashed runs, concurrent first runs, and secrets in logs."""

import base64
import json
import logging
import re
import threading

import boto3
import josepy as jose
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chalicelib.certificates.issuer import new_private_key_pem
from chalicelib.certificates.renewal import CertificateRenewal, RenewalAdapters, RenewalFailed, renew_certificates
from chalicelib.certificates.settings import RenewalSettings
from chalicelib.shared.aws_clients import client
from chalicelib.shared.configuration import ConfigurationError
from tests.certificates import key_matches
from tests.fault_injection import failing
from tests.helpers import hooked

PREFIX = "eu-west-2.browser.example.com"
LABEL = f"*.{PREFIX}, {PREFIX}"


@pytest.fixture
def target(certificate_target):
    return certificate_target("faults", [f"*.{PREFIX}", PREFIX])


def deny_put_of(key_suffix):
    """S3 answers AccessDenied to a PutObject of that key (not retried, as in AWS)."""
    return failing(403, "AccessDenied", xml_root="",
                   when=lambda request: request.method == "PUT" and request.url.split("?")[0].endswith(key_suffix))


def test_storage_failing_after_issuance_is_raised_notified_and_issued_again(target, fast_clocks):
    hook = deny_put_of("/metadata.json")  # cert.pem and key.pem are already written by then
    with hooked(client("s3"), "before-send.s3.PutObject", hook), pytest.raises(RenewalFailed):
        renew_certificates({}, fast_clocks)
    (notice,) = target.notices(target.failure_queue)
    assert "AccessDenied" in notice["Message"]
    half_stored_serial = target.read("cert.pem")

    result = renew_certificates({}, fast_clocks)  # a scheduled run, not forced

    assert result[LABEL]["outcome"] == "issued"
    assert target.read("cert.pem") != half_stored_serial
    assert json.loads(target.read("metadata.json"))["serial"] == result[LABEL]["serial"]


def test_forced_renewal_failing_after_key_pem_is_repaired_by_the_next_scheduled_run(target, fast_clocks):
    renew_certificates({}, fast_clocks)
    hook = deny_put_of("/cert.pem")  # key.pem of the new certificate is written by then
    with hooked(client("s3"), "before-send.s3.PutObject", hook), pytest.raises(RenewalFailed):
        renew_certificates({"force": True}, fast_clocks)
    assert not key_matches(target.read("key.pem"), target.read("cert.pem"))  # the broken pair tasks would load

    result = renew_certificates({}, fast_clocks)  # scheduled, not forced: not due by the dates

    assert result[LABEL]["outcome"] == "issued"
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert json.loads(target.read("metadata.json"))["serial"] == result[LABEL]["serial"]
    assert renew_certificates({}, fast_clocks)[LABEL]["outcome"] == "not-due"


def test_objects_of_two_overlapping_runs_are_repaired_by_the_next_run(target, fast_clocks, logs):
    renew_certificates({}, fast_clocks)
    first_key = target.read("key.pem")
    renew_certificates({"force": True}, fast_clocks)
    # The slower of two overlapping runs wrote its key.pem last.
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=first_key.encode())

    result = renew_certificates({}, fast_clocks)

    assert result[LABEL]["outcome"] == "issued"
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    (warning,) = [line for line in logs if line["message"].startswith("Stored certificate objects do not match")]
    assert warning["problems"] == ["key.pem does not belong to the certificate in cert.pem"]


def overlapping_run_writing_key_pem(target, key_pem, times):
    """Before each of our metadata.json PUTs, another run's key.pem lands (up to `times` times)."""
    def hook(request, **_):
        if hook.fired < times and request.url.split("?")[0].endswith("/metadata.json"):
            hook.fired += 1
            boto3.client("s3").put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=key_pem.encode())

    hook.fired = 0
    return hook


def test_a_run_whose_key_pem_is_overwritten_while_it_stores_writes_its_pair_again(target, fast_clocks):
    renew_certificates({}, fast_clocks)
    hook = overlapping_run_writing_key_pem(target, target.read("key.pem"), times=1)
    with hooked(client("s3"), "before-send.s3.PutObject", hook):
        result = renew_certificates({"force": True}, fast_clocks)

    assert hook.fired == 1 and result[LABEL]["outcome"] == "issued"
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert json.loads(target.read("metadata.json"))["serial"] == result[LABEL]["serial"]


def test_a_run_that_cannot_store_a_matching_pair_does_not_report_stored(target, fast_clocks):
    renew_certificates({}, fast_clocks)
    hook = overlapping_run_writing_key_pem(target, target.read("key.pem"), times=10)
    with hooked(client("s3"), "before-send.s3.PutObject", hook), pytest.raises(RenewalFailed):
        renew_certificates({"force": True}, fast_clocks)

    (notice,) = target.notices(target.failure_queue)
    assert "StorageInconsistent" in notice["Message"] and "key.pem does not belong" in notice["Message"]
    assert len(target.notices(target.success_queue)) == 1  # the first run's: none for the broken store
    assert renew_certificates({}, fast_clocks)[LABEL]["outcome"] == "issued"  # the next run repairs it
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))


def test_challenge_values_left_by_a_crashed_run_do_not_break_the_next(target, fast_clocks):
    # A run killed between publishing its challenge values and cleaning them up (a Lambda
    # timeout) leaves them behind; they look like anyone else's values to the next run.
    name = f"_acme-challenge.{PREFIX}"
    leftovers = ['"mZz1bYw3oL0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"', '"Qq9sYw3oL0xBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"']
    target.route53.change_resource_record_sets(HostedZoneId=target.zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": 60,
                                                  "ResourceRecords": [{"Value": v} for v in leftovers]}}]})

    result = renew_certificates({}, fast_clocks)

    assert result[LABEL]["outcome"] == "issued"
    assert target.txt_values(name) == sorted(leftovers)


def test_two_concurrent_first_renewals_share_one_account(target, fast_clocks):
    both_have_a_key = threading.Barrier(2)
    generate = new_private_key_pem

    def generate_in_step():
        key = generate()
        both_have_a_key.wait(timeout=20)  # both found no key, both made one, neither has written
        return key

    outcomes, errors = [], []

    def first_run():
        settings = RenewalSettings.from_environment()
        renewal = CertificateRenewal(settings, RenewalAdapters.from_clients(settings), fast_clocks,
                                     new_account_key=generate_in_step)
        try:
            outcomes.append(renewal.run(force=False)[LABEL]["outcome"])
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    runs = [threading.Thread(target=first_run) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)

    assert errors == [] and outcomes == ["issued", "issued"]
    ssm = boto3.client("ssm")
    key = ssm.get_parameter(Name="/faults/LETSENCRYPT_ACCOUNT_KEY", WithDecryption=True)["Parameter"]
    assert key["Version"] == 1 and key["Type"] == "SecureString"
    url = ssm.get_parameter(Name="/faults/LETSENCRYPT_ACCOUNT_URL")["Parameter"]["Value"]
    history = ssm.get_parameter_history(Name="/faults/LETSENCRYPT_ACCOUNT_URL")["Parameters"]
    assert {entry["Value"] for entry in history} == {url}  # both runs ended on the same account


def test_no_private_key_material_in_any_log(target, cluster, app_module, fast_clocks, capfd, caplog, logs):
    caplog.set_level(logging.DEBUG)  # every library's debug output too (acme logs its JWS payloads)
    renew_certificates({"force": True}, fast_clocks)
    task = cluster.run_task(public_ip="203.0.113.50")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)
    captured = capfd.readouterr()
    app_json_lines = "\n".join(json.dumps(line) for line in logs)
    everything = captured.out + captured.err + caplog.text + app_json_lines

    assert "Certificate issued" in everything and '"outcome": "removed"' in app_json_lines
    assert "PRIVATE KEY" not in everything
    for secret_pem in (target.read("key.pem"), boto3.client("ssm").get_parameter(
            Name="/faults/LETSENCRYPT_ACCOUNT_KEY", WithDecryption=True)["Parameter"]["Value"]):
        body_lines = [line for line in secret_pem.splitlines() if line and not line.startswith("-----")]
        assert not any(line in everything for line in body_lines)
    # JWK private members ("d", and RSA's "p", "q", "dp", "dq", "qi") never appear as JSON keys,
    # nor as the keys of a Python dict's repr.
    assert not re.search(r"""["'](d|p|q|dp|dq|qi)["']\s*:\s*["']""", everything)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hostile_account_keys() -> dict[str, tuple[str, list[str]]]:
    """Account key documents the ACME library refuses, with the secret parts each one carries."""
    ed25519 = Ed25519PrivateKey.generate()
    okp_d = _b64url(ed25519.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption()))
    okp_x = _b64url(ed25519.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    rsa_jwk = json.loads(jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)).json_dumps())
    secrets = [rsa_jwk[member] for member in ("d", "p", "q", "dp", "dq", "qi")]
    mismatched = {**rsa_jwk, "n": json.loads(jose.JWKRSA(
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048)).json_dumps())["n"]}
    pem_body = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRETSECRETSECRET"
    return {
        "ed25519-okp-jwk": (json.dumps({"kty": "OKP", "crv": "Ed25519", "d": okp_d, "x": okp_x}), [okp_d]),
        "hand-edited-lower-case-kty": (json.dumps({**rsa_jwk, "kty": "rsa"}), secrets),
        "rsa-jwk-with-foreign-modulus": (json.dumps(mismatched), secrets),
        "truncated-pem": (f"-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----\n", [pem_body]),
    }


HOSTILE_ACCOUNT_KEYS = _hostile_account_keys()


@pytest.mark.parametrize("kind", sorted(HOSTILE_ACCOUNT_KEYS))
def test_unusable_account_key_never_reaches_a_log_a_notice_or_an_error(
        kind, target, fast_clocks, capfd, caplog, logs):
    document, secrets = HOSTILE_ACCOUNT_KEYS[kind]
    caplog.set_level(logging.DEBUG)
    renew_certificates({}, fast_clocks)  # a certificate is stored: the not-due path parses the key too
    boto3.client("ssm").put_parameter(Name="/faults/LETSENCRYPT_ACCOUNT_KEY", Value=document,
                                      Type="SecureString", Overwrite=True)

    not_due = renew_certificates({}, fast_clocks)  # asks the CA for renewal information: a warning
    with pytest.raises(RenewalFailed) as forced:
        renew_certificates({"force": True}, fast_clocks)

    captured = capfd.readouterr()
    notices = json.dumps(target.notices(target.failure_queue))
    everything = "\n".join([captured.out, captured.err, caplog.text, json.dumps(logs), notices,
                            json.dumps(not_due), str(forced.value), repr(forced.value)])
    for secret in secrets:
        assert secret not in everything
    assert not re.search(r"""["'](d|p|q|dp|dq|qi)["']\s*:\s*["']""", everything)
    assert "SSM parameter /faults/LETSENCRYPT_ACCOUNT_KEY" in notices  # names the parameter
    assert not_due[LABEL]["outcome"] == "not-due"


def test_unreachable_ca_never_fails_a_certificate_that_is_not_due(target, fast_clocks, monkeypatch, logs):
    renew_certificates({}, fast_clocks)
    monkeypatch.setenv("ACME_DIRECTORY_URL", "https://127.0.0.1:9/dir")  # nothing listens there

    result = renew_certificates({}, fast_clocks)

    assert result[LABEL]["outcome"] == "not-due"
    assert any(line["message"].startswith("ACME renewal information unavailable") for line in logs)
    assert target.notices(target.failure_queue) == []


def test_damaged_stored_certificate_is_replaced_by_the_next_run(target, fast_clocks):
    renew_certificates({}, fast_clocks)
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "cert.pem", Body=b"not a certificate")

    result = renew_certificates({}, fast_clocks)

    assert result[LABEL]["outcome"] == "issued"
    assert target.read("cert.pem").startswith("-----BEGIN CERTIFICATE-----")


class LambdaContext:
    def __init__(self, remaining_ms):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self):
        return self.remaining_ms


def test_invocation_near_its_timeout_stops_waiting_and_reports_instead(target, app_module):
    with pytest.raises(RenewalFailed):
        app_module.renew_certificates({}, LambdaContext(remaining_ms=30_000))  # under the wrap-up margin

    (notice,) = target.notices(target.failure_queue)
    assert "no time left" in notice["Message"]
    assert target.objects() == {}


def test_invocation_with_time_to_spare_issues(target, app_module):
    result = app_module.renew_certificates({}, LambdaContext(remaining_ms=900_000))
    assert result[LABEL]["outcome"] == "issued"


def test_two_certificates_at_one_storage_location_store_nothing_and_name_both(target, fast_clocks, monkeypatch):
    monkeypatch.setenv("CERTIFICATES", json.dumps([target.item([f"*.{PREFIX}", PREFIX]),
                                                   target.item([f"other.{PREFIX}"])]))

    with pytest.raises(ConfigurationError, match=r"^CERTIFICATES\[0\] and CERTIFICATES\[1\] are both stored at"):
        renew_certificates({}, fast_clocks)

    assert target.objects() == {}
    assert target.notices(target.success_queue) == []
