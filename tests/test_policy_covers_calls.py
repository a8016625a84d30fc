"""Every AWS call a function makes is an action its own policy file allows.

tests/test_iam_policies.py proves the policies grant no more than they should; this proves they
grant enough: each function runs a real scenario against the emulator while its calls are
recorded, and each call's IAM action must be allowed by that function's policy (moto does not
enforce IAM, so nothing else would notice a missing grant before production).
"""

import copy
import json
from pathlib import Path

import pytest

from chalicelib.certificates.renewal import renew_certificates
from chalicelib.shared.aws_clients import client
from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    HOSTNAME_EVENTS_QUEUE_VARIABLE,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    UPDATE_TASK_DNS,
)
from embedded_stack.fargate import as_sqs_event
from embedded_stack.hostname_events import HostnameEvents
from infra.deployments import function_deployment, load_config
from infra.iam_policies import policy_document
from tests.helpers import load_app

POLICIES = Path(__file__).resolve().parent.parent / ".chalice"
SERVICES = ("ecs", "ec2", "route53", "s3", "ssm", "sns", "sqs", "events")
# Operations whose IAM action has another name.
IAM_ACTION_OF = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
                 "s3:ListObjectVersions": "s3:ListBucketVersions"}
# Operations whose IAM action depends on a parameter: (action, parameter) -> the action it then needs.
IAM_ACTION_WITH = {("s3:GetObject", "VersionId"): "s3:GetObjectVersion"}


def allowed_actions(function: str, stage: str = "dev") -> set[str]:
    return actions_allowed_by(json.loads((POLICIES / f"policy-{stage}-{function}.json").read_text()))


def buffered_policy(stage: str = "dev") -> tuple[str, dict]:
    """The stage's queue and the policy `make policies` writes for process_task_events when the
    stage sets TASK_EVENTS_QUEUE_ARN (the committed stages do not)."""
    config = copy.deepcopy(load_config())
    environment = config["stages"][stage]["environment_variables"]
    region, account = environment["CLUSTER_ARN"].split(":")[3:5]
    queue_arn = f"arn:aws:sqs:{region}:{account}:task-subdomains-{stage}-task-events"
    environment["TASK_EVENTS_QUEUE_ARN"] = queue_arn
    return queue_arn, policy_document(function_deployment(config, stage, PROCESS_TASK_EVENTS))


def hostname_events_policies(stage: str = "dev") -> dict[str, dict]:
    """The policies `make policies` writes for a stage that sets HOSTNAME_EVENTS_QUEUE_ARN."""
    config = copy.deepcopy(load_config())
    environment = config["stages"][stage]["environment_variables"]
    region, account = environment["CLUSTER_ARN"].split(":")[3:5]
    environment[HOSTNAME_EVENTS_QUEUE_VARIABLE] = f"arn:aws:sqs:{region}:{account}:task-subdomains-{stage}-hostnames"
    return {function: policy_document(function_deployment(config, stage, function))
            for function in (UPDATE_TASK_DNS, RECONCILE_TASK_DNS, ANNOUNCE_HOSTNAMES)}


def actions_allowed_by(policy: dict) -> set[str]:
    actions = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow":
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.fixture
def iam_actions_called(app_module):
    """IAM actions (service:Operation) of every call the app's clients make from now on."""
    called: set[str] = set()

    def record(params, model, **_):
        action = f"{model.service_model.signing_name}:{model.name}"
        action = next((needed for (plain, parameter), needed in IAM_ACTION_WITH.items()
                       if action == plain and params.get(parameter)), action)
        called.add(IAM_ACTION_OF.get(action, action))

    for service in SERVICES:
        client(service).meta.events.register("before-parameter-build", record)
    yield called
    for service in SERVICES:
        client(service).meta.events.unregister("before-parameter-build", record)


def test_update_task_dns_policy_allows_its_calls(cluster, app_module, iam_actions_called):
    task = cluster.run_task(public_ip="203.0.113.70", ipv6=["2001:db8::70"])
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)

    assert {"ecs:DescribeTasks", "ec2:DescribeNetworkInterfaces", "route53:ChangeResourceRecordSets"} \
        <= iam_actions_called
    assert iam_actions_called <= allowed_actions("update_task_dns")


def test_reconcile_task_dns_policy_allows_its_calls(cluster, app_module, iam_actions_called):
    cluster.run_task(public_ip="203.0.113.71")
    app_module.reconcile_task_dns({}, None)

    assert {"ecs:ListTasks", "route53:ListResourceRecordSets"} <= iam_actions_called
    assert iam_actions_called <= allowed_actions("reconcile_task_dns")


def test_renew_certificates_policy_allows_its_calls(certificate_target, fast_clocks, iam_actions_called):
    prefix = "eu-west-2.browser.example.com"
    target = certificate_target("policy", [f"*.{prefix}", prefix])
    renew_certificates({}, fast_clocks)  # issues: SSM, Route53 challenges, S3, SNS
    renew_certificates({}, fast_clocks)  # not due: reads only
    # A broken pair with no match among the current objects: put back from earlier versions.
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "key.pem", Body=b"replaced")
    target.s3.put_object(Bucket=target.bucket, Key=target.prefix + "bundle.pem", Body=b"replaced")
    assert renew_certificates({}, fast_clocks)[f"*.{prefix}, {prefix}"]["outcome"] == "repaired"

    assert {"ssm:PutParameter", "route53:GetChange", "s3:PutObject", "sns:Publish",
            "s3:ListBucketVersions", "s3:GetObjectVersion"} <= iam_actions_called
    assert iam_actions_called <= allowed_actions("renew_certificates")


def test_process_task_events_policy_allows_its_calls(cluster, app_module, iam_actions_called, monkeypatch):
    queue_arn, policy = buffered_policy()
    # app.py as Lambda loads it for a stage in buffered mode.
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", queue_arn)
    buffered_app = load_app("app_buffered_policy")
    running = [cluster.run_task(public_ip=f"203.0.113.{72 + i}", ipv6=[f"2001:db8::{72 + i}"]) for i in range(2)]
    starts = [cluster.event(task, "PENDING") for task in running]
    buffered_app.process_task_events(as_sqs_event(starts, queue_arn), None)
    cluster.stop_task(running[0])
    stop = cluster.event(running[0], "STOPPED", "STOPPED")
    buffered_app.process_task_events(as_sqs_event([stop], queue_arn), None)

    assert {"ecs:DescribeTasks", "ec2:DescribeNetworkInterfaces", "route53:ListResourceRecordSets",
            "route53:ChangeResourceRecordSets"} <= iam_actions_called
    assert iam_actions_called <= actions_allowed_by(policy)
    # Lambda polls the queue with the function's role; the function itself never calls SQS.
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= actions_allowed_by(policy)


def test_with_hostname_events_the_writers_and_announce_hostnames_policies_allow_their_calls(
        cluster, app_module, iam_actions_called, monkeypatch):
    policies = hostname_events_policies()
    events = HostnameEvents.create()
    monkeypatch.setenv(HOSTNAME_EVENTS_QUEUE_VARIABLE, events.checks_queue_arn)
    hostname_app = load_app("app_hostname_events_policy")
    task = cluster.run_task(public_ip="203.0.113.78")

    hostname_app.update_task_dns(cluster.event(task, "PENDING"), None)
    cluster.stop_task(task)
    hostname_app.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)
    assert "sqs:SendMessage" in iam_actions_called
    assert iam_actions_called <= actions_allowed_by(policies[UPDATE_TASK_DNS])

    iam_actions_called.clear()
    cluster.run_task(public_ip="203.0.113.79")
    hostname_app.reconcile_task_dns({}, None)
    assert "sqs:SendMessage" in iam_actions_called
    assert iam_actions_called <= actions_allowed_by(policies[RECONCILE_TASK_DNS])

    iam_actions_called.clear()
    messages = events.sqs.receive_message(QueueUrl=events.checks_url, MaxNumberOfMessages=10)["Messages"]
    hostname_app.announce_hostnames(as_sqs_event([m["Body"] for m in messages], events.checks_queue_arn), None)
    assert {"route53:GetChange", "events:PutEvents", "ecs:DescribeTasks"} <= iam_actions_called
    assert iam_actions_called <= actions_allowed_by(policies[ANNOUNCE_HOSTNAMES])
