"""Least-privilege IAM policy of each function, derived from the environment it is deployed with.

Pure functions: FunctionDeployment -> policy document. `python -m infra` (`make policies`)
writes them to .chalice/policy-<stage>-<function>.json; chalice gives each function its
own role with that policy (autogen_policy false, iam_policy_file per function). A test fails when
the committed files differ from what this module produces, and infra/policy_audit.py checks that
no policy grants more than the functions need.
"""

import json
from collections.abc import Iterable

from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from infra.deployments import (
    DeploymentConfigError,
    FunctionDeployment,
    function_deployments,
    refuse_shared_storage,
    stage_names,
)

POLICY_VERSION = "2012-10-17"
RECORD_NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
RECORD_TYPES_KEY = "route53:ChangeResourceRecordSetsRecordTypes"
# A, AAAA at a task's name and the TXT ownership marker beside them (docs/internals.md "Record and ownership format").
TASK_RECORD_TYPES = ("A", "AAAA", "TXT")
CHALLENGE_RECORD_TYPES = ("TXT",)
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# What Lambda's SQS event source mapping does with the function's role: read the queue's
# attributes, receive batches, delete what the function handled. A failed batch is left to the
# visibility timeout, so no ChangeMessageVisibility.
QUEUE_CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def policy_document(deployment: FunctionDeployment) -> dict:
    if deployment.function in TASK_RECORD_WRITERS:
        statements = task_dns_statements(deployment)
    elif deployment.function == ANNOUNCE_HOSTNAMES:
        statements = announce_hostnames_statements(deployment)
    elif deployment.function == RENEW_CERTIFICATES:
        statements = renewal_statements(deployment)
    else:
        raise ValueError(f"no policy is defined for function {deployment.function!r}")
    return {"Version": POLICY_VERSION, "Statement": [*statements, own_log_group_statement(deployment)]}


def task_dns_statements(deployment: FunctionDeployment) -> list[dict]:
    settings = deployment.task_dns
    where = deployment.location
    zone = hosted_zone_arn(where.partition, settings.hosted_zone_id)
    return [
        {
            "Sid": "WriteTaskRecords",
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": zone,
            "Condition": {
                "ForAllValues:StringLike": {RECORD_NAMES_KEY: [f"*.{settings.domain_prefix}"]},
                "ForAllValues:StringEquals": {RECORD_TYPES_KEY: list(TASK_RECORD_TYPES)},
            },
        },
        # In StringLike "*" matches any characters, dots and backslashes included, so the allow
        # above also matches names no task has. A task name is one label of hex digits; each
        # deny refuses a kind of name the allow lets through:
        # - _acme-challenge.<prefix>: a DNS function could answer DNS-01 for the wildcard certificate;
        # - \052.<prefix>: the wildcard record. Route53 normalizes "*" (and every character but
        #   a-z 0-9 - _ .) to a backslash and three octal digits before the condition is checked;
        # - a.b.<prefix>: a name two or more labels under the prefix.
        never_write_names(zone, "NeverWriteUnderscoreNames", "*_*"),
        never_write_names(zone, "NeverWriteEscapedNames", "*\\*"),
        never_write_names(zone, "NeverWriteNestedNames", f"*.*.{settings.domain_prefix}"),
        read_zone_statement(zone),
        describe_cluster_tasks_statement(deployment),
        *list_tasks_statements(deployment),
        {
            # EC2 Describe* actions support no resource-level permissions.
            "Sid": "ReadTaskNetworkInterfaces",
            "Effect": "Allow",
            "Action": "ec2:DescribeNetworkInterfaces",
            "Resource": "*",
        },
        *failed_events_statements(deployment),
        *task_events_queue_statements(deployment),
        *hostname_checks_statements(deployment),
    ]


def read_zone_statement(zone: str) -> dict:
    return {"Sid": "ReadZoneRecords", "Effect": "Allow", "Action": "route53:ListResourceRecordSets", "Resource": zone}


def describe_cluster_tasks_statement(deployment: FunctionDeployment) -> dict:
    # task/* rather than task/<cluster>/*: accounts still on the old ARN format name tasks
    # task/<id>. The ecs:cluster condition keeps it to this cluster either way.
    return {"Sid": "DescribeClusterTasks", "Effect": "Allow", "Action": "ecs:DescribeTasks",
            "Resource": deployment.location.arn("ecs", "task/*"),
            "Condition": {"ArnEquals": {"ecs:cluster": deployment.task_dns.cluster_arn}}}


def list_tasks_statements(deployment: FunctionDeployment) -> list[dict]:
    if deployment.function != RECONCILE_TASK_DNS:
        # Only the sweep lists the cluster; the event handlers describe the tasks their events name.
        return []
    # ListTasks cannot be scoped by resource ARN; the ecs:cluster condition scopes it.
    return [{"Sid": "ListClusterTasks", "Effect": "Allow", "Action": "ecs:ListTasks", "Resource": "*",
             "Condition": {"ArnEquals": {"ecs:cluster": deployment.task_dns.cluster_arn}}}]


def never_write_names(zone: str, sid: str, pattern: str) -> dict:
    # ForAnyValue: one such name anywhere in a change batch refuses the whole batch.
    return {"Sid": sid, "Effect": "Deny", "Action": "route53:ChangeResourceRecordSets", "Resource": zone,
            "Condition": {"ForAnyValue:StringLike": {RECORD_NAMES_KEY: [pattern]}}}


def failed_events_statements(deployment: FunctionDeployment) -> list[dict]:
    if deployment.function != UPDATE_TASK_DNS:
        return []
    # Lambda sends the events update_task_dns still failed on after its async retries to the
    # queue with the function's own role (the on-failure destination, supporting-resources.yaml).
    queue = deployment.location.arn("sqs", deployment.failed_events_queue)
    return [{"Sid": "RecordFailedTaskEvents", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue}]


def task_events_queue_statements(deployment: FunctionDeployment) -> list[dict]:
    if deployment.function != PROCESS_TASK_EVENTS:
        return []
    # Lambda's event source mapping polls the stage's queue (TASK_EVENTS_QUEUE_ARN) with the
    # function's own role. Nothing else: the queue's dead-letter queue is fed by SQS itself.
    return [{"Sid": "ConsumeTaskEvents", "Effect": "Allow", "Action": list(QUEUE_CONSUMER_ACTIONS),
             "Resource": deployment.task_events_queue_arn}]


def hostname_checks_statements(deployment: FunctionDeployment) -> list[dict]:
    queue = deployment.hostname_events_queue_arn
    if not queue:
        return []
    # With HOSTNAME_EVENTS_QUEUE_ARN set, each writer sends announce_hostnames a readiness check
    # per Route53 change batch (SendMessageBatch is the same action). Nothing else of the queue.
    return [{"Sid": "SendHostnameChecks", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue}]


def announce_hostnames_statements(deployment: FunctionDeployment) -> list[dict]:
    """Wait for a writer's change to be INSYNC, confirm its tasks, put the events on the one bus."""
    zone = hosted_zone_arn(deployment.location.partition, deployment.task_dns.hosted_zone_id)
    queue = deployment.hostname_events_queue_arn
    return [
        route53_changes_statement(deployment.location.partition),
        # The zone's SOA, for the negative-caching TTL a hostname's announcement reports.
        read_zone_statement(zone),
        # A task is announced ready only while it still runs.
        describe_cluster_tasks_statement(deployment),
        {"Sid": "PutHostnameEvents", "Effect": "Allow", "Action": "events:PutEvents",
         "Resource": deployment.event_bus_arn},
        # Lambda's event source mapping polls the queue with the function's own role ...
        {"Sid": "ConsumeHostnameChecks", "Effect": "Allow", "Action": list(QUEUE_CONSUMER_ACTIONS),
         "Resource": queue},
        # ... and the function puts a check whose change is not INSYNC yet back, with a delay.
        {"Sid": "RequeueHostnameChecks", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue},
    ]


def renewal_statements(deployment: FunctionDeployment) -> list[dict]:
    settings = deployment.renewal
    where = deployment.location
    names_by_zone = challenge_names_by_zone(settings.certificates)
    zones = [hosted_zone_arn(where.partition, zone_id) for zone_id in names_by_zone]
    buckets = unique(spec.bucket for spec in settings.certificates)
    topics = unique(topic for spec in settings.certificates
                    for topic in (spec.success_topic_arn, spec.failure_topic_arn) if topic)
    statements = [
        {
            "Sid": f"WriteChallengeRecordsIn{zone_id}",
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": hosted_zone_arn(where.partition, zone_id),
            "Condition": {"ForAllValues:StringEquals": {
                RECORD_NAMES_KEY: names, RECORD_TYPES_KEY: list(CHALLENGE_RECORD_TYPES)}},
        }
        for zone_id, names in names_by_zone.items()
    ]
    statements += [
        {"Sid": "ReadChallengeRecords", "Effect": "Allow", "Action": "route53:ListResourceRecordSets",
         "Resource": one_or_many(zones)},
        route53_changes_statement(where.partition),
        {
            # SecureString with the AWS managed key aws/ssm: its key policy already lets every
            # principal of the account use it through SSM, so no kms: statement is needed.
            "Sid": "ReadWriteAcmeAccount",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:PutParameter"],
            "Resource": [where.arn("ssm", f"parameter/{name.lstrip('/')}")
                         for name in (settings.account_key_parameter, settings.account_url_parameter)],
        },
        {
            "Sid": "ReadWriteCertificates",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": one_or_many(unique(
                where.arn("s3", f"{spec.bucket}/{spec.prefix}*", regional=False) for spec in settings.certificates)),
        },
        {
            # Without ListBucket, S3 answers GetObject of a missing cert.pem with 403 instead of
            # 404, and the first issuance would fail instead of seeing "nothing stored yet".
            "Sid": "TellMissingCertificatesFromDenied",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": one_or_many([where.arn("s3", bucket, regional=False) for bucket in buckets]),
        },
        {
            # A key and certificate left disagreeing (a run failed halfway through storing) are
            # put back from an earlier version of the objects when bundle.pem holds no matching
            # pair either: the bucket is versioned, and this needs no CA.
            "Sid": "ReadEarlierCertificateVersions",
            "Effect": "Allow",
            "Action": "s3:GetObjectVersion",
            "Resource": one_or_many(unique(
                where.arn("s3", f"{spec.bucket}/{spec.prefix}*", regional=False) for spec in settings.certificates)),
        },
        {
            "Sid": "ListEarlierCertificateVersions",
            "Effect": "Allow",
            "Action": "s3:ListBucketVersions",
            "Resource": one_or_many([where.arn("s3", bucket, regional=False) for bucket in buckets]),
        },
    ]
    if topics:
        statements.append({"Sid": "NotifyCertificateTopics", "Effect": "Allow", "Action": "sns:Publish",
                           "Resource": one_or_many(topics)})
    return statements


def route53_changes_statement(partition: str) -> dict:
    return {"Sid": "WaitForRoute53Changes", "Effect": "Allow", "Action": "route53:GetChange",
            "Resource": f"arn:{partition}:route53:::change/*"}


def own_log_group_statement(deployment: FunctionDeployment) -> dict:
    log_group = deployment.location.arn("logs", f"log-group:{deployment.log_group}")
    # The group itself (CreateLogGroup) and its streams (log-group:<name>:log-stream:<stream>).
    return {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": list(LOG_ACTIONS),
            "Resource": [log_group, f"{log_group}:*"]}


def challenge_names_by_zone(certificates) -> dict[str, list[str]]:
    """`_acme-challenge.<name>` for every configured name, by zone; apex and wildcard share one."""
    names: dict[str, set[str]] = {}
    for spec in certificates:
        names.setdefault(spec.zone_id, set()).update(
            f"_acme-challenge.{domain.removeprefix('*.')}" for domain in spec.domains)
    return {zone_id: sorted(zone_names) for zone_id, zone_names in sorted(names.items())}


def hosted_zone_arn(partition: str, zone_id: str) -> str:
    return f"arn:{partition}:route53:::hostedzone/{zone_id}"



def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def render(policy: dict) -> str:
    return json.dumps(policy, indent=2) + "\n"


def policy_files(config: dict) -> dict[str, str]:
    """File name under .chalice/ -> content, for every function of every stage."""
    refuse_shared_storage(config)
    files: dict[str, str] = {}
    for stage in stage_names(config):
        for deployment in function_deployments(config, stage):
            if deployment.policy_file in files:
                raise DeploymentConfigError(
                    f"{deployment.policy_file} is configured for more than one function; each function "
                    "needs its own policy file, or one would be granted what another needs")
            files[deployment.policy_file] = render(policy_document(deployment))
    return files
