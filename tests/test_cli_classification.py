"""What status and doctor conclude from what they read: pure functions, no AWS."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.certificates.policy import CertificateFacts, lifetime_renewal_time
from chalicelib.certificates.settings import CertificateSpec, RenewalSettings
from chalicelib.certificates.store import StoredCertificate
from chalicelib.shared.records import RecordSet, record_set
from chalicelib.task_records.events import task_event_pattern
from chalicelib.task_records.ownership import ownership_marker
from chalicelib.task_records.tasks import Task, TaskAddresses
from operator_cli.doctor.deployment_checks import DeployedFunction, Rule, deployment_checks, expected_functions
from operator_cli.doctor.doctor import certificate_coverage_check
from operator_cli.doctor.storage_checks import BucketFacts, account_parameter_check, bucket_checks
from operator_cli.doctor.zones import HostedZone, containment_check, zone_check
from operator_cli.status.certificate_status import EXPIRY_ATTENTION, certificate_status
from operator_cli.status.task_status import task_event_writer, task_records_status

PREFIX = "eu-west-2.browser.example.com"
SPEC = CertificateSpec(domains=(f"*.{PREFIX}", PREFIX), zone_id="Z1", bucket="certs", prefix=f"{PREFIX}/")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LIFETIME = timedelta(days=90)


def stored(issued: datetime, names=SPEC.domains, problems=()) -> StoredCertificate:
    facts = CertificateFacts(names=tuple(names), serial="0abc", not_before=issued, not_after=issued + LIFETIME)
    return StoredCertificate(fullchain_pem="", facts=facts, problems=tuple(problems))


class TestCertificateStatus:
    def test_nothing_stored_is_missing_and_needs_attention(self):
        status = certificate_status(SPEC, None, NOW, None)
        assert (status.state, status.needs_attention, status.due) == ("missing", True, True)
        assert status.location == "s3://certs/eu-west-2.browser.example.com/"

    def test_a_fresh_certificate_is_ok_and_renews_by_the_functions_lifetime_rule(self):
        certificate = stored(NOW - timedelta(days=10))
        status = certificate_status(SPEC, certificate, NOW, None)
        assert (status.state, status.needs_attention, status.due) == ("ok", False, False)
        assert status.renew_at == lifetime_renewal_time(certificate.facts.not_before, certificate.facts.not_after)
        assert status.days_left == (certificate.facts.not_after - NOW).total_seconds() / 86400
        assert status.serial == certificate.facts.serial

    def test_the_cas_renewal_information_decides_when_it_gives_one(self):
        suggested = NOW + timedelta(days=3)
        status = certificate_status(SPEC, stored(NOW - timedelta(days=10)), NOW, suggested)
        assert (status.renew_at, status.renew_rule) == (suggested, "ACME renewal information")

    @pytest.mark.parametrize("left, attention", [(EXPIRY_ATTENTION - timedelta(hours=1), True),
                                                 (EXPIRY_ATTENTION + timedelta(hours=1), False)])
    def test_within_14_days_of_expiry_it_needs_attention(self, left, attention):
        certificate = stored(NOW + left - LIFETIME)
        assert certificate_status(SPEC, certificate, NOW, None).needs_attention is attention

    def test_an_expired_certificate_needs_attention(self):
        status = certificate_status(SPEC, stored(NOW - LIFETIME - timedelta(days=1)), NOW, None)
        assert (status.state, status.needs_attention) == ("expired", True)
        assert status.days_left < 0

    def test_stored_objects_that_disagree_are_unusable_and_due(self):
        status = certificate_status(SPEC, stored(NOW - timedelta(days=1), problems=["key.pem is missing"]), NOW, None)
        assert (status.state, status.needs_attention, status.due) == ("unusable", True, True)
        assert status.problems == ("key.pem is missing",)

    def test_other_names_than_configured_are_due_but_still_serve(self):
        status = certificate_status(SPEC, stored(NOW - timedelta(days=1), names=[PREFIX]), NOW, None)
        assert (status.state, status.needs_attention, status.due) == ("names-differ", False, True)


OWNER = "0123456789abcdef"
CLUSTER = "arn:aws:ecs:eu-west-2:123456789012:cluster/c"


def task(task_id: str, eni: str | None = None, last_status: str = "RUNNING") -> Task:
    attachments = [{"type": "ElasticNetworkInterface", "details": [{"name": "networkInterfaceId", "value": eni}]}] \
        if eni else []
    return Task(f"arn:aws:ecs:eu-west-2:123456789012:task/c/{task_id}", "RUNNING", last_status, attachments)


def records(name: str, *sets: tuple[str, tuple[str, ...]]) -> list[RecordSet]:
    return [record_set(name, record_type, 60, values) for record_type, values in sets]


def ours(name: str, *addresses: str) -> list[RecordSet]:
    return records(name, ("TXT", (ownership_marker(OWNER),)), ("A", addresses))


class TestTaskRecordsStatus:
    def classify(self, tasks, addresses, existing):
        return task_records_status(tasks, addresses, existing, PREFIX, "Z1", OWNER)

    def test_each_running_task_and_each_name_lands_in_exactly_one_place(self):
        published, moved, unpublished, no_ip, foreign, starting = (
            "aaaa0001", "aaaa0002", "aaaa0003", "aaaa0004", "aaaa0005", "aaaa0006")
        tasks = [task(published, "eni-00000001"), task(moved, "eni-00000002"), task(unpublished, "eni-00000003"),
                 task(no_ip, "eni-00000004"), task(foreign, "eni-00000005"), task(starting, last_status="PROVISIONING")]
        addresses = {"eni-00000001": TaskAddresses(ipv4=("203.0.113.1",)),
                     "eni-00000002": TaskAddresses(ipv4=("203.0.113.2",)),
                     "eni-00000003": TaskAddresses(ipv4=("203.0.113.3",)),
                     "eni-00000004": TaskAddresses(),
                     "eni-00000005": TaskAddresses(ipv4=("203.0.113.5",))}
        existing = [*ours(f"{published}.{PREFIX}", "203.0.113.1"), *ours(f"{moved}.{PREFIX}", "198.51.100.9"),
                    *records(f"{foreign}.{PREFIX}", ("CNAME", ("elsewhere.example.net.",))),
                    *ours(f"gone0001.{PREFIX}", "203.0.113.99")]

        status = self.classify(tasks, addresses, existing)

        assert {(t.hostname, t.in_sync) for t in status.with_record} == {
            (f"{published}.{PREFIX}", True), (f"{moved}.{PREFIX}", False)}
        reasons = {t.hostname: t.reason for t in status.without_record}
        assert set(reasons) == {f"{n}.{PREFIX}" for n in (unpublished, no_ip, foreign, starting)}
        assert "not published yet" in reasons[f"{unpublished}.{PREFIX}"]
        assert "no public IP" in reasons[f"{no_ip}.{PREFIX}"]
        assert "not ours" in reasons[f"{foreign}.{PREFIX}"]
        assert "PROVISIONING" in reasons[f"{starting}.{PREFIX}"]
        assert status.orphaned == (f"gone0001.{PREFIX}",)
        assert [(f.hostname, f.types) for f in status.foreign] == [(f"{foreign}.{PREFIX}", ("CNAME",))]

    def test_another_deployments_marker_is_foreign(self):
        other = records(f"bbbb0001.{PREFIX}", ("TXT", (ownership_marker("fedcba9876543210"),)))
        status = self.classify([], {}, other)
        assert [f.hostname for f in status.foreign] == [f"bbbb0001.{PREFIX}"] and status.orphaned == ()

    def test_a_task_id_that_is_not_a_label_never_gets_a_name(self):
        status = self.classify([task("Upper-Case", "eni-00000001")],
                               {"eni-00000001": TaskAddresses(ipv4=("203.0.113.1",))}, [])
        (entry,) = status.without_record
        assert entry.hostname is None and "DNS label" in entry.reason

    def test_a_running_task_without_its_record_is_a_problem_naming_the_writer_of_the_mode(self):
        tasks = [task("aaaa0001", "eni-00000001")]
        addresses = {"eni-00000001": TaskAddresses(ipv4=("203.0.113.1",))}

        per_event = self.classify(tasks, addresses, [])
        buffered = task_records_status(tasks, addresses, [], PREFIX, "Z1", OWNER,
                                       task_event_writer("arn:aws:sqs:eu-west-2:123456789012:q"))

        assert per_event.needs_attention and buffered.needs_attention
        (per_event_problem,), (buffered_problem,) = per_event.problems, buffered.problems
        assert "update_task_dns" in per_event_problem and "reconcile_task_dns" in per_event_problem
        assert "process_task_events" in buffered_problem and "update_task_dns" not in buffered_problem
        assert "reconcile_task_dns" in buffered_problem

    def test_an_owned_record_without_a_running_task_is_a_problem_naming_the_writer(self):
        status = task_records_status([], {}, ours(f"gone0001.{PREFIX}", "203.0.113.9"), PREFIX, "Z1", OWNER,
                                     "process_task_events")
        (problem,) = status.problems
        assert problem.startswith(f"gone0001.{PREFIX}: owned record without a running task")
        assert "process_task_events should have removed it" in problem and "reconcile_task_dns" in problem

    def test_a_record_with_other_addresses_is_a_problem(self):
        status = self.classify([task("aaaa0001", "eni-00000001")],
                               {"eni-00000001": TaskAddresses(ipv4=("203.0.113.1",))},
                               ours(f"aaaa0001.{PREFIX}", "198.51.100.9"))
        (problem,) = status.problems
        assert "198.51.100.9" in problem and "update_task_dns should have updated it" in problem

    def test_records_that_match_the_tasks_and_a_task_still_starting_are_no_problem(self):
        status = self.classify([task("aaaa0001", "eni-00000001"), task("aaaa0002", last_status="PROVISIONING")],
                               {"eni-00000001": TaskAddresses(ipv4=("203.0.113.1",))},
                               [*ours(f"aaaa0001.{PREFIX}", "203.0.113.1"),
                                *records(f"handmade.{PREFIX}", ("CNAME", ("elsewhere.example.net.",)))])
        assert (status.needs_attention, status.problems) == (False, ())
        assert status.as_dict()["needs_attention"] is False


ZONE = HostedZone("Z1", "example.com", private=False)


class TestZoneChecks:
    def test_a_missing_or_private_zone_fails(self):
        assert zone_check("Z1", None, "HOSTED_ZONE_ID").level == "fail"
        assert zone_check("Z1", HostedZone("Z1", "example.com", private=True), "HOSTED_ZONE_ID").level == "fail"
        assert zone_check("Z1", ZONE, "HOSTED_ZONE_ID").level == "ok"

    def test_a_name_outside_the_zone_or_below_a_delegation_is_not_served_by_it(self):
        assert containment_check(PREFIX, ZONE, "HOSTED_ZONE_ID", {}).level == "fail"
        delegated = {PREFIX: [], "browser.example.com": records("browser.example.com", ("NS", ("ns.x.net.",))),
                     "example.com": records("example.com", ("NS", ("ns.aws.",)))}
        check = containment_check(PREFIX, ZONE, "HOSTED_ZONE_ID", delegated)
        assert check.level == "fail" and check.message.startswith("browser.example.com is delegated")
        served = {PREFIX: [], "browser.example.com": [], "example.com": records("example.com", ("NS", ("ns.aws.",)))}
        assert containment_check(PREFIX, ZONE, "HOSTED_ZONE_ID", served).level == "ok"


class TestStorageChecks:
    def test_the_account_key_must_be_a_secure_string(self):
        assert account_parameter_check("/w/K", None).level == "warn"
        assert account_parameter_check("/w/K", "String").level == "fail"
        assert account_parameter_check("/w/K", "SecureString").level == "ok"

    def test_a_bucket_needs_versioning_and_every_public_access_setting(self):
        blocked = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"),
                                True)
        levels = {c.check: c.level for c in bucket_checks(BucketFacts("b", True, True, "Enabled", blocked))}
        assert levels == {"bucket": "ok", "bucket-versioning": "ok", "bucket-public-access": "ok"}
        partly = {**blocked, "RestrictPublicBuckets": False}
        levels = {c.check: c.level for c in bucket_checks(BucketFacts("b", True, True, None, partly))}
        assert levels == {"bucket": "ok", "bucket-versioning": "warn", "bucket-public-access": "fail"}
        assert [c.level for c in bucket_checks(BucketFacts("b", exists=False))] == ["fail"]
        assert [c.level for c in bucket_checks(BucketFacts("b", exists=True, readable=False))] == ["fail"]


def test_the_task_names_must_be_covered_by_a_certificate():
    settings = RenewalSettings(workspace="w", certificates=(SPEC,), directory_url="https://ca/dir")
    assert certificate_coverage_check(PREFIX, settings).level == "ok"
    assert certificate_coverage_check("other.example.com", settings).level == "fail"


class TestDeploymentChecks:
    NAMES = {f: f"app-dev-{f}" for f in expected_functions(None)}

    def deployed(self, function: str, *rules: Rule) -> DeployedFunction:
        return DeployedFunction(self.NAMES[function], f"arn:{function}", rules)

    def test_nothing_deployed_is_skipped(self):
        (check,) = deployment_checks("dev", self.NAMES, dict.fromkeys(self.NAMES), CLUSTER, None)
        assert check.level == "skip"

    def test_queue_mode_expects_the_queue_consumer_instead_of_the_event_function(self):
        assert expected_functions("arn:aws:sqs:eu-west-2:123456789012:q")[0] == "process_task_events"
        assert expected_functions(None)[0] == "update_task_dns"

    def test_each_function_is_judged_by_what_invokes_it(self):
        pattern = task_event_pattern(CLUSTER)  # another one warns: test_doctor_feeds_and_capacity
        found = {"update_task_dns": self.deployed("update_task_dns", Rule("events", True, pattern=pattern)),
                 "reconcile_task_dns": self.deployed("reconcile_task_dns", Rule("r", False, "rate(10 minutes)")),
                 "renew_certificates": None}
        levels = {c.subject: c.level for c in deployment_checks("dev", self.NAMES, found, CLUSTER, None)}
        assert levels == {"app-dev-update_task_dns": "ok", "app-dev-reconcile_task_dns": "fail",
                          "app-dev-renew_certificates": "fail"}
