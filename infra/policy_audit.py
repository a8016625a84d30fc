"""Does a function's policy grant more than the function needs? An independent check.

The rules are written as limits, not as the statements infra/iam_policies.py writes, so a
mistake in the generator (or a hand edit of a policy file) shows up as a violation:

- Allow statements only, with explicit actions (no wildcards, no NotAction/NotResource), each one
  the function needs; resource "*" only for the read actions that cannot be scoped.
- Every action on the resources it needs: the zone(s), Route53 changes, the cluster's tasks,
  /<WORKSPACE>/LETSENCRYPT_* parameters, <bucket>/<prefix>* objects, the configured topics, the
  function's own log group.
- ChangeResourceRecordSets only under ForAllValues conditions on both the normalized record
  names and the record types: names under DOMAIN_PREFIX and A/AAAA/TXT for the DNS functions,
  exactly the `_acme-challenge.<name>` names of the configured certificates and TXT for renewal.
- ECS calls only with the ecs:cluster condition naming CLUSTER_ARN.

Deny statements are ignored: they can only take permissions away.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra.deployments import RENEWAL_FUNCTION, TASK_DNS_FUNCTIONS, FunctionDeployment

RECORD_NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
RECORD_TYPES_KEY = "route53:ChangeResourceRecordSetsRecordTypes"
STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition"}
# Read-only actions that IAM cannot scope to a resource (their conditions scope them instead).
UNSCOPABLE_READS = {"ec2:DescribeNetworkInterfaces", "ecs:ListTasks"}
_WILDCARDS = ("*", "?")

ConditionCheck = Callable[[Mapping[str, Any]], list[str]]


def unconditioned(condition: Mapping[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True)
class Grant:
    """One action the function may be granted: on which resources, under which conditions."""

    resource_allowed: Callable[[str], bool]
    condition_problems: ConditionCheck = unconditioned


def audit(deployment: FunctionDeployment, policy: Mapping[str, Any]) -> list[str]:
    """Every way the policy grants more than the function needs; empty when it does not."""
    grants = allowed_grants(deployment)
    problems = [] if policy.get("Version") == "2012-10-17" else ["Version is not 2012-10-17"]
    for index, statement in enumerate(policy.get("Statement", [])):
        where = f"{deployment.policy_file} statement {statement.get('Sid') or index}"
        problems += [f"{where}: {problem}" for problem in statement_problems(statement, grants)]
    return problems


def statement_problems(statement: Mapping[str, Any], grants: Mapping[str, Grant]) -> list[str]:
    if statement.get("Effect") == "Deny":
        return []
    problems = [f"uses {key}" for key in statement if key not in STATEMENT_KEYS]
    if statement.get("Effect") != "Allow":
        problems.append(f"Effect is {statement.get('Effect')!r}")
    actions, resources = as_list(statement.get("Action")), as_list(statement.get("Resource"))
    if not actions or not resources:
        problems.append("names no Action or no Resource")
    condition = statement.get("Condition", {})
    for action in actions:
        if has_wildcard(action):
            problems.append(f"wildcard action {action}")
            continue
        grant = grants.get(action)
        if grant is None:
            problems.append(f"{action} is not needed by this function")
            continue
        for resource in resources:
            if resource == "*" and action not in UNSCOPABLE_READS:
                problems.append(f"{action} on resource *")
            elif not grant.resource_allowed(resource):
                problems.append(f"{action} on {resource}")
        problems += [f"{action}: {problem}" for problem in grant.condition_problems(condition)]
    return problems


def allowed_grants(deployment: FunctionDeployment) -> dict[str, Grant]:
    if deployment.function in TASK_DNS_FUNCTIONS:
        grants = task_dns_grants(deployment)
    elif deployment.function == RENEWAL_FUNCTION:
        grants = renewal_grants(deployment)
    else:
        grants = {}
    return {**grants, **log_grants(deployment)}


def task_dns_grants(deployment: FunctionDeployment) -> dict[str, Grant]:
    settings, where = deployment.task_dns, deployment.location
    zone = f"arn:{where.partition}:route53:::hostedzone/{settings.hosted_zone_id}"
    tasks = where.arn("ecs", "task/")
    suffix = f".{settings.domain_prefix}"

    def under_prefix(name: str) -> bool:
        return name == f"*{suffix}" or (name.endswith(suffix) and not has_wildcard(name))

    on_cluster = cluster_condition(settings.cluster_arn)
    return {
        "route53:ChangeResourceRecordSets": Grant(
            equals(zone), record_change_conditions(under_prefix, {"A", "AAAA", "TXT"})),
        "route53:ListResourceRecordSets": Grant(equals(zone)),
        "route53:GetChange": Grant(equals(f"arn:{where.partition}:route53:::change/*")),
        "ec2:DescribeNetworkInterfaces": Grant(equals("*")),
        # Any task ARN format, but only with the condition that pins the cluster.
        "ecs:DescribeTasks": Grant(lambda resource: resource.startswith(tasks), on_cluster),
        "ecs:ListTasks": Grant(equals("*"), on_cluster),
    }


def renewal_grants(deployment: FunctionDeployment) -> dict[str, Grant]:
    settings, where = deployment.renewal, deployment.location
    certificates = settings.certificates
    zones = {f"arn:{where.partition}:route53:::hostedzone/{spec.zone_id}" for spec in certificates}
    challenge_names = {f"_acme-challenge.{domain.removeprefix('*.')}" for spec in certificates for domain in spec.domains}
    parameters = where.arn("ssm", f"parameter/{settings.workspace}/LETSENCRYPT_")
    objects = tuple(f"arn:{where.partition}:s3:::{spec.bucket}/{spec.prefix}" for spec in certificates)
    buckets = {f"arn:{where.partition}:s3:::{spec.bucket}" for spec in certificates}
    topics = {topic for spec in certificates for topic in (spec.success_topic_arn, spec.failure_topic_arn) if topic}
    object_grant = Grant(lambda resource: resource.startswith(objects))
    account_grant = Grant(lambda resource: resource.startswith(parameters))
    return {
        "route53:ChangeResourceRecordSets": Grant(
            one_of(zones), record_change_conditions(lambda name: name in challenge_names, {"TXT"})),
        "route53:ListResourceRecordSets": Grant(one_of(zones)),
        "route53:GetChange": Grant(equals(f"arn:{where.partition}:route53:::change/*")),
        "ssm:GetParameter": account_grant,
        "ssm:PutParameter": account_grant,
        "s3:GetObject": object_grant,
        "s3:PutObject": object_grant,
        "s3:ListBucket": Grant(one_of(buckets)),
        "sns:Publish": Grant(one_of(topics)),
    }


def log_grants(deployment: FunctionDeployment) -> dict[str, Grant]:
    log_group = deployment.location.arn("logs", f"log-group:{deployment.log_group}")
    own_group = Grant(lambda resource: resource in (log_group, f"{log_group}:*")
                      or resource.startswith(f"{log_group}:log-stream:"))
    return {action: own_group for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")}


def record_change_conditions(name_allowed: Callable[[str], bool], types_allowed: set[str]) -> ConditionCheck:
    # ForAllValues: every record in the change batch must match. ForAnyValue or a plain operator
    # would let one matching record carry any number of others.
    def problems(condition: Mapping[str, Any]) -> list[str]:
        found = []
        names = for_all_values(condition, RECORD_NAMES_KEY, ("StringLike", "StringEquals"))
        if not names:
            found.append(f"not limited by ForAllValues {RECORD_NAMES_KEY}")
        found += [f"record name {name} is not allowed" for name in names if not name_allowed(name)]
        types = for_all_values(condition, RECORD_TYPES_KEY, ("StringEquals",))
        if not types:
            found.append(f"not limited by ForAllValues:StringEquals {RECORD_TYPES_KEY}")
        found += [f"record type {kind} is not allowed" for kind in types if kind not in types_allowed]
        return found

    return problems


def cluster_condition(cluster_arn: str) -> ConditionCheck:
    def problems(condition: Mapping[str, Any]) -> list[str]:
        for operator in ("ArnEquals", "StringEquals"):
            if as_list(condition.get(operator, {}).get("ecs:cluster")) == [cluster_arn]:
                return []
        return [f"not limited by ArnEquals ecs:cluster = {cluster_arn}"]

    return problems


def for_all_values(condition: Mapping[str, Any], key: str, operators: Iterable[str]) -> list[str]:
    values = []
    for operator in operators:
        values += as_list(condition.get(f"ForAllValues:{operator}", {}).get(key))
    return values


def equals(expected: str) -> Callable[[str], bool]:
    return lambda resource: resource == expected


def one_of(allowed: set[str]) -> Callable[[str], bool]:
    return lambda resource: resource in allowed


def has_wildcard(text: str) -> bool:
    return any(wildcard in text for wildcard in _WILDCARDS)


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
