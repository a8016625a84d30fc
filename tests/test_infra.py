"""infra/: the supporting CloudFormation template alone, and merged into `chalice package`."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from chalice.utils import to_cfn_resource_name

from chalicelib.certificates import metrics as telemetry
from chalicelib.shared import metrics as shared_metrics
from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RENEW_CERTIFICATES,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from chalicelib.task_records.events import task_event_pattern
from chalicelib.task_records.handlers import BUFFERED_BATCHING_WINDOW_SECONDS
from infra.deployments import (
    CHALICE_DIR,
    FUNCTIONS,
    function_deployments,
    load_config,
    stage_names,
)
from infra.iam_policies import policy_document
from infra.merge_templates import (
    BASE_TEMPLATE,
    FUNCTION_NAME_PARAMETERS,
    INFRA_DIR,
    load_base_template,
    merge_template_files,
)
from infra.policy_audit import string_like
from tests.chalice_project import (
    copy_project,
    explain,
    package_cache,
    run_cfn_lint,
    run_chalice,
    run_infra,
    set_stage_variables,
)

CONFIG = load_config()
TEMPLATE = load_base_template()
RESOURCES = TEMPLATE["Resources"]
ACCOUNT = "111122223333"
PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::AccountId": ACCOUNT, "AWS::Region": "eu-west-2"}


def cluster_arn(stage: str, config: dict = CONFIG) -> str:
    return config["stages"][stage]["environment_variables"]["CLUSTER_ARN"]


def task_events_queue_arn(stage: str) -> str:
    """The queue the supporting stack makes for the stage, in its cluster's region and account."""
    region, account = cluster_arn(stage).split(":")[3:5]
    return f"arn:aws:sqs:{region}:{account}:task-subdomains-{stage}-task-events"


# The configuration with buffered mode on in every stage, and its merge templates.
BUFFERED_CONFIG = copy.deepcopy(CONFIG)
for _stage in stage_names(BUFFERED_CONFIG):
    BUFFERED_CONFIG["stages"][_stage]["environment_variables"]["TASK_EVENTS_QUEUE_ARN"] = task_events_queue_arn(_stage)
BUFFERED_MERGE_TEMPLATES = {name.removeprefix("chalice-merge-").removesuffix(".json"): json.loads(content)
                            for name, content in merge_template_files(BUFFERED_CONFIG, TEMPLATE).items()}


def hostname_events_queue_arn(stage: str) -> str:
    return task_events_queue_arn(stage).replace("-task-events", "-hostname-events")


def with_hostname_events(config: dict) -> tuple[dict, dict]:
    """The configuration with HOSTNAME_EVENTS_QUEUE_ARN set in every stage, and its merge templates."""
    config = copy.deepcopy(config)
    for stage in stage_names(config):
        config["stages"][stage]["environment_variables"]["HOSTNAME_EVENTS_QUEUE_ARN"] = hostname_events_queue_arn(stage)
    templates = {name.removeprefix("chalice-merge-").removesuffix(".json"): json.loads(content)
                 for name, content in merge_template_files(config, TEMPLATE).items()}
    return config, templates


HOSTNAMES_CONFIG, HOSTNAMES_MERGE_TEMPLATES = with_hostname_events(CONFIG)
BUFFERED_HOSTNAMES_CONFIG, BUFFERED_HOSTNAMES_MERGE_TEMPLATES = with_hostname_events(BUFFERED_CONFIG)
PER_EVENT_ONLY = {"UpdateTaskDnsErrorsAlarm", "UpdateTaskDnsFailedEvents",
                  "UpdateTaskDnsFailedEventsAlarm", "UpdateTaskDnsEventInvokeConfig"}
BUFFERED_ONLY = {"TaskEvents", "TaskEventsDeadLetters", "TaskEventsRule", "TaskEventsQueuePolicy",
                 "TaskEventsDeadLettersAlarm", "TaskEventsAgeAlarm", "ProcessTaskEventsErrorsAlarm"}
# In either mode in the standalone stack (a switch must not race Lambda's own creation of the
# outgoing function's group); the merge template keeps only the stage's function's.
EVENT_FUNCTION_LOG_GROUPS = {"UpdateTaskDnsLogGroup", "ProcessTaskEventsLogGroup"}
HOSTNAME_EVENTS_ONLY = {"HostnameEvents", "HostnameEventsDeadLetters", "HostnameEventsDeadLettersAlarm",
                        "AnnounceHostnamesErrorsAlarm", "AnnounceHostnamesLogGroup"}


def resources_of_type(template: dict, resource_type: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == resource_type}


def merge_template(stage: str) -> dict:
    return json.loads((INFRA_DIR / f"chalice-merge-{stage}.json").read_text())


def resolve(node: Any, template: dict, overrides: dict[str, str] | None = None) -> Any:
    """The value CloudFormation would give an expression of the template, with the parameters'
    defaults (or overrides). An attribute of a resource stays symbolic: "<Resource.Attribute>"."""
    declared = template.get("Parameters", {})
    values = {**{name: p.get("Default") for name, p in declared.items()}, **(overrides or {})}
    values = {name: value.split(",") if declared[name]["Type"] == "CommaDelimitedList" else value
              for name, value in values.items()}

    def ref(name: str) -> Any:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        return values.get(name, f"<{name}>")

    def sub(text: str, variables: dict) -> str:
        def value(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return evaluate(variables[name])
            return ref(name) if "." not in name else f"<{name}>"
        return re.sub(r"\$\{([^}]+)\}", value, text)

    def evaluate(node: Any) -> Any:
        if isinstance(node, list):
            return [evaluate(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, argument), = node.items()
            if function == "Ref":
                return ref(argument)
            if function == "Fn::GetAtt":
                return f"<{'.'.join(argument)}>"
            if function == "Fn::Sub":
                return sub(argument, {}) if isinstance(argument, str) else sub(argument[0], argument[1])
            if function == "Fn::Join":
                return argument[0].join(evaluate(argument[1]))
            if function == "Fn::Split":
                return evaluate(argument[1]).split(argument[0])
            if function == "Fn::Equals":
                return evaluate(argument[0]) == evaluate(argument[1])
            if function == "Fn::Not":
                return not evaluate(argument[0])
            if function == "Fn::And":
                return all(evaluate(part) for part in argument)
            if function == "Condition":
                return evaluate(template["Conditions"][argument])
            if function == "Fn::If":
                holds = evaluate(template["Conditions"][argument[0]])
                return evaluate(argument[1] if holds else argument[2])
        return {key: evaluate(value) for key, value in node.items()}

    return evaluate(node)


def created(template: dict, overrides: dict[str, str] | None = None, section: str = "Resources") -> dict:
    """The resources (or outputs) CloudFormation creates with these parameters."""
    return {name: item for name, item in template.get(section, {}).items()
            if "Condition" not in item or resolve({"Condition": item["Condition"]}, template, overrides)}


def hostname_overrides(stage: str = "dev") -> dict[str, str]:
    """The standalone stack's parameters for a stage with hostname events."""
    return {"HostnameEventsQueueName": hostname_events_queue_arn(stage).rsplit(":", 1)[1],
            "AnnounceHostnamesFunctionName": f"task-subdomains-{stage}-announce_hostnames"}


def buffered_overrides(stage: str = "dev") -> dict[str, str]:
    """The standalone stack's parameters for a stage in buffered mode."""
    return {"TaskEventsQueueName": task_events_queue_arn(stage).rsplit(":", 1)[1], "ClusterArn": cluster_arn(stage),
            "ProcessTaskEventsFunctionName": f"task-subdomains-{stage}-process_task_events"}


def test_standalone_template_passes_cfn_lint():
    result = run_cfn_lint(BASE_TEMPLATE)
    assert result.returncode == 0, explain(result)


def test_certificate_bucket_is_private_encrypted_versioned_and_tls_only():
    properties = RESOURCES["CertificateBucket"]["Properties"]
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    rules = properties["LifecycleConfiguration"]["Rules"]
    assert any(rule["Status"] == "Enabled" and rule.get("AbortIncompleteMultipartUpload") for rule in rules)

    (policy,) = resources_of_type(TEMPLATE, "AWS::S3::BucketPolicy").values()
    # The stack's own bucket, or one kept from an earlier deployment of the stage (make deploy sets
    # CertificateBucketExists then): the same policy either way.
    assert policy["Properties"]["Bucket"] == {
        "Fn::If": ["CreateCertificateBucket", {"Ref": "CertificateBucket"}, {"Ref": "CertificateBucketName"}]}
    assert RESOURCES["CertificateBucket"]["Condition"] == "CreateCertificateBucket"
    assert TEMPLATE["Conditions"]["CreateCertificateBucket"] == {"Fn::Equals": [{"Ref": "CertificateBucketExists"},
                                                                                "false"]}
    deny = bucket_policy_statement(TEMPLATE, "DenyUnencryptedTransport")
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::${CertificateBucketName}"},
                                {"Fn::Sub": "arn:${AWS::Partition}:s3:::${CertificateBucketName}/*"}]


def bucket_policy_statement(template: dict, sid: str) -> dict:
    statements = template["Resources"]["CertificateBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    return next(s for s in statements if s["Sid"] == sid)


def private_key_readers(template: dict, readers: str = "") -> set[str]:
    """The principals the private-key deny leaves out, with CertificateReaderRoleArns=readers."""
    deny = bucket_policy_statement(template, "OnlyRenewalAndTaskRolesReadPrivateKeys")
    (condition,) = deny["Condition"].items()
    assert condition[0] == "ArnNotEquals" and list(condition[1]) == ["aws:PrincipalArn"]
    return set(resolve(condition[1]["aws:PrincipalArn"], template, {"CertificateReaderRoleArns": readers}))


def test_only_the_renewal_role_and_the_listed_task_roles_may_read_private_keys():
    deny = resolve(bucket_policy_statement(TEMPLATE, "OnlyRenewalAndTaskRolesReadPrivateKeys"), TEMPLATE)
    assert (deny["Effect"], deny["Principal"]) == ("Deny", "*")
    assert set(deny["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}

    bucket = resolve({"Fn::Sub": "arn:${AWS::Partition}:s3:::${CertificateBucketName}"}, TEMPLATE)
    denied = {key for key in ("key.pem", "bundle.pem", "cert.pem", "metadata.json")
              for prefix in ("", "eu-west-2.browser.example.com/", "a/b/")
              if any(string_like(pattern, f"{bucket}/{prefix}{key}") for pattern in deny["Resource"])}
    assert denied == {"key.pem", "bundle.pem"}, "the private key, alone or in the bundle, under any prefix"

    # chalice deploy names the renewal function's role like the function (tests/test_deploy.py).
    renewal_role = f"arn:aws:iam::{ACCOUNT}:role/task-subdomains-dev-renew_certificates"
    task_roles = [f"arn:aws:iam::{ACCOUNT}:role/sessions-task", f"arn:aws:iam::{ACCOUNT}:role/ops/tls-proxy"]
    assert private_key_readers(TEMPLATE) == {renewal_role}
    assert private_key_readers(TEMPLATE, ",".join(task_roles)) == {renewal_role, *task_roles}
    assert TEMPLATE["Parameters"]["CertificateReaderRoleArns"]["Type"] == "CommaDelimitedList"


def test_notifications_go_by_email():
    (subscription,) = resources_of_type(TEMPLATE, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "NotificationTopic"}, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}}


ERRORS_ALARMS = {"update_task_dns": "UpdateTaskDnsErrorsAlarm", "process_task_events": "ProcessTaskEventsErrorsAlarm",
                 "reconcile_task_dns": "ReconcileTaskDnsErrorsAlarm",
                 "announce_hostnames": "AnnounceHostnamesErrorsAlarm", "renew_certificates": "RenewalErrorsAlarm"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_errors_alarm_watches_each_function(function):
    alarm = RESOURCES[ERRORS_ALARMS[function]]["Properties"]
    parameter = FUNCTION_NAME_PARAMETERS[function]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": parameter}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert TEMPLATE["Parameters"][parameter]["Default"] == f"task-subdomains-dev-{function}"
    assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]


def test_expiry_alarm_reads_the_metric_the_renewal_function_emits():
    alarm = RESOURCES["CertificateExpiryAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (shared_metrics.NAMESPACE, telemetry.DAYS_REMAINING)
    # Exactly the dimensions the function emits with (an alarm matches the whole set), the
    # function's name among them: a stage's alarm reads its own renewal function only.
    assert alarm["Dimensions"] == [{"Name": "service", "Value": shared_metrics.SERVICE},
                                   {"Name": "FunctionName", "Value": {"Ref": "RenewalFunctionName"}}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Minimum", "LessThanThreshold", 14)
    # The function reports every 12 hours: a period shorter than that would read as missing data.
    assert alarm["Period"] * alarm["EvaluationPeriods"] >= 12 * 3600
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_expiry_alarm_of_each_stage_reads_the_datapoints_its_renewal_function_emits(stage, monkeypatch, capsys):
    renewal = next(d for d in function_deployments(CONFIG, stage) if d.function == RENEW_CERTIFICATES)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", renewal.lambda_name)  # as Lambda sets it
    metrics = telemetry.CertificateMetrics()
    metrics.days_remaining(42)
    metrics.flush()
    (emitted,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    (dimension_set,) = emitted["_aws"]["CloudWatchMetrics"][0]["Dimensions"]

    merge = merge_template(stage)
    alarm = resolve(merge["Resources"]["CertificateExpiryAlarm"]["Properties"], merge)
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {name: emitted[name] for name in dimension_set}


def test_outputs_name_the_bucket_the_topic_and_the_queues_of_each_mode():
    values = {name: output["Value"] for name, output in TEMPLATE["Outputs"].items()}
    common = {"CertificateBucketName": {"Ref": "CertificateBucketName"},
              "NotificationTopicArn": {"Ref": "NotificationTopic"}}
    assert {name: values[name] for name in created(TEMPLATE, section="Outputs")} == {
        **common, "FailedTaskEventsQueueUrl": {"Ref": "UpdateTaskDnsFailedEvents"}}
    # Buffered mode: TaskEventsQueueArn is what the stage's TASK_EVENTS_QUEUE_ARN must be.
    assert {name: values[name] for name in created(TEMPLATE, buffered_overrides(), section="Outputs")} == {
        **common, "TaskEventsQueueArn": {"Fn::GetAtt": ["TaskEvents", "Arn"]},
        "TaskEventsDeadLetterQueueUrl": {"Ref": "TaskEventsDeadLetters"}}
    # Hostname events, in either mode: HostnameEventsQueueArn is what HOSTNAME_EVENTS_QUEUE_ARN must be.
    hostnames = {"HostnameEventsQueueArn": {"Fn::GetAtt": ["HostnameEvents", "Arn"]},
                 "HostnameEventsDeadLetterQueueUrl": {"Ref": "HostnameEventsDeadLetters"}}
    for overrides in ({}, buffered_overrides()):
        without = set(created(TEMPLATE, overrides, section="Outputs"))
        with_hostnames = created(TEMPLATE, {**overrides, **hostname_overrides()}, section="Outputs")
        assert {name: values[name] for name in set(with_hostnames) - without} == hostnames


def merge_templates_of_both_modes() -> list:
    """(stage, configuration, merge template) of every stage, per-event (committed) and buffered,
    each without and with hostname events."""
    return [*(pytest.param(stage, CONFIG, merge_template(stage), id=f"{stage}-per-event")
              for stage in stage_names(CONFIG)),
            *(pytest.param(stage, BUFFERED_CONFIG, BUFFERED_MERGE_TEMPLATES[stage], id=f"{stage}-buffered")
              for stage in stage_names(CONFIG)),
            *(pytest.param(stage, HOSTNAMES_CONFIG, HOSTNAMES_MERGE_TEMPLATES[stage], id=f"{stage}-per-event-hostnames")
              for stage in stage_names(CONFIG)),
            *(pytest.param(stage, BUFFERED_HOSTNAMES_CONFIG, BUFFERED_HOSTNAMES_MERGE_TEMPLATES[stage],
                           id=f"{stage}-buffered-hostnames") for stage in stage_names(CONFIG))]


@pytest.mark.parametrize("stage, config, merge", merge_templates_of_both_modes())
def test_each_function_log_group_is_created_with_a_retention(stage, config, merge):
    groups = {resolve(group["Properties"], merge)["LogGroupName"]: group["Properties"]
              for group in resources_of_type(merge, "AWS::Logs::LogGroup").values()}
    # The very groups the policies let each function write to.
    assert set(groups) == {deployment.log_group for deployment in function_deployments(config, stage)}
    assert all(group["RetentionInDays"] == {"Ref": "LogRetentionDays"} for group in groups.values())
    assert TEMPLATE["Parameters"]["LogRetentionDays"]["Default"] == 30


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_task_events_that_exhaust_retries_go_to_a_queue_that_alarms(stage):
    deployment = next(d for d in function_deployments(CONFIG, stage) if d.function == UPDATE_TASK_DNS)
    merge = merge_template(stage)
    (queue_name, queue), = resources_of_type(merge, "AWS::SQS::Queue").items()
    queue = resolve(queue["Properties"], merge)
    assert queue["QueueName"] == deployment.failed_events_queue
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600

    (invoke_config,) = resources_of_type(merge, "AWS::Lambda::EventInvokeConfig").values()
    assert resolve(invoke_config["Properties"], merge) == {
        "FunctionName": deployment.lambda_name, "Qualifier": "$LATEST", "MaximumRetryAttempts": 2,
        "DestinationConfig": {"OnFailure": {"Destination": f"<{queue_name}.Arn>"}}}

    (alarm,) = [a["Properties"] for a in resources_of_type(merge, "AWS::CloudWatch::Alarm").values()
                if a["Properties"]["Namespace"] == "AWS/SQS"]
    assert (alarm["MetricName"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "ApproximateNumberOfMessagesVisible", "GreaterThanOrEqualToThreshold", 1)
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_name, "QueueName"]}}]
    assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]

    # Lambda sends to the queue with the function's own role: its policy names this queue.
    policy = json.loads((CHALICE_DIR / deployment.policy_file).read_text())
    (send,) = [s for s in policy["Statement"] if s["Action"] == "sqs:SendMessage"]
    region, account = CONFIG["stages"][stage]["environment_variables"]["CLUSTER_ARN"].split(":")[3:5]
    assert send["Resource"] == f"arn:aws:sqs:{region}:{account}:{queue['QueueName']}"


def test_failed_event_destination_waits_for_the_function_when_deployed_alone():
    # Lambda refuses the configuration of a function that does not exist yet; the standalone
    # stack comes before `chalice deploy` (it creates the log groups), so a second pass sets it.
    (invoke_config,) = resources_of_type(TEMPLATE, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Condition"] == "ConfigureFailedEventDestination"
    assert resolve(TEMPLATE["Conditions"]["ConfigureFailedEventDestination"], TEMPLATE) is False
    assert resolve(TEMPLATE["Conditions"]["ConfigureFailedEventDestination"], TEMPLATE,
                   {"FunctionsDeployed": "true"}) is True


@pytest.mark.parametrize("name, content", merge_template_files(CONFIG, TEMPLATE).items())
def test_committed_merge_template_is_what_the_configuration_generates(name, content):
    assert (INFRA_DIR / name).read_text() == content, "run `make policies`"


@pytest.mark.parametrize("stage, config, merge", merge_templates_of_both_modes())
def test_merge_template_names_the_functions_as_chalice_deploy_does(stage, config, merge):
    for deployment in function_deployments(config, stage):
        pinned = merge["Resources"][to_cfn_resource_name(deployment.function)]
        log_group, *queue = pinned["DependsOn"]
        assert pinned == {"Properties": {"FunctionName": deployment.lambda_name}, "DependsOn": [log_group, *queue]}
        # Created before the function, so that Lambda never creates it first (without retention).
        assert resolve(merge["Resources"][log_group]["Properties"]["LogGroupName"], merge) == deployment.log_group
        # And the queues it names by ARN: its event source mapping's, the one its readiness checks go to.
        assert queue == queues_named_by(deployment)
        parameter = FUNCTION_NAME_PARAMETERS[deployment.function]
        assert merge["Parameters"][parameter]["Default"] == f"task-subdomains-{stage}-{deployment.function}"
    certificates = json.loads(CONFIG["stages"][stage]["environment_variables"]["CERTIFICATES"])
    assert merge["Parameters"]["CertificateBucketName"]["Default"] == certificates[0]["certStorageBucketName"]
    topic_name = certificates[0]["failureSnsTopicArn"].rsplit(":", 1)[1]
    assert merge["Parameters"]["NotificationTopicName"]["Default"] == topic_name


def queues_named_by(deployment) -> list[str]:
    queues = ["TaskEvents"] if deployment.function == PROCESS_TASK_EVENTS else []
    if deployment.hostname_events_queue_arn and deployment.function in (*TASK_RECORD_WRITERS, ANNOUNCE_HOSTNAMES):
        queues.append("HostnameEvents")
    return queues


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_merge_template_configures_the_failed_event_destination_after_the_function(stage):
    merge = merge_template(stage)
    (name, invoke_config), = resources_of_type(merge, "AWS::Lambda::EventInvokeConfig").items()
    # It names the function by name, not by Ref: CloudFormation needs to be told the order.
    assert invoke_config["DependsOn"] == [to_cfn_resource_name(UPDATE_TASK_DNS)]
    assert resolve(merge["Conditions"][invoke_config["Condition"]], merge) is True


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_merge_template_lets_the_packaged_renewal_role_read_private_keys(stage):
    # chalice package names no role: the merged stack's role is <stack>-RenewCertificatesRole-<random>.
    readers = private_key_readers(merge_template(stage), f"arn:aws:iam::{ACCOUNT}:role/sessions-task")
    assert readers == {"<RenewCertificatesRole.Arn>", f"arn:aws:iam::{ACCOUNT}:role/sessions-task"}


@pytest.fixture(scope="module")
def packaged_prod(tmp_path_factory, request):
    project = copy_project(tmp_path_factory.mktemp("package"), package_cache(request))
    return package_prod(project)


def package_prod(project) -> Path:
    """`chalice package --stage prod` with its merge template, in the copy; the SAM template."""
    out = project / "out"
    # No AWS access is needed to package; a region is.
    result = run_chalice(project, "package", "--stage", "prod", "--merge-template", "infra/chalice-merge-prod.json",
                         str(out), aws={"AWS_DEFAULT_REGION": "eu-west-2"})
    assert result.returncode == 0, explain(result)
    return out / "sam.json"


def test_packaged_prod_template_passes_cfn_lint(packaged_prod):
    result = run_cfn_lint(packaged_prod)
    assert result.returncode == 0, explain(result)


def test_packaged_prod_template_has_the_functions_their_own_roles_and_the_supporting_resources(packaged_prod):
    template = json.loads(packaged_prod.read_text())
    functions = resources_of_type(template, "AWS::Serverless::Function")
    roles = resources_of_type(template, "AWS::IAM::Role")

    for deployment in function_deployments(CONFIG, "prod"):
        function = functions[to_cfn_resource_name(deployment.function)]["Properties"]
        assert function["FunctionName"] == deployment.lambda_name
        role = roles[function["Role"]["Fn::GetAtt"][0]]["Properties"]
        (policy,) = role["Policies"]
        assert policy["PolicyDocument"] == json.loads((CHALICE_DIR / deployment.policy_file).read_text())
    assert len(roles) == len(functions) == 3
    # Per-event mode: the supporting resources of that mode, none of buffered mode's.
    assert set(created(TEMPLATE, {"FunctionsDeployed": "true"})) - {"ProcessTaskEventsLogGroup"} <= set(
        template["Resources"])
    assert "ProcessTaskEventsLogGroup" not in template["Resources"]  # one stack: no mode switch races Lambda
    assert not (BUFFERED_ONLY | HOSTNAME_EVENTS_ONLY) & set(template["Resources"])
    assert "Conditions" not in template or set(template["Conditions"]) == {
        "HasCertificateReaders", "ConfigureFailedEventDestination", "CreateCertificateBucket"}
    assert template["Parameters"]["RenewalFunctionName"]["Default"] == "task-subdomains-prod-renew_certificates"

    # The role the private-key deny leaves out is the renewal function's.
    renewal_role = functions[to_cfn_resource_name(RENEW_CERTIFICATES)]["Properties"]["Role"]["Fn::GetAtt"]
    assert private_key_readers(template) == {f"<{'.'.join(renewal_role)}>"}


# Buffered mode (TaskEventsQueueName set; docs/deploying.md "Buffered mode"): the cluster's rule fills a queue
# that process_task_events reads, instead of update_task_dns's resources.

def test_each_mode_creates_its_own_resources_and_none_of_the_other():
    per_event = set(created(TEMPLATE, {"FunctionsDeployed": "true"}))
    buffered = set(created(TEMPLATE, {**buffered_overrides(), "FunctionsDeployed": "true"}))

    assert per_event >= PER_EVENT_ONLY and not BUFFERED_ONLY & per_event
    assert buffered >= BUFFERED_ONLY and not PER_EVENT_ONLY & buffered
    assert per_event - PER_EVENT_ONLY == buffered - BUFFERED_ONLY
    assert per_event & buffered >= EVENT_FUNCTION_LOG_GROUPS
    # Every resource of either mode says which: nothing of one mode is created in the other by default.
    assert {name for name, r in RESOURCES.items() if "Condition" in r} >= PER_EVENT_ONLY | BUFFERED_ONLY
    assert TEMPLATE["Parameters"]["TaskEventsQueueName"]["Default"] == ""


def test_hostname_events_resources_are_created_with_their_queue_name_only_and_in_either_mode():
    for mode in ({"FunctionsDeployed": "true"}, {**buffered_overrides(), "FunctionsDeployed": "true"}):
        without = set(created(TEMPLATE, mode))
        with_hostnames = set(created(TEMPLATE, {**mode, **hostname_overrides()}))
        assert not HOSTNAME_EVENTS_ONLY & without
        assert with_hostnames - without == HOSTNAME_EVENTS_ONLY
    assert all(RESOURCES[name]["Condition"] == "HostnameEvents" for name in HOSTNAME_EVENTS_ONLY)
    assert TEMPLATE["Parameters"]["HostnameEventsQueueName"]["Default"] == ""


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_buffered_rule_selects_the_events_the_per_event_rule_selects(stage):
    # The same function of the cluster (chalicelib/task_records/events.py) builds update_task_dns's rule.
    rule = resolve(RESOURCES["TaskEventsRule"]["Properties"], TEMPLATE, buffered_overrides(stage))
    assert rule["EventPattern"] == task_event_pattern(cluster_arn(stage))
    assert rule["State"] == "ENABLED"

    merge = BUFFERED_MERGE_TEMPLATES[stage]
    merged_rule = resolve(merge["Resources"]["TaskEventsRule"]["Properties"], merge)
    assert merged_rule["EventPattern"] == task_event_pattern(cluster_arn(stage))


def test_buffered_rule_sends_to_the_queue_and_what_it_cannot_deliver_to_the_dead_letter_queue():
    (target,) = RESOURCES["TaskEventsRule"]["Properties"]["Targets"]
    # No RoleArn: EventBridge sends to SQS under the queue's policy (a role can break delivery).
    assert resolve(target, TEMPLATE, buffered_overrides()) == {
        "Id": "TaskEventsQueue", "Arn": "<TaskEvents.Arn>", "DeadLetterConfig": {"Arn": "<TaskEventsDeadLetters.Arn>"}}


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_task_events_queue_outlasts_a_batch_and_redrives_to_the_dead_letter_queue(stage):
    queue = resolve(RESOURCES["TaskEvents"]["Properties"], TEMPLATE, buffered_overrides(stage))
    timeout = CONFIG["stages"][stage]["lambda_functions"][PROCESS_TASK_EVENTS]["lambda_timeout"]

    assert queue["QueueName"] == task_events_queue_arn(stage).rsplit(":", 1)[1]
    assert queue["SqsManagedSseEnabled"] is True
    # AWS: at least six times the function's timeout (plus the batching window) for a Lambda event
    # source, so a batch whose invocation was throttled is not received twice meanwhile.
    assert queue["VisibilityTimeout"] >= 6 * timeout + BUFFERED_BATCHING_WINDOW_SECONDS
    assert queue["MessageRetentionPeriod"] == 24 * 3600
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": "<TaskEventsDeadLetters.Arn>", "maxReceiveCount": 5}

    dead_letters = resolve(RESOURCES["TaskEventsDeadLetters"]["Properties"], TEMPLATE, buffered_overrides(stage))
    assert dead_letters == {"QueueName": f"{queue['QueueName']}-dlq", "SqsManagedSseEnabled": True,
                            "MessageRetentionPeriod": 14 * 24 * 3600}


def test_only_the_cluster_rule_may_send_to_the_task_event_queues():
    policy = RESOURCES["TaskEventsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "TaskEvents"}, {"Ref": "TaskEventsDeadLetters"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert resolve(statement, TEMPLATE, buffered_overrides()) == {
        "Sid": "TaskEventsFromTheClusterRuleOnly", "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": ["<TaskEvents.Arn>", "<TaskEventsDeadLetters.Arn>"],
        # The confused deputy: no other rule, in this account or another, may fill them.
        "Condition": {"ArnEquals": {"aws:SourceArn": "<TaskEventsRule.Arn>"}}}


@pytest.mark.parametrize("alarm, queue, metric, threshold", [
    ("TaskEventsDeadLettersAlarm", "TaskEventsDeadLetters", "ApproximateNumberOfMessagesVisible", 1),
    # Nobody takes the events (no event source mapping): neither of the others would tell.
    ("TaskEventsAgeAlarm", "TaskEvents", "ApproximateAgeOfOldestMessage", 600),
])
def test_task_event_queues_alarm(alarm, queue, metric, threshold):
    properties = RESOURCES[alarm]["Properties"]
    assert (properties["Namespace"], properties["MetricName"]) == ("AWS/SQS", metric)
    assert properties["Statistic"] == "Maximum"
    assert properties["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanOrEqualToThreshold", threshold)
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": "NotificationTopic"}]


def test_buffered_mode_needs_the_cluster():
    (rule,) = TEMPLATE["Rules"].values()
    assert resolve(rule["RuleCondition"], TEMPLATE) is False
    assert resolve(rule["RuleCondition"], TEMPLATE, buffered_overrides()) is True
    (assertion,) = rule["Assertions"]
    assert resolve(assertion["Assert"], TEMPLATE, buffered_overrides()) is True
    assert resolve(assertion["Assert"], TEMPLATE, {**buffered_overrides(), "ClusterArn": ""}) is False


@pytest.mark.parametrize("parameter, value, allowed", [
    ("TaskEventsQueueName", "", True),
    ("TaskEventsQueueName", "task-subdomains-prod-task-events", True),
    ("TaskEventsQueueName", "x" * 76, True),
    ("TaskEventsQueueName", "x" * 77, False),  # its dead-letter queue's name would pass 80 characters
    ("TaskEventsQueueName", "task-events.fifo", False),
    ("ClusterArn", "", True),
    ("ClusterArn", cluster_arn("prod"), True),
    ("ClusterArn", "user-sessions", False),
])
def test_buffered_mode_parameters(parameter, value, allowed):
    pattern = TEMPLATE["Parameters"][parameter]["AllowedPattern"]
    assert (re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None) is allowed


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_buffered_merge_template_makes_the_queue_the_stage_names(stage):
    merge = BUFFERED_MERGE_TEMPLATES[stage]
    queue_name = resolve(merge["Resources"]["TaskEvents"]["Properties"]["QueueName"], merge)
    region, account = cluster_arn(stage).split(":")[3:5]
    # As SQS names the queue's ARN: what TASK_EVENTS_QUEUE_ARN says, and what the policy grants.
    assert f"arn:aws:sqs:{region}:{account}:{queue_name}" == task_events_queue_arn(stage)
    # Another name would leave the event source mapping without its queue; another cluster would
    # feed it another cluster's tasks. The stage fixes both.
    assert merge["Parameters"]["TaskEventsQueueName"]["AllowedValues"] == [queue_name]
    assert merge["Parameters"]["ClusterArn"]["AllowedValues"] == [cluster_arn(stage)]
    assert merge["Parameters"]["ClusterArn"]["Default"] == cluster_arn(stage)
    assert "Rules" not in merge


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_merge_templates_keep_the_stage_mode_resources_only(stage):
    # The stage's configuration fixes the mode (chalice packages one function or the other), so
    # the merge template fixes it too: no condition on the mode is left to get wrong.
    for merge, own, other in ((merge_template(stage), PER_EVENT_ONLY, BUFFERED_ONLY),
                              (BUFFERED_MERGE_TEMPLATES[stage], BUFFERED_ONLY, PER_EVENT_ONLY)):
        assert own - {"UpdateTaskDnsEventInvokeConfig"} <= set(merge["Resources"])
        assert not other & set(merge["Resources"])
        assert {name for name, r in merge["Resources"].items() if "Condition" in r} <= {
            "UpdateTaskDnsEventInvokeConfig", "CertificateBucket"}
        assert set(merge.get("Conditions", {})) <= {"HasCertificateReaders", "ConfigureFailedEventDestination",
                                                    "CreateCertificateBucket"}
    assert {"TaskEventsQueueName", "ClusterArn", "ProcessTaskEventsFunctionName"}.isdisjoint(
        merge_template(stage)["Parameters"])
    assert {"UpdateTaskDnsFunctionName", "FunctionsDeployed"}.isdisjoint(BUFFERED_MERGE_TEMPLATES[stage]["Parameters"])
    # Without hostname events, none of their resources or parameters.
    for merge in (merge_template(stage), BUFFERED_MERGE_TEMPLATES[stage]):
        assert not HOSTNAME_EVENTS_ONLY & set(merge["Resources"])
        assert {"HostnameEventsQueueName", "AnnounceHostnamesFunctionName"}.isdisjoint(merge["Parameters"])


@pytest.fixture(scope="module")
def packaged_buffered_prod(tmp_path_factory, request):
    """`chalice package` of prod with TASK_EVENTS_QUEUE_ARN set, after `python -m infra` in the copy."""
    project = copy_project(tmp_path_factory.mktemp("package-buffered"), package_cache(request))
    set_stage_variables(project, "prod", TASK_EVENTS_QUEUE_ARN=task_events_queue_arn("prod"))
    result = run_infra(project)
    assert result.returncode == 0, explain(result)
    sam = package_prod(project)
    assert json.loads((project / "infra" / "chalice-merge-prod.json").read_text()) == BUFFERED_MERGE_TEMPLATES["prod"]
    return sam


def test_packaged_buffered_prod_template_passes_cfn_lint(packaged_buffered_prod):
    result = run_cfn_lint(packaged_buffered_prod)
    assert result.returncode == 0, explain(result)


def test_packaged_buffered_prod_template_reads_the_queue_its_stack_makes(packaged_buffered_prod):
    template = json.loads(packaged_buffered_prod.read_text())
    functions = resources_of_type(template, "AWS::Serverless::Function")
    deployments = {d.function: d for d in function_deployments(BUFFERED_CONFIG, "prod")}

    assert set(functions) == {to_cfn_resource_name(function) for function in deployments}
    process = functions[to_cfn_resource_name(PROCESS_TASK_EVENTS)]
    (event,) = process["Properties"]["Events"].values()
    assert event == {"Type": "SQS", "Properties": {
        "Queue": task_events_queue_arn("prod"), "BatchSize": 10_000, "MaximumBatchingWindowInSeconds": 2,
        "ScalingConfig": {"MaximumConcurrency": 2}}}
    assert process["DependsOn"] == ["ProcessTaskEventsLogGroup", "TaskEvents"]
    role = resources_of_type(template, "AWS::IAM::Role")[process["Properties"]["Role"]["Fn::GetAtt"][0]]
    (policy,) = role["Properties"]["Policies"]
    assert policy["PolicyDocument"] == policy_document(deployments[PROCESS_TASK_EVENTS])
    assert set(template["Resources"]) >= BUFFERED_ONLY and not PER_EVENT_ONLY & set(template["Resources"])
    # No per-event rule: the task events reach process_task_events by the stack's rule and queue only.
    triggers = {name: [e["Type"] for e in f["Properties"].get("Events", {}).values()] for name, f in functions.items()}
    assert triggers == {"ProcessTaskEvents": ["SQS"], "ReconcileTaskDns": ["Schedule"],
                        "RenewCertificates": ["Schedule"]}
    assert list(resources_of_type(template, "AWS::Events::Rule")) == ["TaskEventsRule"]


# Hostname events (HostnameEventsQueueName set; docs/deploying.md "Hostname events"): a queue of readiness
# checks the writers fill and announce_hostnames reads, in either mode.

@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_hostname_events_queue_outlasts_a_batch_and_redrives_to_the_dead_letter_queue(stage):
    queue = resolve(RESOURCES["HostnameEvents"]["Properties"], TEMPLATE, hostname_overrides(stage))
    timeout = CONFIG["stages"][stage]["lambda_functions"][ANNOUNCE_HOSTNAMES]["lambda_timeout"]

    assert queue["QueueName"] == hostname_events_queue_arn(stage).rsplit(":", 1)[1]
    assert queue["SqsManagedSseEnabled"] is True
    # AWS: at least six times the function's timeout for a Lambda event source.
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["MessageRetentionPeriod"] == 24 * 3600
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": "<HostnameEventsDeadLetters.Arn>", "maxReceiveCount": 5}
    # A standard queue: announce_hostnames puts checks back with a delay of their own.
    assert "FifoQueue" not in queue

    dead_letters = resolve(RESOURCES["HostnameEventsDeadLetters"]["Properties"], TEMPLATE, hostname_overrides(stage))
    assert dead_letters == {"QueueName": f"{queue['QueueName']}-dlq", "SqsManagedSseEnabled": True,
                            "MessageRetentionPeriod": 14 * 24 * 3600}


def test_hostname_events_dead_letters_alarm():
    properties = resolve(RESOURCES["HostnameEventsDeadLettersAlarm"]["Properties"], TEMPLATE, hostname_overrides())
    assert (properties["Namespace"], properties["MetricName"], properties["Statistic"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert properties["Dimensions"] == [{"Name": "QueueName", "Value": "<HostnameEventsDeadLetters.QueueName>"}]
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    # An empty queue stops reporting: that is the good case.
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == properties["OKActions"] == ["<NotificationTopic>"]


def test_announce_hostnames_errors_alarm_takes_no_invocation_for_no_error():
    properties = RESOURCES["AnnounceHostnamesErrorsAlarm"]["Properties"]
    assert properties["TreatMissingData"] == "notBreaching"
    parameter = TEMPLATE["Parameters"]["AnnounceHostnamesFunctionName"]
    assert parameter["Default"] == "task-subdomains-dev-announce_hostnames"


@pytest.mark.parametrize("value, allowed", [
    ("", True),
    ("task-subdomains-prod-hostname-events", True),
    ("x" * 76, True),
    ("x" * 77, False),  # its dead-letter queue's name would pass 80 characters
    ("hostname-events.fifo", False),
])
def test_hostname_events_queue_name_parameter(value, allowed):
    pattern = TEMPLATE["Parameters"]["HostnameEventsQueueName"]["AllowedPattern"]
    assert (re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None) is allowed


@pytest.mark.parametrize("stage", stage_names(CONFIG))
@pytest.mark.parametrize("templates", [HOSTNAMES_MERGE_TEMPLATES, BUFFERED_HOSTNAMES_MERGE_TEMPLATES],
                         ids=["per-event", "buffered"])
def test_hostname_events_merge_template_makes_the_queue_the_stage_names(stage, templates):
    merge = templates[stage]
    queue_name = resolve(merge["Resources"]["HostnameEvents"]["Properties"]["QueueName"], merge)
    region, account = cluster_arn(stage).split(":")[3:5]
    # As SQS names the queue's ARN: what HOSTNAME_EVENTS_QUEUE_ARN says, and what the policies grant.
    assert f"arn:aws:sqs:{region}:{account}:{queue_name}" == hostname_events_queue_arn(stage)
    assert merge["Parameters"]["HostnameEventsQueueName"]["AllowedValues"] == [queue_name]
    # All of them, without their condition: the stage fixes that they exist.
    assert set(merge["Resources"]) >= HOSTNAME_EVENTS_ONLY
    assert not any("Condition" in merge["Resources"][name] for name in HOSTNAME_EVENTS_ONLY)
    function_name = merge["Parameters"]["AnnounceHostnamesFunctionName"]["Default"]
    assert function_name == f"task-subdomains-{stage}-announce_hostnames"
    assert "HostnameEvents" not in merge.get("Conditions", {})


@pytest.fixture(scope="module")
def packaged_hostnames_prod(tmp_path_factory, request):
    """`chalice package` of prod in buffered mode with hostname events, after `python -m infra` in the copy."""
    project = copy_project(tmp_path_factory.mktemp("package-hostnames"), package_cache(request))
    set_stage_variables(project, "prod", TASK_EVENTS_QUEUE_ARN=task_events_queue_arn("prod"),
                        HOSTNAME_EVENTS_QUEUE_ARN=hostname_events_queue_arn("prod"))
    result = run_infra(project)
    assert result.returncode == 0, explain(result)
    sam = package_prod(project)
    merge = json.loads((project / "infra" / "chalice-merge-prod.json").read_text())
    assert merge == BUFFERED_HOSTNAMES_MERGE_TEMPLATES["prod"]
    return sam


def test_packaged_hostnames_prod_template_passes_cfn_lint(packaged_hostnames_prod):
    result = run_cfn_lint(packaged_hostnames_prod)
    assert result.returncode == 0, explain(result)


def test_packaged_hostnames_prod_template_announces_from_the_queue_its_stack_makes(packaged_hostnames_prod):
    template = json.loads(packaged_hostnames_prod.read_text())
    functions = resources_of_type(template, "AWS::Serverless::Function")
    deployments = {d.function: d for d in function_deployments(BUFFERED_HOSTNAMES_CONFIG, "prod")}

    assert set(functions) == {to_cfn_resource_name(function) for function in deployments}
    announce = functions[to_cfn_resource_name(ANNOUNCE_HOSTNAMES)]
    assert (announce["Properties"]["MemorySize"], announce["Properties"]["Timeout"]) == (256, 60)
    (event,) = announce["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert (event["Properties"]["Queue"], event["Properties"]["BatchSize"]) == (hostname_events_queue_arn("prod"), 10)
    assert announce["DependsOn"] == ["AnnounceHostnamesLogGroup", "HostnameEvents"]
    # Every function's role has the policy `make policies` generates for it: the writers' with the
    # queue, announce_hostnames' own.
    roles = resources_of_type(template, "AWS::IAM::Role")
    for deployment in deployments.values():
        function = functions[to_cfn_resource_name(deployment.function)]
        (policy,) = roles[function["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]["Policies"]
        assert policy["PolicyDocument"] == policy_document(deployment)
    assert set(template["Resources"]) >= BUFFERED_ONLY | HOSTNAME_EVENTS_ONLY
