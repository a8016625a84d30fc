"""`task-subdomains doctor` against the emulated account: the checks an operator relies on."""

import json

import boto3
import pytest

from chalicelib.certificates.settings import LETSENCRYPT_STAGING
from chalicelib.task_records.events import task_event_pattern
from embedded_stack.aws import ACCOUNT_ID, REGION
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.doctor.negative_caching import NEGATIVE_TTL_LIMIT, Soa, negative_caching_ttl
from tests.cli_support import WORKSPACE, checks_of, run, set_up_deployment
from tests.conftest import CLUSTER_ARN

WILDCARD = f"*.{DOMAIN_PREFIX}"


@pytest.fixture
def deployment(cluster, monkeypatch):
    # Let's Encrypt's directory: its CAA identity is known without asking it (no network here).
    return set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)


def negative_ttl_of(record_set: dict) -> int:
    return negative_caching_ttl(record_set["TTL"], Soa.parse(record_set["ResourceRecords"][0]["Value"]))


def every_record_set(zone_id: str) -> list[dict]:
    pages = boto3.client("route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [record_set for page in pages for record_set in page["ResourceRecordSets"]]


def without_soa_ttl_and_minimum(record_sets: list[dict]) -> list[str]:
    """Each record set as its JSON text, with the SOA's TTL and its last field (the minimum) taken
    out: what `doctor --fix` may change, and nothing else."""
    kept = []
    for record_set in record_sets:
        if record_set["Type"] == "SOA":
            record_set = {**record_set, "TTL": None, "ResourceRecords": [
                {**record, "Value": record["Value"].rsplit(" ", 1)[0]} for record in record_set["ResourceRecords"]]}
        kept.append(json.dumps(record_set, sort_keys=True))
    return kept


def test_a_new_zone_warns_about_negative_caching_and_fix_lowers_only_ttl_and_minimum(deployment):
    before = deployment.soa()
    assert negative_ttl_of(before) > NEGATIVE_TTL_LIMIT  # Route53's default: 900 s

    warned = run("doctor", "--json")

    check = checks_of(warned)[("negative-caching", "example.com")]
    assert check["level"] == "warn"
    assert f"{negative_ttl_of(before)} s" in check["message"] and "doctor --fix" in check["message"]
    assert warned.exit_code == 0, warned.output  # a warning is not a failure
    assert deployment.soa() == before  # without --fix nothing is written

    zone_before = every_record_set(deployment.zone_id)
    fixed = run("doctor", "--fix", "--json")

    assert checks_of(fixed)[("negative-caching", "example.com")]["level"] == "ok"
    after = deployment.soa()
    new = Soa.parse(after["ResourceRecords"][0]["Value"])
    assert (after["TTL"], new.minimum) == (NEGATIVE_TTL_LIMIT, NEGATIVE_TTL_LIMIT)
    # Everything else in the zone, the apex NS and the rest of the SOA included, byte for byte.
    assert without_soa_ttl_and_minimum(every_record_set(deployment.zone_id)) == \
        without_soa_ttl_and_minimum(zone_before)
    again = run("doctor", "--json")
    assert checks_of(again)[("negative-caching", "example.com")]["level"] == "ok"


# doctor --fix itself: tests/test_cli_doctor_fix.py.


def test_a_caa_record_for_another_ca_fails_and_one_for_lets_encrypt_passes(deployment):
    deployment.put("browser.example.com", "CAA", ['0 issue "digicert.com"'])

    refused = run("doctor", "--json")

    assert refused.exit_code == 1
    for name in (WILDCARD, DOMAIN_PREFIX):
        check = checks_of(refused)[("caa", name)]
        assert check["level"] == "fail"
        assert "browser.example.com" in check["message"] and "digicert.com" in check["message"]
        assert "letsencrypt.org" in check["message"]

    deployment.put("browser.example.com", "CAA", ['0 issue "digicert.com"', '0 issue "letsencrypt.org"'])
    allowed = run("doctor", "--json")

    assert allowed.exit_code == 0, allowed.output
    assert {checks_of(allowed)[("caa", name)]["level"] for name in (WILDCARD, DOMAIN_PREFIX)} == {"ok"}


def test_issuewild_decides_for_the_wildcard_name_only(deployment):
    deployment.put("example.com", "CAA", ['0 issue "letsencrypt.org"', '0 issuewild ";"'])

    result = run("doctor", "--json")

    checks = checks_of(result)
    assert (checks[("caa", DOMAIN_PREFIX)]["level"], checks[("caa", WILDCARD)]["level"]) == ("ok", "fail")
    assert result.exit_code == 1


def test_a_ca_without_a_published_identity_cannot_be_checked_against_a_restricting_caa(deployment, pebble,
                                                                                        monkeypatch):
    monkeypatch.setenv("ACME_DIRECTORY_URL", pebble.directory_url)
    deployment.put("example.com", "CAA", ['0 issue "letsencrypt.org"'])

    result = run("doctor", "--json")

    check = checks_of(result)[("caa", DOMAIN_PREFIX)]
    assert check["level"] == "warn" and "caaIdentities" in check["message"]


def test_the_text_output_is_one_line_per_check_with_its_level_first(deployment):
    result = run("doctor")

    lines = result.stdout.splitlines()
    assert len(lines) == len(checks_of(run("doctor", "--json")))
    assert {line.split()[0] for line in lines} <= {"ok", "warn", "fail", "skip"}


def test_a_private_zone_fails(aws, cluster, monkeypatch):
    set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)
    vpc = boto3.client("ec2").create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    private = boto3.client("route53").create_hosted_zone(
        Name="example.com", CallerReference="private", HostedZoneConfig={"PrivateZone": True, "Comment": ""},
        VPC={"VPCRegion": REGION, "VPCId": vpc})["HostedZone"]["Id"].split("/")[-1]
    monkeypatch.setenv("HOSTED_ZONE_ID", private)

    result = run("doctor", "--json")

    assert result.exit_code == 1
    check = checks_of(result)[("zone", private)]
    assert check["level"] == "fail" and "private" in check["message"]


def test_a_missing_zone_and_a_prefix_outside_the_zone_fail(aws, cluster, monkeypatch):
    set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)
    monkeypatch.setenv("HOSTED_ZONE_ID", "Z0NOSUCHZONE")
    missing = run("doctor", "--json")
    assert checks_of(missing)[("zone", "Z0NOSUCHZONE")]["level"] == "fail"

    monkeypatch.setenv("HOSTED_ZONE_ID", cluster.zone_id)
    monkeypatch.setenv("DOMAIN_PREFIX", "eu-west-2.browser.example.org")
    outside = run("doctor", "--json")
    check = checks_of(outside)[("zone-contains", "eu-west-2.browser.example.org")]
    assert check["level"] == "fail" and "not in zone example.com" in check["message"]


def test_a_delegation_between_the_apex_and_the_prefix_fails(deployment):
    deployment.put("browser.example.com", "NS", ["ns-1.elsewhere.example.net."])

    result = run("doctor", "--json")

    check = checks_of(result)[("zone-contains", DOMAIN_PREFIX)]
    assert check["level"] == "fail" and "browser.example.com is delegated" in check["message"]


def test_the_bucket_must_exist_with_versioning_and_public_access_blocked(deployment):
    s3 = boto3.client("s3")
    bucket = deployment.certificates[0]["certStorageBucketName"]
    good = checks_of(run("doctor", "--json"))
    assert {good[(check, bucket)]["level"] for check in ("bucket", "bucket-versioning", "bucket-public-access")} == {
        "ok"}

    s3.delete_public_access_block(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    exposed = run("doctor", "--json")
    assert checks_of(exposed)[("bucket-public-access", bucket)]["level"] == "fail"
    assert checks_of(exposed)[("bucket-versioning", bucket)]["level"] == "warn"
    assert exposed.exit_code == 1

    s3.delete_bucket(Bucket=bucket)
    gone = checks_of(run("doctor", "--json"))
    assert gone[("bucket", bucket)]["level"] == "fail"


def test_the_acme_account_parameter_must_be_a_secure_string(deployment):
    name = f"/{WORKSPACE}/LETSENCRYPT_ACCOUNT_KEY"
    assert checks_of(run("doctor", "--json"))[("acme-account", name)]["level"] == "warn"  # not created yet

    boto3.client("ssm").put_parameter(Name=name, Value="not a real key", Type="String")
    plain = run("doctor", "--json")
    assert checks_of(plain)[("acme-account", name)]["level"] == "fail"
    assert "not a real key" not in plain.output  # described, never read

    boto3.client("ssm").delete_parameter(Name=name)
    boto3.client("ssm").put_parameter(Name=name, Value="not a real key", Type="SecureString")
    assert checks_of(run("doctor", "--json"))[("acme-account", name)]["level"] == "ok"


def test_a_certificate_must_cover_the_task_names(deployment, monkeypatch):
    monkeypatch.setenv("CERTIFICATES", json.dumps([deployment.certificate([DOMAIN_PREFIX], "apex/")]))

    result = run("doctor", "--json")

    assert checks_of(result)[("certificate-names", WILDCARD)]["level"] == "fail"


# Deployed resources, as `chalice deploy --stage dev` names them (tests/test_deploy.py deploys for
# real; here they are made directly, so each wiring mistake can be made on purpose).

def lambda_name(function: str) -> str:
    return f"task-subdomains-dev-{function}"


def deploy_function(function: str) -> str:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=lambda_name(function), AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    return boto3.client("lambda").create_function(
        FunctionName=lambda_name(function), Runtime="python3.11", Role=role, Handler=f"app.{function}",
        Code={"ZipFile": _empty_zip()})["FunctionArn"]


def route(rule: str, target_arn: str, schedule: str | None = None, pattern: dict | None = None) -> None:
    events = boto3.client("events")
    events.put_rule(Name=rule, **({"ScheduleExpression": schedule} if schedule else {}),
                    **({"EventPattern": json.dumps(pattern)} if pattern else {}))
    events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": target_arn}])


def _empty_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


@pytest.fixture
def stage_dev(deployment, monkeypatch):
    """`--stage dev`, its variables overridden by the test's (the environment wins)."""
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", "")
    return deployment


def test_an_undeployed_stage_is_skipped_with_a_note(stage_dev):
    result = run("--stage", "dev", "doctor", "--json")

    check = checks_of(result)[("functions", "stage dev")]
    assert check["level"] == "skip" and lambda_name("renew_certificates") in check["message"]
    assert result.exit_code == 0, result.output


def test_deployed_functions_with_their_rule_and_schedules_pass(stage_dev):
    route("reconcile", deploy_function("reconcile_task_dns"), schedule="rate(10 minutes)")
    route("renew", deploy_function("renew_certificates"), schedule="rate(12 hours)")
    route("events", deploy_function("update_task_dns"), pattern=task_event_pattern(CLUSTER_ARN))

    result = run("--stage", "dev", "doctor", "--json")

    checks = checks_of(result)
    assert checks[("schedule", lambda_name("reconcile_task_dns"))]["level"] == "ok"
    assert "rate(12 hours)" in checks[("schedule", lambda_name("renew_certificates"))]["message"]
    assert checks[("task-events", lambda_name("update_task_dns"))]["level"] == "ok"


def test_a_rule_for_another_cluster_a_disabled_schedule_and_a_missing_function_fail(stage_dev):
    route("reconcile", deploy_function("reconcile_task_dns"), schedule="rate(10 minutes)")
    boto3.client("events").disable_rule(Name="reconcile")
    other_cluster = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/someone-else"
    route("events", deploy_function("update_task_dns"), pattern=task_event_pattern(other_cluster))

    result = run("--stage", "dev", "doctor", "--json")

    checks = checks_of(result)
    assert result.exit_code == 1
    assert checks[("schedule", lambda_name("reconcile_task_dns"))]["level"] == "fail"
    assert "someone-else" not in checks[("task-events", lambda_name("update_task_dns"))]["message"]
    assert CLUSTER_ARN in checks[("task-events", lambda_name("update_task_dns"))]["message"]
    assert checks[("functions", lambda_name("renew_certificates"))]["level"] == "fail"


def test_buffered_mode_checks_the_queue_and_its_mapping_instead_of_the_rule(stage_dev, monkeypatch):
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="task-subdomains-dev-task-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", queue_arn)
    route("reconcile", deploy_function("reconcile_task_dns"), schedule="rate(10 minutes)")
    route("renew", deploy_function("renew_certificates"), schedule="rate(12 hours)")
    deploy_function("process_task_events")

    unmapped = checks_of(run("--stage", "dev", "doctor", "--json"))
    assert unmapped[("task-events", lambda_name("process_task_events"))]["level"] == "fail"
    assert ("task-events", lambda_name("update_task_dns")) not in unmapped

    boto3.client("lambda").create_event_source_mapping(EventSourceArn=queue_arn,
                                                       FunctionName=lambda_name("process_task_events"))
    route("to-queue", queue_arn, pattern=task_event_pattern(CLUSTER_ARN))
    mapped = checks_of(run("--stage", "dev", "doctor", "--json"))
    assert mapped[("task-events", lambda_name("process_task_events"))]["level"] == "ok"
    assert mapped[("task-events-queue", queue_arn)]["level"] == "ok"  # the rule feeding the queue is there
