"""`task-subdomains status` against the emulator, with certificates issued by Pebble."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from chalicelib.certificates.policy import lifetime_renewal_time
from chalicelib.shared.aws_clients import client
from chalicelib.task_records.ownership import ownership_marker
from chalicelib.task_records.settings import TaskDnsSettings
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.cli import Runtime
from operator_cli.status.certificate_status import EXPIRY_ATTENTION
from operator_cli.status.renewal_information import RenewalInformation
from tests.cli_support import BUCKET, run, set_up_deployment
from tests.fault_injection import failing
from tests.helpers import hooked

STORED_AT = f"s3://{BUCKET}/{DOMAIN_PREFIX}/"


@pytest.fixture
def deployment(cluster, pebble, monkeypatch):
    return set_up_deployment(cluster, monkeypatch, pebble.directory_url)


@pytest.fixture
def runtime(fast_clocks):
    return Runtime(clocks=fast_clocks)


def metadata() -> dict:
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{DOMAIN_PREFIX}/metadata.json")["Body"].read()
    return json.loads(body)


def test_without_a_certificate_status_says_missing_and_exits_1(deployment):
    result = run("status", "--json")

    assert result.exit_code == 1
    (certificate,) = json.loads(result.stdout)["certificates"]
    assert (certificate["state"], certificate["serial"], certificate["location"]) == ("missing", None, STORED_AT)


def test_after_an_issuance_status_shows_serial_days_left_and_when_it_is_due(deployment, runtime):
    issued = run("renew", "--local", "--force", runtime=runtime)
    assert issued.exit_code == 0, issued.output
    stored = metadata()
    assert f"serial {stored['serial']}" in issued.stdout
    now = datetime.now(UTC)
    at_now = replace(runtime, now=lambda: now)

    text = run("status", runtime=at_now)
    as_json = run("status", "--json", runtime=at_now)

    assert (text.exit_code, as_json.exit_code) == (0, 0), text.output + as_json.output
    (certificate,) = json.loads(as_json.stdout)["certificates"]
    not_before, not_after = (datetime.fromisoformat(stored[key]) for key in ("notBefore", "notAfter"))
    assert certificate["serial"] == stored["serial"]
    assert certificate["state"] == "ok" and certificate["objects_compared"] is True
    assert certificate["days_left"] == round((not_after - now).total_seconds() / 86400, 2)
    # Pebble offers no renewal information: the function's lifetime rule decides, as it would.
    assert datetime.fromisoformat(certificate["renew_at"]) == lifetime_renewal_time(not_before, not_after)
    assert stored["serial"] in text.stdout
    assert f"{int((not_after - now).total_seconds() // 86400)} days left" in text.stdout
    assert STORED_AT in text.stdout


def test_a_certificate_that_expires_within_14_days_makes_status_exit_1(deployment, runtime):
    assert run("renew", "--local", "--force", runtime=runtime).exit_code == 0
    not_after = datetime.fromisoformat(metadata()["notAfter"])
    soon = replace(runtime, now=lambda: not_after - EXPIRY_ATTENTION + timedelta(hours=1))

    result = run("status", "--json", runtime=soon)

    assert result.exit_code == 1
    (certificate,) = json.loads(result.stdout)["certificates"]
    assert certificate["state"] == "expiring" and certificate["due"] is True


def test_status_shows_key_objects_it_may_not_read_as_not_compared(deployment, runtime):
    assert run("renew", "--local", "--force", runtime=runtime).exit_code == 0
    # What the bucket policy does to an operator: key.pem and bundle.pem answer AccessDenied.
    denied = failing(403, "AccessDenied", xml_root="",
                     when=lambda request: request.url.split("?")[0].endswith(("/key.pem", "/bundle.pem")))
    with hooked(client("s3"), "before-send.s3.GetObject", denied):
        result = run("status", "--json", runtime=runtime)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (certificate,) = document["certificates"]
    assert certificate["serial"] == metadata()["serial"] and certificate["objects_compared"] is False
    assert any("key.pem" in note for note in document["notes"])


def test_task_records_show_what_reconcile_would_see(deployment, cluster, app_module):
    settings = TaskDnsSettings.from_environment()
    with_record = cluster.run_task(public_ip="203.0.113.10")
    without_record = cluster.run_task(public_ip="203.0.113.11")
    app_module.update_task_dns(cluster.event(with_record, "RUNNING"), None)
    cluster.put_record(f"gone0001.{DOMAIN_PREFIX}", "TXT", [ownership_marker(settings.record_owner_id)])
    cluster.put_record(f"handmade.{DOMAIN_PREFIX}", "CNAME", ["elsewhere.example.net."])

    result = run("status", "--json")

    records = json.loads(result.stdout)["task_records"]
    assert [t["hostname"] for t in records["running_with_record"]] == [cluster.hostname(with_record)]
    assert records["running_with_record"][0]["addresses"] == ["203.0.113.10"]
    assert [t["hostname"] for t in records["running_without_record"]] == [cluster.hostname(without_record)]
    assert records["owned_without_running_task"] == [f"gone0001.{DOMAIN_PREFIX}"]
    assert records["foreign"] == [{"hostname": f"handmade.{DOMAIN_PREFIX}", "types": ["CNAME"]}]
    assert records["owner_id"] == settings.record_owner_id


def test_renewal_information_that_cannot_be_had_means_the_lifetime_rule_and_says_why(deployment, runtime):
    assert run("renew", "--local", "--force", runtime=runtime).exit_code == 0
    fullchain = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{DOMAIN_PREFIX}/cert.pem")["Body"].read().decode()
    # Connection refused at once: nothing listens on port 1.
    unreachable = RenewalInformation("https://127.0.0.1:1/dir")

    assert unreachable.renewal_time(fullchain) is None
    assert len(unreachable.problems) == 1

    result = run("status", "--json", runtime=replace(runtime, renewal_information=lambda url: unreachable))
    document = json.loads(result.stdout)
    assert document["certificates"][0]["renew_rule"] == "share of the lifetime left"
    assert any("renewal information unavailable" in note for note in document["notes"])


def test_status_exits_1_for_a_task_without_its_record_or_a_record_without_its_task_naming_the_writer(
        deployment, cluster, app_module, runtime, monkeypatch):
    assert run("renew", "--local", "--force", runtime=runtime).exit_code == 0  # certificates are fine
    published = cluster.run_task(public_ip="203.0.113.10")
    app_module.update_task_dns(cluster.event(published, "RUNNING"), None)
    assert run("status", runtime=runtime).exit_code == 0  # every running task has its record

    unpublished = cluster.run_task(public_ip="203.0.113.11")
    per_event = run("status", runtime=runtime)

    assert per_event.exit_code == 1, per_event.output
    line = next(line for line in per_event.stdout.splitlines() if cluster.hostname(unpublished) in line)
    assert "update_task_dns should have written it" in line and "reconcile_task_dns" in line

    # Buffered mode: the stage's events go through process_task_events.
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", f"arn:aws:sqs:eu-west-2:123456789012:{cluster.zone_id}-events")
    buffered = run("status", "--json", runtime=runtime)
    records = json.loads(buffered.stdout)["task_records"]
    assert buffered.exit_code == 1
    assert records["writer"] == "process_task_events"
    (problem,) = records["problems"]
    assert problem.startswith(cluster.hostname(unpublished)) and "process_task_events" in problem

    app_module.update_task_dns(cluster.event(unpublished, "RUNNING"), None)
    settings = TaskDnsSettings.from_environment()
    cluster.put_record(f"gone0001.{DOMAIN_PREFIX}", "TXT", [ownership_marker(settings.record_owner_id)])
    orphaned = run("status", runtime=runtime)

    assert orphaned.exit_code == 1
    assert "owned records without a running task: 1 (process_task_events should have removed them" in orphaned.stdout
