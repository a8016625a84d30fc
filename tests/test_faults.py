"""Faults: storage failing halfway, crashed runs, concurrent first runs, and secrets in logs."""

import base64
import json
import logging
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

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
from tests.certificates import emitted_days_remaining, key_matches, leaked_fragments
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


def deny_puts_once_key_pem_is_written():
    """S3 refuses every PutObject after the first one of key.pem: an outage that starts halfway
    through storing, and lasts through the run's own attempt to put the previous pair back."""
    def when(request):
        if request.method != "PUT":
            return False
        if request.url.split("?")[0].endswith("/key.pem") and not when.key_written:
            when.key_written = True
            return False
        return when.key_written

    when.key_written = False
    return failing(403, "AccessDenied", xml_root="", when=when)


def ca_unreachable(monkeypatch):
    monkeypatch.setenv("ACME_DIRECTORY_URL", "https://127.0.0.1:9/dir")  # nothing listens there


def days_reported(capsys) -> float:
    (days,), _document = emitted_days_remaining(capsys.readouterr().out)
    return days


def test_storage_failing_after_issuance_is_raised_notified_and_completed_by_the_next_run(target, fast_clocks):
    hook = deny_put_of("/metadata.json")  # cert.pem, key.pem and bundle.pem are already written by then
    with hooked(client("s3"), "before-send.s3.PutObject", hook), pytest.raises(RenewalFailed):
        renew_certificates({}, fast_clocks)
    (notice,) = target.notices(target.failure_queue)
    assert "AccessDenied" in notice["Message"]
    stored_chain = target.read("cert.pem")

    result = renew_certificates({}, fast_clocks)  # a scheduled run, not forced

    # The pair was stored whole: only metadata.json is written, no certificate is issued again.
    assert result[LABEL]["outcome"] == "repaired" and result[LABEL]["repaired_from"] == "bundle.pem"
    assert target.read("cert.pem") == stored_chain
    assert json.loads(target.read("metadata.json"))["serial"] == result[LABEL]["serial"]
    assert renew_certificates({}, fast_clocks)[LABEL]["outcome"] == "not-due"


def test_forced_renewal_failing_after_key_pem_puts_the_previous_pair_back_at_once(target, fast_clocks, capsys):
    first = renew_certificates({}, fast_clocks)[LABEL]
    hook = deny_put_of("/cert.pem")  # key.pem of the new certificate is written by then
    capsys.readouterr()
    with hooked(client("s3"), "before-send.s3.PutObject", hook), pytest.raises(RenewalFailed):
        renew_certificates({"force": True}, fast_clocks)

    # The failed run wrote the previous key back (bundle.pem still held it): tasks never wait
    # for the next run, nor for the CA, to load a matching pair.
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert json.loads(target.read("metadata.json"))["serial"] == first["serial"]
    assert days_reported(capsys) > 5 * 365 - 2
    assert renew_certificates({}, fast_clocks)[LABEL]["outcome"] == "not-due"


def test_pair_left_broken_reports_0_days_and_is_repaired_without_the_ca_by_the_next_run(
        target, fast_clocks, capsys, monkeypatch):
    first = renew_certificates({}, fast_clocks)[LABEL]
    capsys.readouterr()
    with hooked(client("s3"), "before-send.s3.PutObject", deny_puts_once_key_pem_is_written()), \
            pytest.raises(RenewalFailed):
        renew_certificates({"force": True}, fast_clocks)
    # The new key beside the old certificate: what a task loading key.pem and cert.pem gets.
    assert not key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert days_reported(capsys) == 0.0  # so the expiry alarm fires, rather than 1826 days

    ca_unreachable(monkeypatch)
    result = renew_certificates({}, fast_clocks)[LABEL]  # scheduled; S3 is back, the CA is not

    assert result["outcome"] == "repaired" and result["repaired_from"] == "bundle.pem"
    assert result["serial"] == first["serial"]
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert target.read("bundle.pem").startswith(target.read("key.pem").rstrip("\n"))
    assert days_reported(capsys) > 5 * 365 - 2
    assert len(target.notices(target.failure_queue)) == 1  # the forced run's; none for the repair


def test_pair_with_no_match_anywhere_reports_0_days_while_the_ca_is_unreachable(
        target, fast_clocks, capsys, monkeypatch):
    # Without versioning, an overwritten object is gone: no earlier pair to go back to.
    target.s3.put_bucket_versioning(Bucket=target.bucket, VersioningConfiguration={"Status": "Suspended"})
    renew_certificates({}, fast_clocks)
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=new_private_key_pem().encode())
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "bundle.pem", Body=b"damaged")
    ca_unreachable(monkeypatch)
    capsys.readouterr()

    with pytest.raises(RenewalFailed):
        renew_certificates({}, fast_clocks)

    assert days_reported(capsys) == 0.0
    (notice,) = target.notices(target.failure_queue)
    assert "127.0.0.1" in notice["Message"]


def test_pair_is_put_back_from_earlier_versions_when_bundle_pem_holds_none(target, fast_clocks, monkeypatch, logs):
    first = renew_certificates({}, fast_clocks)[LABEL]
    # Both the key and the bundle replaced by hand: only the bucket's versions still hold the key.
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=new_private_key_pem().encode())
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "bundle.pem", Body=b"damaged")
    ca_unreachable(monkeypatch)

    result = renew_certificates({}, fast_clocks)[LABEL]

    assert result["outcome"] == "repaired" and result["serial"] == first["serial"]
    assert result["repaired_from"].startswith("bundle.pem version ")  # an earlier version, not the current one
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert key_matches(target.read("bundle.pem"), target.read("cert.pem"))
    (repaired,) = [line for line in logs if line["message"] == "Stored certificate objects repaired"]
    assert repaired["rewritten"] == ["key.pem", "bundle.pem"]


def test_objects_of_two_overlapping_runs_are_repaired_by_the_next_run(target, fast_clocks, logs):
    renew_certificates({}, fast_clocks)
    first_key = target.read("key.pem")
    forced = renew_certificates({"force": True}, fast_clocks)[LABEL]
    # The slower of two overlapping runs wrote its key.pem last.
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=first_key.encode())

    result = renew_certificates({}, fast_clocks)

    assert result[LABEL]["outcome"] == "repaired" and result[LABEL]["serial"] == forced["serial"]
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
    # The failed run put its own pair back whole from bundle.pem, once the other writer stopped.
    assert key_matches(target.read("key.pem"), target.read("cert.pem"))
    assert renew_certificates({}, fast_clocks)[LABEL]["outcome"] == "not-due"


def test_challenge_values_left_by_a_crashed_run_do_not_break_the_next(target, fast_clocks):
    # Values the challenge journal does not name (another writer's, or left by a version of this
    # code before the journal) look like anyone else's to the next run, and stay.
    name = f"_acme-challenge.{PREFIX}"
    leftovers = ['"mZz1bYw3oL0xAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"', '"Qq9sYw3oL0xBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"']
    target.route53.change_resource_record_sets(HostedZoneId=target.zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": 60,
                                                  "ResourceRecords": [{"Value": v} for v in leftovers]}}]})

    result = renew_certificates({}, fast_clocks)

    assert result[LABEL]["outcome"] == "issued"
    assert target.txt_values(name) == sorted(leftovers)


class InvocationKilled(BaseException):
    """Lambda ending the process: no except or cleanup of the app's runs after it."""


def killed_after_reading_for_cleanup():
    """Route53 hooks that end the invocation right after it read a challenge name for cleanup,
    i.e. the first read after its values were published."""
    def published(http_response, **_):
        published.done = True

    def read(http_response, **_):
        if published.done:
            raise InvocationKilled

    published.done = False
    route53 = client("route53")
    return hooked(route53, "after-call.route53.ChangeResourceRecordSets", published, first=False), \
        hooked(route53, "after-call.route53.ListResourceRecordSets", read, first=False)


def later(clocks, hours=2):
    """The same clocks, `hours` on: past the deadline of any run that started before."""
    return replace(clocks, now=lambda: datetime.now(UTC) + timedelta(hours=hours))


def put_foreign_value(target, name, value='"someone-elses-token"'):
    target.route53.change_resource_record_sets(HostedZoneId=target.zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": 300,
                                                  "ResourceRecords": [{"Value": value}]}}]})
    return value


def test_challenge_values_of_a_run_killed_during_cleanup_are_removed_by_the_next_run_even_when_not_due(
        target, fast_clocks, monkeypatch):
    name = f"_acme-challenge.{PREFIX}"
    foreign = put_foreign_value(target, name)
    renew_certificates({}, fast_clocks)  # stored: the runs below are not due
    # A new account for the forced run: its authorizations are pending, never reused valid ones.
    monkeypatch.setenv("WORKSPACE", "faults-killed")
    kill_hooks = killed_after_reading_for_cleanup()
    with kill_hooks[0], kill_hooks[1], pytest.raises(InvocationKilled):
        renew_certificates({"force": True}, fast_clocks)
    ours = [value for value in target.txt_values(name) if value != foreign]
    assert ours  # the killed run's values stayed in the zone

    soon = renew_certificates({}, fast_clocks)  # the killed run could still be running: left alone
    assert soon[LABEL]["outcome"] == "not-due"
    assert [value for value in target.txt_values(name) if value != foreign] == ours

    result = renew_certificates({}, later(fast_clocks))  # the next scheduled run

    assert result[LABEL] == {"outcome": "not-due", "renew_at": result[LABEL]["renew_at"]}
    assert target.txt_values(name) == [foreign]
    assert json.loads(target.read("challenges.json")) == {"challenges": []}


def throttled_after_the_first_change():
    """Route53 throttles every ChangeResourceRecordSets after the first (the publish), on every
    retry: the cleanup's retries are exhausted."""
    def when(request):
        when.seen += 1
        return when.seen > 1

    when.seen = 0
    return failing(400, "Throttling", when=when)


def test_failed_cleanup_of_a_good_issuance_is_reported_and_removed_by_the_next_run(
        target, fast_clocks, logs):
    name = f"_acme-challenge.{PREFIX}"
    foreign = put_foreign_value(target, name)

    with hooked(client("route53"), "before-send.route53.ChangeResourceRecordSets", throttled_after_the_first_change()):
        result = renew_certificates({}, fast_clocks)

    # A good certificate is not failed for it, but the run does not report a clean success.
    assert result[LABEL]["outcome"] == "issued" and result[LABEL]["challenges_left"] == [name]
    assert any(line["message"].startswith("Could not remove challenge records") and line["level"] == "WARNING"
               for line in logs)
    (notice,) = target.notices(target.success_queue)
    assert "could not be removed; the next run removes them" in notice["Message"]
    assert len(target.txt_values(name)) > 1

    result = renew_certificates({}, later(fast_clocks))

    assert result[LABEL]["outcome"] == "not-due" and "challenges_left" not in result[LABEL]
    assert target.txt_values(name) == [foreign]
    assert any(line["message"] == "Removed challenge values an earlier run left" for line in logs)


def test_leftover_challenge_values_that_cannot_be_removed_are_reported_not_failed(target, fast_clocks):
    name = f"_acme-challenge.{PREFIX}"
    with hooked(client("route53"), "before-send.route53.ChangeResourceRecordSets", throttled_after_the_first_change()):
        renew_certificates({}, fast_clocks)
    throttled = failing(400, "Throttling")

    with hooked(client("route53"), "before-send.route53.ChangeResourceRecordSets", throttled):
        result = renew_certificates({}, later(fast_clocks))

    assert result[LABEL]["outcome"] == "not-due" and result[LABEL]["challenges_left"] == [name]
    assert throttled.answered == 5  # botocore's attempts; then the next run tries again
    assert renew_certificates({}, later(fast_clocks))[LABEL]["outcome"] == "not-due"
    assert target.txt_values(name) == []


def test_two_concurrent_first_renewals_share_one_account(target, fast_clocks):
    """Two first runs both find no account key and both make one; the key is created once and
    both end on one account. The runs are held in step at the points that matter, never left to
    thread timing: both have made a key before either writes it; the second writes its key only
    after the first has (so it is the one refused); and the second goes on past registering only
    once the first run is over, so the two issuances never interleave (that part is the storage
    tests' business, and made this one flaky)."""
    key_parameter, url_parameter = "/faults/LETSENCRYPT_ACCOUNT_KEY", "/faults/LETSENCRYPT_ACCOUNT_URL"
    both_have_a_key = threading.Barrier(2)
    first_wrote_its_key, first_is_done = threading.Event(), threading.Event()
    calling = threading.local()
    attempts = []

    def generate_in_step():
        key = new_private_key_pem()
        both_have_a_key.wait(timeout=20)  # both found no key, both made one, neither has written
        return key

    def before_ssm_call(params, model, **_):
        calling.name, run = params.get("Name"), threading.current_thread().name
        if model.name == "PutParameter" and calling.name == key_parameter and run == "second":
            assert first_wrote_its_key.wait(timeout=20)
        if model.name == "GetParameter" and calling.name == url_parameter and run == "second":
            assert first_is_done.wait(timeout=60)  # registered; the rest waits for the first run

    def after_ssm_call(model, http_response, **_):
        if model.name == "PutParameter" and calling.name == key_parameter:
            attempts.append((threading.current_thread().name, http_response.status_code))
            if threading.current_thread().name == "first":
                first_wrote_its_key.set()

    outcomes, errors = {}, []

    def first_run():
        settings = RenewalSettings.from_environment()
        renewal = CertificateRenewal(settings, RenewalAdapters.from_clients(settings), fast_clocks,
                                     new_account_key=generate_in_step)
        try:
            outcomes[threading.current_thread().name] = renewal.run(force=False)[LABEL]["outcome"]
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            if threading.current_thread().name == "first":
                first_is_done.set()

    ssm = client("ssm")
    with hooked(ssm, "before-parameter-build.ssm", before_ssm_call), hooked(ssm, "after-call.ssm", after_ssm_call):
        runs = [threading.Thread(target=first_run, name=name) for name in ("first", "second")]
        for run in runs:
            run.start()
        for run in runs:
            run.join(timeout=120)

    assert errors == [] and outcomes == {"first": "issued", "second": "issued"}
    assert attempts == [("first", 200), ("second", 400)]  # both tried to create the key; the second was refused
    ssm = boto3.client("ssm")
    key = ssm.get_parameter(Name=key_parameter, WithDecryption=True)["Parameter"]
    assert key["Version"] == 1 and key["Type"] == "SecureString"
    url = ssm.get_parameter(Name=url_parameter)["Parameter"]
    assert url["Version"] == 1  # the second run found the first's account URL: the same account


@pytest.fixture
def app_logger_at_debug():
    """The app's logger at DEBUG for the test. It is built when chalicelib is first imported,
    before the session sets POWERTOOLS_LOG_LEVEL, so it logs at INFO otherwise, and what the
    code logs at DEBUG would go unseen."""
    from chalicelib.shared.logs import logger

    app_logger = logging.getLogger(logger.name)
    level = app_logger.level
    app_logger.setLevel(logging.DEBUG)
    yield
    app_logger.setLevel(level)


def assert_no_secret_in(everything: str, secret_pems) -> None:
    assert "PRIVATE KEY" not in everything
    for secret_pem in secret_pems:
        assert leaked_fragments(secret_pem, everything) == []
    # JWK private members ("d", and RSA's "p", "q", "dp", "dq", "qi") never appear as JSON keys,
    # nor as the keys of a Python dict's repr.
    assert not re.search(r"""["'](d|p|q|dp|dq|qi)["']\s*:\s*["']""", everything)


def test_no_private_key_material_in_any_log(target, cluster, app_module, fast_clocks, capfd, caplog, logs,
                                            app_logger_at_debug):
    caplog.set_level(logging.DEBUG)  # every library's debug output too (acme logs its JWS payloads)
    results = [renew_certificates({}, fast_clocks)]
    first_key = target.read("key.pem")
    results.append(renew_certificates({"force": True}, fast_clocks))
    # A broken pair: the repair reads keys from bundle.pem and writes one back.
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=first_key.encode())
    results.append(renew_certificates({}, fast_clocks))
    task = cluster.run_task(public_ip="203.0.113.50")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)
    captured = capfd.readouterr()
    app_json_lines = "\n".join(json.dumps(line) for line in logs)
    notices = json.dumps(target.notices(target.success_queue) + target.notices(target.failure_queue))
    everything = "\n".join([captured.out, captured.err, caplog.text, app_json_lines, notices, json.dumps(results)])

    assert "Certificate issued" in everything and '"outcome": "removed"' in app_json_lines
    assert results[-1][LABEL]["outcome"] == "repaired"
    assert any(line["level"] == "DEBUG" for line in logs)  # the app's own debug lines are read too
    account_key = boto3.client("ssm").get_parameter(
        Name="/faults/LETSENCRYPT_ACCOUNT_KEY", WithDecryption=True)["Parameter"]["Value"]
    assert_no_secret_in(everything, [first_key, target.read("key.pem"), account_key])


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
        kind, target, fast_clocks, capfd, caplog, logs, app_logger_at_debug):
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
    assert_no_secret_in(everything, [document] if "PRIVATE KEY" in document else [])
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
