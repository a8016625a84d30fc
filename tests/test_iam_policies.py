"""Per-function IAM policies: generated from the stage configuration, committed as generated,
and granting no more than each function needs (infra/policy_audit.py)."""

import copy
import fnmatch
import json

import pytest

from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from infra.deployments import (
    CHALICE_DIR,
    FUNCTIONS,
    DeploymentConfigError,
    FunctionDeployment,
    function_deployment,
    function_deployments,
    load_config,
    stage_functions,
    stage_names,
)
from infra.iam_policies import RECORD_NAMES_KEY, policy_document, policy_files
from infra.policy_audit import TASK_ID, audit, may_change_records, string_like
from tests.helpers import load_app

CONFIG = load_config()
DEPLOYMENTS = [deployment for stage in stage_names(CONFIG) for deployment in function_deployments(CONFIG, stage)]
PROD = {deployment.function: deployment for deployment in function_deployments(CONFIG, "prod")}


def task_events_queue_arn(config: dict, stage: str, name: str = "") -> str:
    """A queue in the stage's region and account, as the supporting stack would name it."""
    region, account = config["stages"][stage]["environment_variables"]["CLUSTER_ARN"].split(":")[3:5]
    return f"arn:aws:sqs:{region}:{account}:{name or f'task-subdomains-{stage}-task-events'}"


def buffered(config: dict, **queue_arns: str) -> dict:
    """The configuration with TASK_EVENTS_QUEUE_ARN set at stage level in every stage (or as given)."""
    config = copy.deepcopy(config)
    for stage in stage_names(config):
        config["stages"][stage]["environment_variables"]["TASK_EVENTS_QUEUE_ARN"] = queue_arns.get(
            stage, task_events_queue_arn(config, stage))
    return config


BUFFERED_CONFIG = buffered(CONFIG)
BUFFERED = [deployment for stage in stage_names(BUFFERED_CONFIG)
            for deployment in function_deployments(BUFFERED_CONFIG, stage)]
BUFFERED_PROD = {deployment.function: deployment for deployment in function_deployments(BUFFERED_CONFIG, "prod")}


def hostname_events_queue_arn(config: dict, stage: str) -> str:
    return task_events_queue_arn(config, stage, f"task-subdomains-{stage}-hostname-events")


def with_hostname_events(config: dict, **queue_arns: str) -> dict:
    """The configuration with HOSTNAME_EVENTS_QUEUE_ARN set at stage level in every stage (or as given)."""
    config = copy.deepcopy(config)
    for stage in stage_names(config):
        config["stages"][stage]["environment_variables"]["HOSTNAME_EVENTS_QUEUE_ARN"] = queue_arns.get(
            stage, hostname_events_queue_arn(config, stage))
    return config


HOSTNAMES_CONFIG = with_hostname_events(CONFIG)
BUFFERED_HOSTNAMES_CONFIG = with_hostname_events(BUFFERED_CONFIG)
HOSTNAMES = [deployment for config in (HOSTNAMES_CONFIG, BUFFERED_HOSTNAMES_CONFIG)
             for stage in stage_names(config) for deployment in function_deployments(config, stage)]
HOSTNAMES_PROD = {deployment.function: deployment
                  for config in (HOSTNAMES_CONFIG, BUFFERED_HOSTNAMES_CONFIG)
                  for deployment in function_deployments(config, "prod")}


def by_id(deployment: FunctionDeployment) -> str:
    return f"{deployment.stage}-{deployment.function}"


def statement(policy: dict, sid: str) -> dict:
    return next(s for s in policy["Statement"] if s.get("Sid", "").startswith(sid))


def committed_policy(deployment: FunctionDeployment) -> dict:
    return json.loads((CHALICE_DIR / deployment.policy_file).read_text())


def test_both_stages_are_configured():
    assert set(stage_names(CONFIG)) >= {"dev", "prod"}


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=by_id)
def test_committed_policy_file_is_what_the_stage_configuration_generates(deployment):
    committed = (CHALICE_DIR / deployment.policy_file).read_text()
    assert committed == policy_files(CONFIG)[deployment.policy_file], "run `make policies`"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=by_id)
def test_policy_grants_nothing_beyond_what_the_function_needs(deployment):
    assert audit(deployment, committed_policy(deployment)) == []


@pytest.mark.parametrize("config", [CONFIG, BUFFERED_CONFIG, HOSTNAMES_CONFIG, BUFFERED_HOSTNAMES_CONFIG],
                         ids=["per-event", "buffered", "per-event, hostnames", "buffered, hostnames"])
def test_every_function_of_the_app_gets_its_own_policy_file_in_every_stage(config, monkeypatch):
    for stage in stage_names(config):
        # app.py as chalice loads it to deploy the stage: with the stage-level environment.
        for variable in ("TASK_EVENTS_QUEUE_ARN", "HOSTNAME_EVENTS_QUEUE_ARN"):
            monkeypatch.setenv(variable, config["stages"][stage]["environment_variables"].get(variable, ""))
        registered = {source.name for source in load_app(f"app_{stage}").app.event_sources}
        assert registered == set(stage_functions(config, stage)) and registered <= set(FUNCTIONS)
    files = [deployment.policy_file
             for stage in stage_names(config) for deployment in function_deployments(config, stage)]
    assert len(set(files)) == len(files) == sum(len(stage_functions(config, stage)) for stage in stage_names(config))
    assert set(policy_files(config)) == set(files)


def test_every_committed_policy_file_is_one_the_configuration_generates():
    # A policy file of the other mode's function, left behind, would be read by nobody.
    assert {path.name for path in CHALICE_DIR.glob("policy-*.json")} == set(policy_files(CONFIG))


@pytest.mark.parametrize("change, complaint", [
    # chalice would fall back to one policy-<stage>.json shared by every function
    (lambda settings: settings.pop("iam_policy_file"), "iam_policy_file"),
    # chalice would write its own, broader policy
    (lambda settings: settings.update(autogen_policy=True), "autogen_policy"),
    # a role made elsewhere: these policies would not be applied
    (lambda settings: settings.update(manage_iam_role=False), "manage_iam_role"),
], ids=["no policy file", "autogen policy", "unmanaged role"])
def test_configuration_that_would_not_give_each_function_its_own_policy_is_refused(change, complaint):
    config = copy.deepcopy(CONFIG)
    change(config["stages"]["dev"]["lambda_functions"]["renew_certificates"])
    with pytest.raises(DeploymentConfigError, match=complaint):
        function_deployment(config, "dev", "renew_certificates")


def test_two_functions_sharing_a_policy_file_are_refused():
    config = copy.deepcopy(CONFIG)
    functions = config["stages"]["dev"]["lambda_functions"]
    functions["reconcile_task_dns"]["iam_policy_file"] = functions["update_task_dns"]["iam_policy_file"]
    with pytest.raises(DeploymentConfigError, match="more than one function"):
        policy_files(config)


def test_dns_functions_may_write_task_names_but_not_acme_challenges():
    # IAM's StringLike: "*" matches any run of characters, as fnmatch's does (no [] classes here).
    policy = committed_policy(PROD["update_task_dns"])
    allowed = statement(policy, "WriteTaskRecords")["Condition"]["ForAllValues:StringLike"][RECORD_NAMES_KEY]
    denied = statement(policy, "NeverWriteUnderscoreNames")["Condition"]["ForAnyValue:StringLike"][RECORD_NAMES_KEY]
    prefix = PROD["update_task_dns"].task_dns.domain_prefix

    def matches(patterns, name):
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    task_name, challenge_name = f"3f2c9a.{prefix}", f"_acme-challenge.{prefix}"
    assert matches(allowed, task_name) and not matches(denied, task_name)
    assert matches(allowed, challenge_name), "the allow alone would let a DNS function pass DNS-01"
    assert matches(denied, challenge_name)
    assert not matches(allowed, "www.example.com") and not matches(allowed, prefix)


def test_dns_functions_may_write_one_label_task_names_only():
    # IAM's verdict from the Allow and Deny statements together, on what Route53 checks: the
    # normalized names (lower case, no final dot, "*" and other specials as \\ooo octal escapes).
    deployment = PROD["reconcile_task_dns"]
    policy, prefix = committed_policy(deployment), deployment.task_dns.domain_prefix
    zone = statement(policy, "WriteTaskRecords")["Resource"]

    def may_write(*names, record_type="A"):
        return may_change_records(policy, zone, names, record_type)

    assert may_write(f"{TASK_ID}.{prefix}") and may_write(f"{TASK_ID}.{prefix}", record_type="AAAA")
    assert not may_write(f"\\052.{prefix}"), "the wildcard record"
    assert not may_write(f"a.b.{prefix}") and not may_write(f"{TASK_ID}.{TASK_ID}.{prefix}")
    assert not may_write(f"_acme-challenge.{prefix}") and not may_write(prefix)
    assert not may_write(f"{TASK_ID}.{prefix}", f"\\052.{prefix}"), "one forbidden name refuses the batch"
    assert not may_write(f"{TASK_ID}.{prefix}", record_type="NS")
    assert not may_change_records(policy, "arn:aws:route53:::hostedzone/ZOTHER", [f"{TASK_ID}.{prefix}"], "A")


@pytest.mark.parametrize("pattern, value, matches", [
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "a.b.example.com", True),        # "*" crosses dots
    ("*.example.com", "\\052.example.com", True),      # and backslashes
    ("*.example.com", "example.com", False),
    ("?.example.com", "a.example.com", True),
    ("?.example.com", "ab.example.com", False),
    ("*.Example.com", "a.example.com", False),         # case-sensitive
    ("a.example.com", "a-example.com", False),         # "." is literal, not a regex dot
    ("*\\*", "\\052.example.com", True),
    ("*\\*", "a.example.com", False),
])
def test_iam_string_like(pattern, value, matches):
    assert string_like(pattern, value) is matches


def test_conditions_the_evaluator_does_not_know_can_only_make_the_audit_stricter():
    deployment = PROD["update_task_dns"]
    policy = copy.deepcopy(committed_policy(deployment))
    prefix = deployment.task_dns.domain_prefix
    zone = statement(policy, "WriteTaskRecords")["Resource"]
    # A deny that holds only from some address: it may well not hold for the function.
    statement(policy, "NeverWriteEscapedNames")["Condition"]["IpAddress"] = {"aws:SourceIp": "192.0.2.0/24"}
    assert may_change_records(policy, zone, [f"\\052.{prefix}"], "A")
    # An allow that holds only from some address: it may well hold for the function.
    policy = copy.deepcopy(committed_policy(deployment))
    statement(policy, "WriteTaskRecords")["Condition"]["IpAddress"] = {"aws:SourceIp": "192.0.2.0/24"}
    assert may_change_records(policy, zone, [f"{TASK_ID}.{prefix}"], "A")


def without(sid: str):
    return lambda policy: policy["Statement"].remove(statement(policy, sid))


def deny_for_all_names(sid: str):
    # A deny that holds only when every name of the batch matches: one task name beside lets
    # the forbidden name through.
    return lambda policy: rename(statement(policy, sid)["Condition"], "ForAnyValue:StringLike",
                                 "ForAllValues:StringLike")


def allow_names(pattern: str):
    return lambda policy: statement(policy, "WriteTaskRecords")["Condition"]["ForAllValues:StringLike"].update(
        {RECORD_NAMES_KEY: [pattern]})


def challenge_names_by_pattern(pattern: str):
    def change(policy):
        condition = statement(policy, "WriteChallengeRecords")["Condition"]
        condition["ForAllValues:StringEquals"].pop(RECORD_NAMES_KEY)
        condition["ForAllValues:StringLike"] = {RECORD_NAMES_KEY: [pattern]}
    return change


PREFIX = PROD["update_task_dns"].task_dns.domain_prefix
WRITABLE = {
    # Deny statements taken away or weakened: the allow alone matches these names.
    "no deny of ACME challenges": ("update_task_dns", without("NeverWriteUnderscoreNames"),
                                   f"A records of the ACME challenge (_acme-challenge.{PREFIX}) are allowed"),
    "no deny of the wildcard record": ("update_task_dns", without("NeverWriteEscapedNames"),
                                       f"A records of the wildcard record (\\052.{PREFIX}) are allowed"),
    "no deny of nested names": ("reconcile_task_dns", without("NeverWriteNestedNames"),
                                f"A records of a name two labels deep (x.{TASK_ID}.{PREFIX}) are allowed"),
    "wildcard deny for whole batches only": (
        "update_task_dns", deny_for_all_names("NeverWriteEscapedNames"),
        f"A records of the wildcard record beside an allowed name ({TASK_ID}.{PREFIX}, \\052.{PREFIX}) are allowed"),
    "deny of nested names on another zone": (
        "reconcile_task_dns", lambda p: statement(p, "NeverWriteNestedNames").update(
            Resource="arn:aws:route53:::hostedzone/ZOTHER"),
        f"A records of a name two labels deep (x.{TASK_ID}.{PREFIX}) are allowed"),
    "deny of the wildcard record for another action": (
        "update_task_dns", lambda p: statement(p, "NeverWriteEscapedNames").update(
            Action="route53:ChangeTagsForResource"),
        f"A records of the wildcard record (\\052.{PREFIX}) are allowed"),
    "names in a sibling domain": ("update_task_dns", allow_names(f"*{PREFIX}"),
                                  f"A records of a name in a domain ending like it ({TASK_ID}.x{PREFIX}) are allowed"),
    # The renewal function: challenge names only, whatever the form of the allow.
    "renewal writes names by pattern": ("renew_certificates", challenge_names_by_pattern(f"*{PREFIX}"),
                                        f"TXT records of a task name of {PREFIX} ({TASK_ID}.{PREFIX}) are allowed"),
    # And the other way: the names the function writes must stay writable.
    "task names refused": ("update_task_dns", allow_names(f"?.{PREFIX}"),
                           f"A records of a name the function writes ({TASK_ID}.{PREFIX}) are refused"),
    "task names denied": ("update_task_dns", lambda p: statement(p, "NeverWriteNestedNames")["Condition"][
                              "ForAnyValue:StringLike"].update({RECORD_NAMES_KEY: [f"*.{PREFIX}"]}),
                          f"A records of a name the function writes ({TASK_ID}.{PREFIX}) are refused"),
}


@pytest.mark.parametrize("function, change, problem", WRITABLE.values(), ids=WRITABLE.keys())
def test_audit_proves_which_names_the_policy_lets_the_function_write(function, change, problem):
    deployment = PROD[function]
    policy = copy.deepcopy(committed_policy(deployment))
    change(policy)

    assert f"{deployment.policy_file}: {problem}" in audit(deployment, policy)


def test_renewal_policy_covers_every_configured_certificate_and_nothing_else():
    environment = {
        "CLUSTER_ARN": "arn:aws:ecs:us-east-1:444455556666:cluster/sessions",
        "WORKSPACE": "/acme-ws/",
        "CERTIFICATES": json.dumps([
            {"domains": ["*.a.example.com", "a.example.com"], "zoneId": "/hostedzone/ZONEA",
             "certStorageBucketName": "certs-a", "certStoragePrefix": "a",
             "failureSnsTopicArn": "arn:aws:sns:us-east-1:444455556666:failures"},
            {"domains": ["b.example.org", "*.x.b.example.org"], "zoneId": "ZONEB",
             "certStorageBucketName": "certs-b", "certStoragePrefix": "",
             "successSnsTopicArn": "arn:aws:sns:us-east-1:444455556666:news",
             "failureSnsTopicArn": "arn:aws:sns:us-east-1:444455556666:failures"},
        ]),
    }
    deployment = FunctionDeployment("task-subdomains", "test", "renew_certificates", environment,
                                    "policy-test-renew_certificates.json")
    policy = policy_document(deployment)

    names_by_zone = {s["Resource"]: s["Condition"]["ForAllValues:StringEquals"][RECORD_NAMES_KEY]
                     for s in policy["Statement"] if s["Action"] == "route53:ChangeResourceRecordSets"}
    assert names_by_zone == {
        "arn:aws:route53:::hostedzone/ZONEA": ["_acme-challenge.a.example.com"],
        "arn:aws:route53:::hostedzone/ZONEB": ["_acme-challenge.b.example.org", "_acme-challenge.x.b.example.org"],
    }
    assert statement(policy, "ReadWriteCertificates")["Resource"] == [
        "arn:aws:s3:::certs-a/a/*", "arn:aws:s3:::certs-b/*"]
    assert statement(policy, "ReadEarlierCertificateVersions")["Resource"] == [
        "arn:aws:s3:::certs-a/a/*", "arn:aws:s3:::certs-b/*"]
    assert statement(policy, "ListEarlierCertificateVersions")["Resource"] == [
        "arn:aws:s3:::certs-a", "arn:aws:s3:::certs-b"]
    assert statement(policy, "ReadWriteAcmeAccount")["Resource"] == [
        "arn:aws:ssm:us-east-1:444455556666:parameter/acme-ws/LETSENCRYPT_ACCOUNT_KEY",
        "arn:aws:ssm:us-east-1:444455556666:parameter/acme-ws/LETSENCRYPT_ACCOUNT_URL"]
    assert statement(policy, "NotifyCertificateTopics")["Resource"] == [
        "arn:aws:sns:us-east-1:444455556666:failures", "arn:aws:sns:us-east-1:444455556666:news"]
    assert statement(policy, "WriteOwnLogs")["Resource"][0] == (
        "arn:aws:logs:us-east-1:444455556666:log-group:/aws/lambda/task-subdomains-test-renew_certificates")
    assert audit(deployment, policy) == []


def rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def add(policy: dict, **grant) -> None:
    policy["Statement"].append({"Sid": "Extra", "Effect": "Allow", **grant})


OTHER_CLUSTER = "arn:aws:ecs:eu-west-2:111122223333:cluster/someone-else"
OVER_BROAD = {
    # The DNS functions.
    "wildcard action": ("update_task_dns", "WriteTaskRecords",
                        lambda p: statement(p, "WriteTaskRecords").update(Action="route53:*")),
    "record writes on every zone": ("update_task_dns", "WriteTaskRecords",
                                    lambda p: statement(p, "WriteTaskRecords").update(Resource="*")),
    "record writes on another zone": ("reconcile_task_dns", "WriteTaskRecords",
                                      lambda p: statement(p, "WriteTaskRecords").update(
                                          Resource="arn:aws:route53:::hostedzone/ZOTHER")),
    "record names not limited": (
        "update_task_dns", "WriteTaskRecords",
        lambda p: statement(p, "WriteTaskRecords")["Condition"].pop("ForAllValues:StringLike")),
    "record names limited for one record of the batch only": (
        "update_task_dns", "WriteTaskRecords",
        lambda p: rename(statement(p, "WriteTaskRecords")["Condition"],
                         "ForAllValues:StringLike", "ForAnyValue:StringLike")),
    "record names anywhere": ("update_task_dns", "WriteTaskRecords",
                              lambda p: statement(p, "WriteTaskRecords")["Condition"]["ForAllValues:StringLike"].update(
                                  {RECORD_NAMES_KEY: ["*"]})),
    "record names under the parent domain": (
        "reconcile_task_dns", "WriteTaskRecords",
        lambda p: statement(p, "WriteTaskRecords")["Condition"]["ForAllValues:StringLike"].update(
            {RECORD_NAMES_KEY: ["*.browser.example.com"]})),
    "record types not limited": (
        "update_task_dns", "WriteTaskRecords",
        lambda p: statement(p, "WriteTaskRecords")["Condition"].pop("ForAllValues:StringEquals")),
    "NS records": ("update_task_dns", "WriteTaskRecords",
                   lambda p: statement(p, "WriteTaskRecords")["Condition"]["ForAllValues:StringEquals"][
                       "route53:ChangeResourceRecordSetsRecordTypes"].append("NS")),
    "tasks of every cluster": ("update_task_dns", "DescribeClusterTasks",
                               lambda p: statement(p, "DescribeClusterTasks").pop("Condition")),
    "tasks described on every resource": ("update_task_dns", "DescribeClusterTasks",
                                          lambda p: statement(p, "DescribeClusterTasks").update(Resource="*")),
    "tasks listed in another cluster": ("reconcile_task_dns", "ListClusterTasks",
                                        lambda p: statement(p, "ListClusterTasks").update(
                                            Condition={"ArnEquals": {"ecs:cluster": OTHER_CLUSTER}})),
    "an action the function does not need": ("update_task_dns", "Extra",
                                             lambda p: add(p, Action="ssm:GetParameter",
                                                           Resource="arn:aws:ssm:eu-west-2:111122223333:parameter/x")),
    "NotAction": ("update_task_dns", "Extra", lambda p: add(p, NotAction="iam:*", Resource="*")),
    "waiting for Route53 changes in a DNS function": (
        "update_task_dns", "Extra",
        lambda p: add(p, Action="route53:GetChange", Resource="arn:aws:route53:::change/*")),
    "waiting for Route53 changes in reconcile": (
        "reconcile_task_dns", "Extra",
        lambda p: add(p, Action="route53:GetChange", Resource="arn:aws:route53:::change/*")),
    "failed events sent to any queue": ("update_task_dns", "RecordFailedTaskEvents",
                                        lambda p: statement(p, "RecordFailedTaskEvents").update(Resource="*")),
    "failed events sent to another function's queue": (
        "update_task_dns", "RecordFailedTaskEvents",
        lambda p: statement(p, "RecordFailedTaskEvents").update(Resource=statement(p, "RecordFailedTaskEvents")[
            "Resource"].replace("update_task_dns", "reconcile_task_dns"))),
    "reconcile sending to the failed-events queue": (
        "reconcile_task_dns", "Extra", lambda p: add(
            p, Action="sqs:SendMessage",
            Resource="arn:aws:sqs:eu-west-2:111122223333:task-subdomains-prod-update_task_dns-failed")),
    "logs anywhere": ("update_task_dns", "WriteOwnLogs",
                      lambda p: statement(p, "WriteOwnLogs").update(Resource="arn:aws:logs:eu-west-2:111122223333:*")),
    "another function's log group": (
        "update_task_dns", "WriteOwnLogs",
        lambda p: statement(p, "WriteOwnLogs").update(Resource=[
            r.replace("update_task_dns", "renew_certificates") for r in statement(p, "WriteOwnLogs")["Resource"]])),
    # The renewal function.
    "challenge names by pattern": ("renew_certificates", "WriteChallengeRecords",
                                   lambda p: statement(p, "WriteChallengeRecords")["Condition"][
                                       "ForAllValues:StringEquals"].update({RECORD_NAMES_KEY: ["_acme-challenge.*"]})),
    "task names for the renewal function": (
        "renew_certificates", "WriteChallengeRecords",
        lambda p: statement(p, "WriteChallengeRecords")["Condition"]["ForAllValues:StringEquals"][
            RECORD_NAMES_KEY].append("3f2c9a.eu-west-2.browser.example.com")),
    "A records for the renewal function": (
        "renew_certificates", "WriteChallengeRecords",
        lambda p: statement(p, "WriteChallengeRecords")["Condition"]["ForAllValues:StringEquals"].update(
            {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT", "A"]})),
    "the whole certificate bucket": ("renew_certificates", "ReadWriteCertificates",
                                     lambda p: statement(p, "ReadWriteCertificates").update(
                                         Resource="arn:aws:s3:::task-subdomains-certs-prod/*")),
    "every bucket": ("renew_certificates", "ReadWriteCertificates",
                     lambda p: statement(p, "ReadWriteCertificates").update(Resource="arn:aws:s3:::*")),
    "deleting certificates": ("renew_certificates", "ReadWriteCertificates",
                              lambda p: statement(p, "ReadWriteCertificates")["Action"].append("s3:DeleteObject")),
    "listing every bucket": ("renew_certificates", "TellMissingCertificatesFromDenied",
                             lambda p: statement(p, "TellMissingCertificatesFromDenied").update(Resource="*")),
    "earlier versions of the whole bucket": ("renew_certificates", "ReadEarlierCertificateVersions",
                                             lambda p: statement(p, "ReadEarlierCertificateVersions").update(
                                                 Resource="arn:aws:s3:::task-subdomains-certs-prod/*")),
    "versions of every bucket": ("renew_certificates", "ListEarlierCertificateVersions",
                                 lambda p: statement(p, "ListEarlierCertificateVersions").update(
                                     Resource="arn:aws:s3:::*")),
    "earlier certificate versions for a DNS function": (
        "reconcile_task_dns", "Extra",
        lambda p: add(p, Action="s3:GetObjectVersion", Resource="arn:aws:s3:::task-subdomains-certs-prod/*")),
    "every parameter of the workspace": (
        "renew_certificates", "ReadWriteAcmeAccount",
        lambda p: statement(p, "ReadWriteAcmeAccount").update(
            Resource="arn:aws:ssm:eu-west-2:111122223333:parameter/task-subdomains-prod/*")),
    "parameters in every region": (
        "renew_certificates", "ReadWriteAcmeAccount",
        lambda p: statement(p, "ReadWriteAcmeAccount").update(
            Resource="arn:aws:ssm:*:111122223333:parameter/task-subdomains-prod/LETSENCRYPT_ACCOUNT_KEY")),
    "every topic": ("renew_certificates", "NotifyCertificateTopics",
                    lambda p: statement(p, "NotifyCertificateTopics").update(Resource="*")),
    "KMS on every key": ("renew_certificates", "Extra", lambda p: add(p, Action="kms:Decrypt", Resource="*")),
}


@pytest.mark.parametrize("function, sid, widen", OVER_BROAD.values(), ids=OVER_BROAD.keys())
def test_audit_catches_a_policy_that_grants_too_much(function, sid, widen):
    deployment = PROD[function]
    policy = copy.deepcopy(committed_policy(deployment))
    widen(policy)

    problems = audit(deployment, policy)

    assert any(f"statement {sid}" in problem for problem in problems), problems


def test_cluster_arn_set_only_per_function_is_refused():
    import copy

    from infra.deployments import DeploymentConfigError, function_deployments, load_config

    config = copy.deepcopy(load_config())
    cluster_arn = config["stages"]["dev"]["environment_variables"].pop("CLUSTER_ARN")
    for function in config["stages"]["dev"]["lambda_functions"].values():
        function.setdefault("environment_variables", {})["CLUSTER_ARN"] = cluster_arn

    with pytest.raises(DeploymentConfigError, match="set CLUSTER_ARN in stages.dev.environment_variables"):
        function_deployments(config, "dev")


# Buffered mode: a stage that sets TASK_EVENTS_QUEUE_ARN deploys process_task_events instead of
# update_task_dns, and its policy reads that queue.

def test_a_stage_with_a_task_events_queue_deploys_process_task_events_instead_of_update_task_dns():
    for stage in stage_names(CONFIG):
        assert stage_functions(CONFIG, stage) == (UPDATE_TASK_DNS, "reconcile_task_dns", "renew_certificates")
        assert stage_functions(BUFFERED_CONFIG, stage) == (
            PROCESS_TASK_EVENTS, "reconcile_task_dns", "renew_certificates")


@pytest.mark.parametrize("value, mode", [
    ("", UPDATE_TASK_DNS),
    ("  ", UPDATE_TASK_DNS),
    (task_events_queue_arn(CONFIG, "dev"), PROCESS_TASK_EVENTS),
    (f" {task_events_queue_arn(CONFIG, 'dev')}\n", PROCESS_TASK_EVENTS),
], ids=["empty", "blank", "queue", "queue with spaces"])
def test_the_stage_and_app_py_agree_on_the_mode(value, mode, monkeypatch):
    config = buffered(CONFIG, dev=value)
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", value)

    registered = {source.name for source in load_app("app_mode").app.event_sources}

    assert mode in registered and set(stage_functions(config, "dev")) == registered


@pytest.mark.parametrize("deployment", BUFFERED, ids=by_id)
def test_buffered_policies_grant_nothing_beyond_what_the_function_needs(deployment):
    assert audit(deployment, policy_document(deployment)) == []


def test_process_task_events_has_the_task_record_grants_and_consumes_its_queue_only():
    policy = policy_document(BUFFERED_PROD[PROCESS_TASK_EVENTS])
    per_event = committed_policy(PROD[UPDATE_TASK_DNS])
    queue = task_events_queue_arn(CONFIG, "prod")

    # The same record grants and denies as update_task_dns; no ListTasks (it describes the tasks its
    # events name), no failed-events queue (that is update_task_dns's asynchronous destination).
    shared = [s for s in per_event["Statement"] if s["Sid"] not in (
        "ListClusterTasks", "RecordFailedTaskEvents", "WriteOwnLogs")]
    assert policy["Statement"][:len(shared)] == shared
    assert [s["Sid"] for s in policy["Statement"][len(shared):]] == ["ConsumeTaskEvents", "WriteOwnLogs"]
    assert statement(policy, "ConsumeTaskEvents") == {
        "Sid": "ConsumeTaskEvents", "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], "Resource": queue}
    assert statement(policy, "WriteOwnLogs")["Resource"][0].endswith(
        ":log-group:/aws/lambda/task-subdomains-prod-process_task_events")


def test_buffered_mode_changes_no_other_function_policy():
    for deployment in BUFFERED:
        if deployment.function != PROCESS_TASK_EVENTS:
            assert policy_document(deployment) == committed_policy(deployment)


OTHER_QUEUE = "arn:aws:sqs:eu-west-2:111122223333:someone-elses-queue"
PROD_QUEUE = task_events_queue_arn(CONFIG, "prod")
CONSUMER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
QUEUE_OVER_BROAD = {
    "another queue": (PROCESS_TASK_EVENTS, "ConsumeTaskEvents",
                      lambda p: statement(p, "ConsumeTaskEvents").update(Resource=OTHER_QUEUE)),
    "the queue and another": (PROCESS_TASK_EVENTS, "ConsumeTaskEvents",
                              lambda p: statement(p, "ConsumeTaskEvents").update(Resource=[PROD_QUEUE, OTHER_QUEUE])),
    "every queue of the account": (PROCESS_TASK_EVENTS, "ConsumeTaskEvents",
                                   lambda p: statement(p, "ConsumeTaskEvents").update(
                                       Resource="arn:aws:sqs:eu-west-2:111122223333:*")),
    "every queue": (PROCESS_TASK_EVENTS, "ConsumeTaskEvents",
                    lambda p: statement(p, "ConsumeTaskEvents").update(Resource="*")),
    "sqs:*": (PROCESS_TASK_EVENTS, "ConsumeTaskEvents",
              lambda p: statement(p, "ConsumeTaskEvents").update(Action="sqs:*")),
    "sending to the queue": (PROCESS_TASK_EVENTS, "Extra",
                             lambda p: add(p, Action="sqs:SendMessage", Resource=PROD_QUEUE)),
    "changing visibility": (PROCESS_TASK_EVENTS, "ConsumeTaskEvents",
                            lambda p: statement(p, "ConsumeTaskEvents")["Action"].append(
                                "sqs:ChangeMessageVisibility")),
    "purging the queue": (PROCESS_TASK_EVENTS, "Extra", lambda p: add(p, Action="sqs:PurgeQueue", Resource=PROD_QUEUE)),
    "the failed-events queue of update_task_dns": (
        PROCESS_TASK_EVENTS, "Extra",
        lambda p: add(p, Action="sqs:SendMessage",
                      Resource="arn:aws:sqs:eu-west-2:111122223333:task-subdomains-prod-update_task_dns-failed")),
    "listing the cluster's tasks": (
        PROCESS_TASK_EVENTS, "Extra",
        lambda p: add(p, Action="ecs:ListTasks", Resource="*", Condition={
            "ArnEquals": {"ecs:cluster": "arn:aws:ecs:eu-west-2:111122223333:cluster/user-sessions"}})),
    "update_task_dns listing the cluster's tasks": (
        UPDATE_TASK_DNS, "Extra",
        lambda p: add(p, Action="ecs:ListTasks", Resource="*", Condition={
            "ArnEquals": {"ecs:cluster": "arn:aws:ecs:eu-west-2:111122223333:cluster/user-sessions"}})),
    "update_task_dns consuming the queue": (UPDATE_TASK_DNS, "Extra",
                                            lambda p: add(p, Action=CONSUMER_ACTIONS, Resource=PROD_QUEUE)),
    "reconcile consuming the queue": ("reconcile_task_dns", "Extra",
                                      lambda p: add(p, Action=CONSUMER_ACTIONS, Resource=PROD_QUEUE)),
    "update_task_dns receiving from its failed-events queue": (
        UPDATE_TASK_DNS, "RecordFailedTaskEvents",
        lambda p: statement(p, "RecordFailedTaskEvents").update(Action=["sqs:SendMessage", "sqs:ReceiveMessage"])),
}


@pytest.mark.parametrize("function, sid, widen", QUEUE_OVER_BROAD.values(), ids=QUEUE_OVER_BROAD.keys())
def test_audit_catches_queue_grants_beyond_the_consumer_of_the_stage_queue(function, sid, widen):
    deployment = BUFFERED_PROD[function] if function == PROCESS_TASK_EVENTS else PROD[function]
    policy = copy.deepcopy(policy_document(deployment))
    widen(policy)

    problems = audit(deployment, policy)

    assert any(f"statement {sid}" in problem for problem in problems), problems


def test_audit_proves_which_names_process_task_events_may_write():
    deployment = BUFFERED_PROD[PROCESS_TASK_EVENTS]
    policy = policy_document(deployment)
    policy["Statement"].remove(statement(policy, "NeverWriteEscapedNames"))

    assert (f"{deployment.policy_file}: A records of the wildcard record (\\052.{PREFIX}) are allowed"
            in audit(deployment, policy))


def set_for_function(config: dict, function: str, value: str) -> None:
    settings = config["stages"]["dev"]["lambda_functions"].setdefault(function, {})
    settings.setdefault("environment_variables", {})["TASK_EVENTS_QUEUE_ARN"] = value


DEV_QUEUE = task_events_queue_arn(CONFIG, "dev")
MISCONFIGURED_QUEUES = {
    "not an ARN": (lambda c: buffered(c, dev="task-events"), "is not an SQS queue ARN"),
    "a topic": (lambda c: buffered(c, dev=DEV_QUEUE.replace(":sqs:", ":sns:")), "is not an SQS queue ARN"),
    "a queue URL": (lambda c: buffered(c, dev="https://sqs.eu-west-2.amazonaws.com/111122223333/task-events"),
                    "is not an SQS queue ARN"),
    "a FIFO queue": (lambda c: buffered(c, dev=f"{DEV_QUEUE}.fifo"), "is a FIFO queue"),
    "another region": (lambda c: buffered(c, dev=DEV_QUEUE.replace("eu-west-2", "us-east-1")),
                       "must be in the cluster's region and account"),
    "another account": (lambda c: buffered(c, dev=DEV_QUEUE.replace("111122223333", "444455556666")),
                        "must be in the cluster's region and account"),
    "another partition": (lambda c: buffered(c, dev=DEV_QUEUE.replace("arn:aws:", "arn:aws-cn:")),
                          "must be in the cluster's region and account"),
}


@pytest.mark.parametrize("configure, complaint", MISCONFIGURED_QUEUES.values(), ids=MISCONFIGURED_QUEUES.keys())
def test_a_task_events_queue_that_is_not_a_queue_of_the_cluster_is_refused(configure, complaint):
    with pytest.raises(DeploymentConfigError, match=complaint) as refused:
        policy_files(configure(copy.deepcopy(CONFIG)))
    # The message says what to set.
    assert "stage 'dev': TASK_EVENTS_QUEUE_ARN=" in str(refused.value)
    assert "TaskEventsQueueArn output of the supporting stack" in str(refused.value)


@pytest.mark.parametrize("function, stage_value", [
    (PROCESS_TASK_EVENTS, None),      # only where the function's settings are
    (UPDATE_TASK_DNS, None),
    ("reconcile_task_dns", DEV_QUEUE),  # another value than the stage's
    (UPDATE_TASK_DNS, DEV_QUEUE),
])
def test_task_events_queue_set_per_function_is_refused(function, stage_value):
    config = buffered(CONFIG, dev=stage_value) if stage_value else copy.deepcopy(CONFIG)
    set_for_function(config, function, "" if stage_value else DEV_QUEUE)

    with pytest.raises(DeploymentConfigError, match=(
            rf"stage 'dev', function '{function}': set TASK_EVENTS_QUEUE_ARN in "
            r"stages.dev.environment_variables only \(not per function\)")):
        function_deployments(config, "dev")


def test_task_events_queue_set_for_every_stage_counts_as_stage_level():
    # chalice loads app.py with the top-level environment_variables merged into the stage's.
    config = copy.deepcopy(CONFIG)
    config["environment_variables"] = {"TASK_EVENTS_QUEUE_ARN": DEV_QUEUE}
    assert stage_functions(config, "dev")[0] == PROCESS_TASK_EVENTS


# Hostname events: a stage that sets HOSTNAME_EVENTS_QUEUE_ARN deploys announce_hostnames on that
# queue, and the writers send it a readiness check per change batch. Nothing else changes.

PROD_HOSTNAME_QUEUE = hostname_events_queue_arn(CONFIG, "prod")
DEV_HOSTNAME_QUEUE = hostname_events_queue_arn(CONFIG, "dev")
PROD_BUS = "arn:aws:events:eu-west-2:111122223333:event-bus/default"


def test_a_stage_with_a_hostname_events_queue_deploys_announce_hostnames_in_either_mode():
    for stage in stage_names(CONFIG):
        assert stage_functions(HOSTNAMES_CONFIG, stage) == (
            UPDATE_TASK_DNS, RECONCILE_TASK_DNS, ANNOUNCE_HOSTNAMES, RENEW_CERTIFICATES)
        assert stage_functions(BUFFERED_HOSTNAMES_CONFIG, stage) == (
            PROCESS_TASK_EVENTS, RECONCILE_TASK_DNS, ANNOUNCE_HOSTNAMES, RENEW_CERTIFICATES)
        assert ANNOUNCE_HOSTNAMES not in stage_functions(CONFIG, stage) + stage_functions(BUFFERED_CONFIG, stage)


@pytest.mark.parametrize("value, announces", [
    ("", False),
    ("  ", False),
    (DEV_HOSTNAME_QUEUE, True),
    (f" {DEV_HOSTNAME_QUEUE}\n", True),
], ids=["empty", "blank", "queue", "queue with spaces"])
def test_the_stage_and_app_py_agree_on_announce_hostnames(value, announces, monkeypatch):
    config = with_hostname_events(CONFIG, dev=value)
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", "")
    monkeypatch.setenv("HOSTNAME_EVENTS_QUEUE_ARN", value)

    registered = {source.name for source in load_app("app_hostnames").app.event_sources}

    assert (ANNOUNCE_HOSTNAMES in registered) is announces and set(stage_functions(config, "dev")) == registered


@pytest.mark.parametrize("deployment", HOSTNAMES, ids=lambda d: f"{by_id(d)}-{d.task_events_queue_arn and 'buffered'}")
def test_hostname_events_policies_grant_nothing_beyond_what_the_function_needs(deployment):
    assert audit(deployment, policy_document(deployment)) == []


def test_without_hostname_events_the_policies_are_as_committed():
    # Byte for byte: the committed stages set no HOSTNAME_EVENTS_QUEUE_ARN.
    assert all("HOSTNAME_EVENTS_QUEUE_ARN" not in CONFIG["stages"][stage]["environment_variables"]
               for stage in stage_names(CONFIG))
    assert not any(ANNOUNCE_HOSTNAMES in name for name in policy_files(CONFIG))


@pytest.mark.parametrize("function", TASK_RECORD_WRITERS)
def test_writers_also_send_readiness_checks_to_the_hostname_events_queue_only(function):
    with_queue = policy_document(HOSTNAMES_PROD[function])
    without_queue = policy_document((PROD | BUFFERED_PROD)[function])

    # The same statements, and one more before the log statement: SendMessage on that queue.
    *rest, logs = without_queue["Statement"]
    assert with_queue["Statement"] == [*rest, {
        "Sid": "SendHostnameChecks", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": PROD_HOSTNAME_QUEUE,
    }, logs]


def test_renewal_policy_is_the_same_with_hostname_events():
    assert policy_document(HOSTNAMES_PROD[RENEW_CERTIFICATES]) == committed_policy(PROD[RENEW_CERTIFICATES])


def test_announce_hostnames_waits_for_changes_reads_the_zone_and_tasks_announces_on_one_bus_and_uses_its_queue():
    deployment = HOSTNAMES_PROD[ANNOUNCE_HOSTNAMES]
    writer = committed_policy(PROD[UPDATE_TASK_DNS])

    assert policy_document(deployment)["Statement"] == [
        {"Sid": "WaitForRoute53Changes", "Effect": "Allow", "Action": "route53:GetChange",
         "Resource": "arn:aws:route53:::change/*"},
        # The zone's SOA (negative caching) and the tasks, as the writers read them.
        statement(writer, "ReadZoneRecords"),
        statement(writer, "DescribeClusterTasks"),
        {"Sid": "PutHostnameEvents", "Effect": "Allow", "Action": "events:PutEvents", "Resource": PROD_BUS},
        {"Sid": "ConsumeHostnameChecks", "Effect": "Allow",
         "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
         "Resource": PROD_HOSTNAME_QUEUE},
        {"Sid": "RequeueHostnameChecks", "Effect": "Allow", "Action": "sqs:SendMessage",
         "Resource": PROD_HOSTNAME_QUEUE},
        {"Sid": "WriteOwnLogs", "Effect": "Allow",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [f"arn:aws:logs:eu-west-2:111122223333:log-group:/aws/lambda/{deployment.lambda_name}",
                      f"arn:aws:logs:eu-west-2:111122223333:log-group:/aws/lambda/{deployment.lambda_name}:*"]},
    ]
    assert deployment.lambda_name == "task-subdomains-prod-announce_hostnames"


def announce_with_bus(value: str, stage: str = "prod") -> FunctionDeployment:
    config = copy.deepcopy(HOSTNAMES_CONFIG)
    config["stages"][stage]["environment_variables"]["EVENT_BUS_NAME"] = value
    return function_deployment(config, stage, ANNOUNCE_HOSTNAMES)


@pytest.mark.parametrize("value, bus", [
    ("", PROD_BUS),
    (" ", PROD_BUS),
    ("default", PROD_BUS),
    ("task-hostnames", "arn:aws:events:eu-west-2:111122223333:event-bus/task-hostnames"),
    (" task-hostnames\n", "arn:aws:events:eu-west-2:111122223333:event-bus/task-hostnames"),
    ("arn:aws:events:eu-west-2:111122223333:event-bus/task-hostnames",
     "arn:aws:events:eu-west-2:111122223333:event-bus/task-hostnames"),
])
def test_event_bus_name_is_a_name_or_an_arn_and_defaults_to_the_default_bus(value, bus):
    deployment = announce_with_bus(value)

    assert statement(policy_document(deployment), "PutHostnameEvents")["Resource"] == bus
    assert audit(deployment, policy_document(deployment)) == []


@pytest.mark.parametrize("value, complaint", [
    ("arn:aws:events:us-east-1:111122223333:event-bus/task-hostnames", "must be in the cluster's region and account"),
    ("arn:aws:events:eu-west-2:444455556666:event-bus/task-hostnames", "must be in the cluster's region and account"),
    ("arn:aws-cn:events:eu-west-2:111122223333:event-bus/default", "must be in the cluster's region and account"),
    ("task hostnames", "is not an event bus name or ARN"),
    ("task-hostnames*", "is not an event bus name or ARN"),
    ("arn:aws:events:eu-west-2:111122223333:rule/task-hostnames", "is not an event bus name or ARN"),
    ("arn:aws:sqs:eu-west-2:111122223333:task-hostnames", "is not an event bus name or ARN"),
], ids=["another region", "another account", "another partition", "a space", "a wildcard", "a rule", "a queue"])
def test_an_event_bus_elsewhere_or_malformed_is_refused(value, complaint):
    with pytest.raises(DeploymentConfigError, match=complaint) as refused:
        policy_document(announce_with_bus(value))
    assert "stage 'prod': EVENT_BUS_NAME=" in str(refused.value)


def test_event_bus_name_matters_only_with_hostname_events():
    # Nothing puts events without announce_hostnames: the variable is not read, so not refused.
    config = copy.deepcopy(CONFIG)
    config["stages"]["prod"]["environment_variables"]["EVENT_BUS_NAME"] = "arn:aws:events:us-east-1:1:event-bus/x"
    assert policy_files(config) == policy_files(CONFIG)


OTHER_BUS = "arn:aws:events:eu-west-2:111122223333:event-bus/someone-elses-bus"
TASK_ZONE = "arn:aws:route53:::hostedzone/Z00000000000PROD"
CLUSTER = "arn:aws:ecs:eu-west-2:111122223333:cluster/user-sessions"
HOSTNAME_OVER_BROAD = {
    # announce_hostnames
    "events on another bus": (ANNOUNCE_HOSTNAMES, "PutHostnameEvents",
                              lambda p: statement(p, "PutHostnameEvents").update(Resource=OTHER_BUS)),
    "events on the bus and another": (ANNOUNCE_HOSTNAMES, "PutHostnameEvents", lambda p: statement(
        p, "PutHostnameEvents").update(Resource=[PROD_BUS, OTHER_BUS])),
    "events on every bus of the account": (ANNOUNCE_HOSTNAMES, "PutHostnameEvents",
                                           lambda p: statement(p, "PutHostnameEvents").update(
                                               Resource="arn:aws:events:eu-west-2:111122223333:event-bus/*")),
    "events on every resource": (ANNOUNCE_HOSTNAMES, "PutHostnameEvents",
                                 lambda p: statement(p, "PutHostnameEvents").update(Resource="*")),
    "events:*": (ANNOUNCE_HOSTNAMES, "PutHostnameEvents",
                 lambda p: statement(p, "PutHostnameEvents").update(Action="events:*")),
    "rules on the bus": (ANNOUNCE_HOSTNAMES, "PutHostnameEvents", lambda p: statement(
        p, "PutHostnameEvents").update(Action=["events:PutEvents", "events:PutRule"])),
    "changes on every resource": (ANNOUNCE_HOSTNAMES, "WaitForRoute53Changes",
                                  lambda p: statement(p, "WaitForRoute53Changes").update(Resource="*")),
    "another zone's records": (ANNOUNCE_HOSTNAMES, "ReadZoneRecords",
                               lambda p: statement(p, "ReadZoneRecords").update(
                                   Resource="arn:aws:route53:::hostedzone/ZOTHER")),
    "writing records": (ANNOUNCE_HOSTNAMES, "Extra", lambda p: add(
        p, Action="route53:ChangeResourceRecordSets", Resource=TASK_ZONE, Condition={
            "ForAllValues:StringLike": {RECORD_NAMES_KEY: ["*.eu-west-2.browser.example.com"]},
            "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["A", "AAAA", "TXT"]}})),
    "tasks of every cluster": (ANNOUNCE_HOSTNAMES, "DescribeClusterTasks",
                               lambda p: statement(p, "DescribeClusterTasks").pop("Condition")),
    "tasks of another cluster": (ANNOUNCE_HOSTNAMES, "DescribeClusterTasks",
                                 lambda p: statement(p, "DescribeClusterTasks").update(
                                     Condition={"ArnEquals": {"ecs:cluster": OTHER_CLUSTER}})),
    "listing the cluster's tasks": (ANNOUNCE_HOSTNAMES, "Extra", lambda p: add(
        p, Action="ecs:ListTasks", Resource="*", Condition={"ArnEquals": {"ecs:cluster": CLUSTER}})),
    "network interfaces": (ANNOUNCE_HOSTNAMES, "Extra",
                           lambda p: add(p, Action="ec2:DescribeNetworkInterfaces", Resource="*")),
    "consuming another queue": (ANNOUNCE_HOSTNAMES, "ConsumeHostnameChecks",
                                lambda p: statement(p, "ConsumeHostnameChecks").update(Resource=PROD_QUEUE)),
    "consuming every queue": (ANNOUNCE_HOSTNAMES, "ConsumeHostnameChecks",
                              lambda p: statement(p, "ConsumeHostnameChecks").update(Resource="*")),
    "changing visibility": (ANNOUNCE_HOSTNAMES, "ConsumeHostnameChecks",
                            lambda p: statement(p, "ConsumeHostnameChecks")["Action"].append(
                                "sqs:ChangeMessageVisibility")),
    "purging the queue": (ANNOUNCE_HOSTNAMES, "Extra",
                          lambda p: add(p, Action="sqs:PurgeQueue", Resource=PROD_HOSTNAME_QUEUE)),
    "requeueing to another queue": (ANNOUNCE_HOSTNAMES, "RequeueHostnameChecks",
                                    lambda p: statement(p, "RequeueHostnameChecks").update(Resource=PROD_QUEUE)),
    "requeueing to the dead-letter queue": (ANNOUNCE_HOSTNAMES, "RequeueHostnameChecks",
                                            lambda p: statement(p, "RequeueHostnameChecks").update(
                                                Resource=f"{PROD_HOSTNAME_QUEUE}-dlq")),
    "requeueing to every queue of the account": (ANNOUNCE_HOSTNAMES, "RequeueHostnameChecks",
                                                 lambda p: statement(p, "RequeueHostnameChecks").update(
                                                     Resource="arn:aws:sqs:eu-west-2:111122223333:*")),
    "another function's log group": (ANNOUNCE_HOSTNAMES, "WriteOwnLogs",
                                     lambda p: statement(p, "WriteOwnLogs").update(Resource=[
                                         r.replace(ANNOUNCE_HOSTNAMES, UPDATE_TASK_DNS)
                                         for r in statement(p, "WriteOwnLogs")["Resource"]])),
    # The writers: they send checks to the queue, and only announce_hostnames waits and announces.
    **{f"{writer} waiting for Route53 changes": (writer, "Extra", lambda p: add(
        p, Action="route53:GetChange", Resource="arn:aws:route53:::change/*")) for writer in TASK_RECORD_WRITERS},
    **{f"{writer} putting events": (writer, "Extra", lambda p: add(p, Action="events:PutEvents", Resource=PROD_BUS))
       for writer in TASK_RECORD_WRITERS},
    **{f"{writer} consuming the hostname events queue": (writer, "Extra", lambda p: add(
        p, Action=CONSUMER_ACTIONS, Resource=PROD_HOSTNAME_QUEUE)) for writer in TASK_RECORD_WRITERS},
    **{f"{writer} sending checks to another queue": (writer, "SendHostnameChecks", lambda p: statement(
        p, "SendHostnameChecks").update(Resource=OTHER_QUEUE)) for writer in TASK_RECORD_WRITERS},
    **{f"{writer} sending checks to every queue": (writer, "SendHostnameChecks", lambda p: statement(
        p, "SendHostnameChecks").update(Resource="*")) for writer in TASK_RECORD_WRITERS},
    "process_task_events sending checks to its own task events queue": (
        PROCESS_TASK_EVENTS, "SendHostnameChecks",
        lambda p: statement(p, "SendHostnameChecks").update(Resource=PROD_QUEUE)),
    "reconcile sending to update_task_dns's failed-events queue": (
        RECONCILE_TASK_DNS, "SendHostnameChecks",
        lambda p: statement(p, "SendHostnameChecks").update(
            Resource=[PROD_HOSTNAME_QUEUE,
                      "arn:aws:sqs:eu-west-2:111122223333:task-subdomains-prod-update_task_dns-failed"])),
    # Nobody else gets anything new.
    "renewal putting events": (RENEW_CERTIFICATES, "Extra",
                               lambda p: add(p, Action="events:PutEvents", Resource=PROD_BUS)),
    "renewal sending checks": (RENEW_CERTIFICATES, "Extra",
                               lambda p: add(p, Action="sqs:SendMessage", Resource=PROD_HOSTNAME_QUEUE)),
}


@pytest.mark.parametrize("function, sid, widen", HOSTNAME_OVER_BROAD.values(), ids=HOSTNAME_OVER_BROAD.keys())
def test_audit_catches_hostname_event_grants_beyond_what_each_function_needs(function, sid, widen):
    deployment = HOSTNAMES_PROD[function]
    policy = copy.deepcopy(policy_document(deployment))
    widen(policy)

    problems = audit(deployment, policy)

    assert any(f"statement {sid}" in problem for problem in problems), problems


@pytest.mark.parametrize("function", TASK_RECORD_WRITERS)
def test_without_hostname_events_the_writers_may_not_send_checks(function):
    # The grant follows the variable: a stage that announces no hostnames sends no checks.
    deployment = (PROD | BUFFERED_PROD)[function]
    policy = copy.deepcopy(policy_document(deployment))
    add(policy, Action="sqs:SendMessage", Resource=PROD_HOSTNAME_QUEUE)

    problems = audit(deployment, policy)
    assert any("statement Extra: sqs:SendMessage" in problem for problem in problems), problems


MISCONFIGURED_HOSTNAME_QUEUES = {
    "not an ARN": (lambda c: with_hostname_events(c, dev="hostname-events"), "is not an SQS queue ARN"),
    "a topic": (lambda c: with_hostname_events(c, dev=DEV_HOSTNAME_QUEUE.replace(":sqs:", ":sns:")),
                "is not an SQS queue ARN"),
    "a queue URL": (lambda c: with_hostname_events(
        c, dev="https://sqs.eu-west-2.amazonaws.com/111122223333/hostname-events"), "is not an SQS queue ARN"),
    "a FIFO queue": (lambda c: with_hostname_events(c, dev=f"{DEV_HOSTNAME_QUEUE}.fifo"), "is a FIFO queue"),
    "another region": (lambda c: with_hostname_events(c, dev=DEV_HOSTNAME_QUEUE.replace("eu-west-2", "us-east-1")),
                       "must be in the cluster's region and account"),
    "another account": (lambda c: with_hostname_events(
        c, dev=DEV_HOSTNAME_QUEUE.replace("111122223333", "444455556666")),
        "must be in the cluster's region and account"),
    "another partition": (lambda c: with_hostname_events(
        c, dev=DEV_HOSTNAME_QUEUE.replace("arn:aws:", "arn:aws-cn:")), "must be in the cluster's region and account"),
}


@pytest.mark.parametrize("configure, complaint", MISCONFIGURED_HOSTNAME_QUEUES.values(),
                         ids=MISCONFIGURED_HOSTNAME_QUEUES.keys())
def test_a_hostname_events_queue_that_is_not_a_queue_of_the_cluster_is_refused(configure, complaint):
    with pytest.raises(DeploymentConfigError, match=complaint) as refused:
        policy_files(configure(copy.deepcopy(CONFIG)))
    # The message says what to set.
    assert "stage 'dev': HOSTNAME_EVENTS_QUEUE_ARN=" in str(refused.value)
    assert "HostnameEventsQueueArn output of the supporting stack" in str(refused.value)


def test_the_task_events_queue_is_refused_as_the_hostname_events_queue():
    config = with_hostname_events(BUFFERED_CONFIG, dev=task_events_queue_arn(CONFIG, "dev"))
    with pytest.raises(DeploymentConfigError, match="name the same queue"):
        function_deployments(config, "dev")


@pytest.mark.parametrize("function, stage_value", [
    (ANNOUNCE_HOSTNAMES, None),        # only where the function's settings are
    (UPDATE_TASK_DNS, None),
    (RECONCILE_TASK_DNS, DEV_HOSTNAME_QUEUE),  # another value than the stage's
    (ANNOUNCE_HOSTNAMES, DEV_HOSTNAME_QUEUE),
])
def test_hostname_events_queue_set_per_function_is_refused(function, stage_value):
    config = with_hostname_events(CONFIG, dev=stage_value) if stage_value else copy.deepcopy(CONFIG)
    settings = config["stages"]["dev"]["lambda_functions"].setdefault(function, {})
    settings.setdefault("environment_variables", {})["HOSTNAME_EVENTS_QUEUE_ARN"] = (
        "" if stage_value else DEV_HOSTNAME_QUEUE)

    with pytest.raises(DeploymentConfigError, match=(
            rf"stage 'dev', function '{function}': set HOSTNAME_EVENTS_QUEUE_ARN in "
            r"stages.dev.environment_variables only \(not per function\)")):
        function_deployments(config, "dev")


def test_announce_hostnames_needs_its_own_policy_file():
    config = copy.deepcopy(HOSTNAMES_CONFIG)
    config["stages"]["dev"]["lambda_functions"].pop(ANNOUNCE_HOSTNAMES)
    with pytest.raises(DeploymentConfigError, match="set lambda_functions.announce_hostnames.iam_policy_file"):
        function_deployments(config, "dev")
