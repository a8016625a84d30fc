"""infra/: the supporting CloudFormation template alone, and merged into `chalice package`."""

import json

import pytest
from chalice.utils import to_cfn_resource_name

from chalicelib import telemetry
from infra.deployments import CHALICE_DIR, function_deployments, load_config, stage_names
from infra.merge_templates import BASE_TEMPLATE, INFRA_DIR, load_base_template, merge_template_files
from tests.chalice_project import copy_project, explain, package_cache, run_cfn_lint, run_chalice

CONFIG = load_config()
TEMPLATE = load_base_template()
RESOURCES = TEMPLATE["Resources"]


def resources_of_type(template: dict, resource_type: str) -> dict:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == resource_type}


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
    assert policy["Properties"]["Bucket"] == {"Ref": "CertificateBucket"}
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [{"Fn::GetAtt": ["CertificateBucket", "Arn"]}, {"Fn::Sub": "${CertificateBucket.Arn}/*"}]


def test_notifications_go_by_email():
    (subscription,) = resources_of_type(TEMPLATE, "AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "NotificationTopic"}, "Protocol": "email", "Endpoint": {"Ref": "NotificationEmail"}}


def test_renewal_errors_alarm_watches_the_renewal_function():
    alarm = RESOURCES["RenewalErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "RenewalFunctionName"}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert TEMPLATE["Parameters"]["RenewalFunctionName"]["Default"] == "task-subdomains-dev-renew_certificates"
    assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]


def test_expiry_alarm_reads_the_metric_the_renewal_function_emits():
    alarm = RESOURCES["CertificateExpiryAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (telemetry.NAMESPACE, telemetry.DAYS_REMAINING)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": telemetry.SERVICE}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Minimum", "LessThanThreshold", 14)
    # The function reports every 12 hours: a period shorter than that would read as missing data.
    assert alarm["Period"] * alarm["EvaluationPeriods"] >= 12 * 3600
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "NotificationTopic"}]


def test_outputs_name_the_bucket_and_the_topic():
    assert {name: output["Value"] for name, output in TEMPLATE["Outputs"].items()} == {
        "CertificateBucketName": {"Ref": "CertificateBucket"}, "NotificationTopicArn": {"Ref": "NotificationTopic"}}


@pytest.mark.parametrize("name, content", merge_template_files(CONFIG, TEMPLATE).items())
def test_committed_merge_template_is_what_the_configuration_generates(name, content):
    assert (INFRA_DIR / name).read_text() == content, "run `make policies`"


@pytest.mark.parametrize("stage", stage_names(CONFIG))
def test_merge_template_names_the_functions_as_chalice_deploy_does(stage):
    merge = json.loads((INFRA_DIR / f"chalice-merge-{stage}.json").read_text())
    for deployment in function_deployments(CONFIG, stage):
        pinned = merge["Resources"][to_cfn_resource_name(deployment.function)]
        assert pinned == {"Properties": {"FunctionName": deployment.lambda_name}}
    assert merge["Parameters"]["RenewalFunctionName"]["Default"] == f"task-subdomains-{stage}-renew_certificates"
    certificates = json.loads(CONFIG["stages"][stage]["environment_variables"]["CERTIFICATES"])
    assert merge["Parameters"]["CertificateBucketName"]["Default"] == certificates[0]["certStorageBucketName"]
    assert merge["Parameters"]["NotificationTopicName"]["Default"] == certificates[0]["failureSnsTopicArn"].rsplit(":", 1)[1]


@pytest.fixture(scope="module")
def packaged_prod(tmp_path_factory, request):
    project = copy_project(tmp_path_factory.mktemp("package"), package_cache(request))
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
    assert set(RESOURCES) <= set(template["Resources"])
    assert template["Parameters"]["RenewalFunctionName"]["Default"] == "task-subdomains-prod-renew_certificates"
