"""Does a function's policy grant more than the function needs? An independent check.

The rules are written as limits, not as the statements infra/iam_policies.py writes, so a
mistake in the generator (or a hand edit of a policy file) shows up as a violation:

- Allow statements only, with explicit actions (no wildcards, no NotAction/NotResource), each one
  the function needs; resource "*" only for the read actions that cannot be scoped.
- Every action on the resources it needs: the zone(s), Route53 changes, the cluster's tasks,
  /<WORKSPACE>/LETSENCRYPT_* parameters, <bucket>/<prefix>* objects (and their earlier versions,
  for renewal), the configured topics, the function's own log group.
- ChangeResourceRecordSets only under ForAllValues conditions on both the normalized record
  names and the record types: names under DOMAIN_PREFIX and A/AAAA/TXT for the DNS functions,
  exactly the `_acme-challenge.<name>` names of the configured certificates and TXT for renewal.
- ECS calls only with the ecs:cluster condition naming CLUSTER_ARN; ecs:ListTasks not at all for
  process_task_events, which describes the tasks its events name and never lists the cluster.
- sqs:SendMessage only for update_task_dns, on its failed-events queue, and, when the stage sets
  HOSTNAME_EVENTS_QUEUE_ARN, for the three writers and announce_hostnames on that queue;
  sqs:ReceiveMessage, DeleteMessage and GetQueueAttributes only for process_task_events, on the
  stage's TASK_EVENTS_QUEUE_ARN, and for announce_hostnames, on HOSTNAME_EVENTS_QUEUE_ARN.
- route53:GetChange and events:PutEvents only for announce_hostnames (and GetChange for renewal,
  which waits for its challenges); PutEvents only on the bus EVENT_BUS_NAME names. No record
  writes at all for announce_hostnames: it reads the zone, never changes it.

Those rules read Allow statements alone. A pattern like `*.<prefix>` still matches more than
task names (IAM's `*` matches dots and backslashes too), and only Deny statements take that
back; so the policy as a whole, Allow and Deny, is also evaluated on probe change batches
(record_probes): a task name must be writable, and a wildcard record (`\\052.<prefix>`, as
Route53 normalizes `*`), a name two labels deep, an ACME challenge, the prefix itself and names
in other domains must not be, alone or beside a task name. A condition the evaluator does not
understand counts as holding in an Allow and as not holding in a Deny, so that it can only make
the audit stricter.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from infra.deployments import FunctionDeployment

RECORD_NAMES_KEY = "route53:ChangeResourceRecordSetsNormalizedRecordNames"
RECORD_TYPES_KEY = "route53:ChangeResourceRecordSetsRecordTypes"
CHANGE_RECORDS = "route53:ChangeResourceRecordSets"
# A task id as ECS writes it (32 hex digits): the one kind of label the DNS functions write.
TASK_ID = "0123456789abcdef0123456789abcdef"
STATEMENT_KEYS = {"Sid", "Effect", "Action", "Resource", "Condition"}
# Read-only actions that IAM cannot scope to a resource (their conditions scope them instead).
UNSCOPABLE_READS = {"ec2:DescribeNetworkInterfaces", "ecs:ListTasks"}
# What Lambda's SQS event source mapping needs of the function's role, and no more.
QUEUE_CONSUMER_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
_WILDCARDS = ("*", "?")

ConditionCheck = Callable[[Mapping[str, Any]], list[str]]


def unconditioned(condition: Mapping[str, Any]) -> list[str]:
    return []


@dataclass(frozen=True)
class Grant:
    """One action the function may be granted: on which resources, under which conditions."""

    resource_allowed: Callable[[str], bool]
    condition_problems: ConditionCheck = unconditioned


@dataclass(frozen=True)
class RecordProbe:
    """One ChangeResourceRecordSets call: records of these names and this type in the zone."""

    what: str
    zone: str
    names: tuple[str, ...]
    record_type: str
    allowed: bool


def audit(deployment: FunctionDeployment, policy: Mapping[str, Any]) -> list[str]:
    """Every way the policy grants more than the function needs; empty when it does not."""
    grants = allowed_grants(deployment)
    problems = [] if policy.get("Version") == "2012-10-17" else ["Version is not 2012-10-17"]
    for index, statement in enumerate(policy.get("Statement", [])):
        where = f"{deployment.policy_file} statement {statement.get('Sid') or index}"
        problems += [f"{where}: {problem}" for problem in statement_problems(statement, grants)]
    problems += [f"{deployment.policy_file}: {problem}" for problem in probe_problems(deployment, policy)]
    return problems


def probe_problems(deployment: FunctionDeployment, policy: Mapping[str, Any]) -> list[str]:
    problems = []
    for probe in record_probes(deployment):
        if may_change_records(policy, probe.zone, probe.names, probe.record_type) != probe.allowed:
            verdict = "refused" if probe.allowed else "allowed"
            problems.append(f"{probe.record_type} records of {probe.what} ({', '.join(probe.names)}) are {verdict}")
    return problems


def record_probes(deployment: FunctionDeployment) -> list[RecordProbe]:
    if deployment.function in TASK_RECORD_WRITERS:
        settings, where = deployment.task_dns, deployment.location
        zone = f"arn:{where.partition}:route53:::hostedzone/{settings.hosted_zone_id}"
        return name_probes(zone, "A", allowed=[f"{TASK_ID}.{settings.domain_prefix}"],
                           refused=foreign_names(settings.domain_prefix))
    if deployment.function == RENEW_CERTIFICATES:
        return [probe for zone, domains in certificate_domains_by_zone(deployment).items()
                for probe in name_probes(zone, "TXT", allowed=[f"_acme-challenge.{domain}" for domain in domains],
                                         refused=names_beside_certificates(domains))]
    return []


def certificate_domains_by_zone(deployment: FunctionDeployment) -> dict[str, list[str]]:
    """The certificates' names (a wildcard as its base name), by zone ARN: a zone's challenge
    names may all be allowed together, so each zone is probed with all of them."""
    where = deployment.location
    domains: dict[str, set[str]] = {}
    for spec in deployment.renewal.certificates:
        zone = f"arn:{where.partition}:route53:::hostedzone/{spec.zone_id}"
        domains.setdefault(zone, set()).update(domain.removeprefix("*.") for domain in spec.domains)
    return {zone: sorted(names) for zone, names in sorted(domains.items())}


def names_beside_certificates(domains: Iterable[str]) -> dict[str, str]:
    return {f"{what} of {domain}": name for domain in domains
            for what, name in {"a task name": f"{TASK_ID}.{domain}", **foreign_names(domain)}.items()}


def foreign_names(domain: str) -> dict[str, str]:
    """Names under or beside the domain that are not a task's, by what they are."""
    return {
        # Route53 checks the normalized name: "*" becomes the octal escape \\052.
        "the wildcard record": f"\\052.{domain}",
        "a name two labels deep": f"x.{TASK_ID}.{domain}",
        "an ACME challenge below the domain": f"_acme-challenge.x.{domain}",
        "the domain itself": domain,
        "a name in a domain ending like it": f"{TASK_ID}.x{domain}",
        "a name in another domain": f"{TASK_ID}.example.invalid",
        "the ACME challenge": f"_acme-challenge.{domain}",
    }


def name_probes(zone: str, record_type: str, allowed: Iterable[str], refused: Mapping[str, str]) -> list[RecordProbe]:
    allowed = list(allowed)
    probes = [RecordProbe("a name the function writes", zone, (name,), record_type, True) for name in allowed]
    for what, name in refused.items():
        if name in allowed:
            continue
        probes.append(RecordProbe(what, zone, (name,), record_type, False))
        # In one batch with an allowed name: a deny that needs every name of the batch to match
        # (ForAllValues) would let it through.
        probes.append(RecordProbe(f"{what} beside an allowed name", zone, (allowed[0], name), record_type, False))
    return probes


def may_change_records(policy: Mapping[str, Any], zone: str, names: Iterable[str], record_type: str) -> bool:
    """IAM's verdict on one ChangeResourceRecordSets call, from this policy alone: no Deny
    matches and some Allow does."""
    context = {RECORD_NAMES_KEY: list(names), RECORD_TYPES_KEY: [record_type]}
    statements = [s for s in policy.get("Statement", []) if applies_to(s, CHANGE_RECORDS, zone)]
    if any(s.get("Effect") == "Deny" and conditions_hold(s.get("Condition", {}), context, unknown=False)
           for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and conditions_hold(s.get("Condition", {}), context, unknown=True)
               for s in statements)


def applies_to(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    # Action names are case-insensitive, resource ARNs are not.
    return (listed(statement, "Action", action.lower(), str.lower)
            and listed(statement, "Resource", resource, lambda pattern: pattern))


def listed(statement: Mapping[str, Any], element: str, value: str, normalize: Callable[[str], str]) -> bool:
    if element in statement:
        return any(string_like(normalize(pattern), value) for pattern in as_list(statement[element]))
    if f"Not{element}" in statement:
        return not any(string_like(normalize(pattern), value) for pattern in as_list(statement[f"Not{element}"]))
    return False


def conditions_hold(condition: Mapping[str, Any], context: Mapping[str, list[str]], unknown: bool) -> bool:
    """Every operator and key of the Condition block holds; `unknown` for what is not understood."""
    for operator, keys in condition.items():
        for key, patterns in keys.items():
            holds = operator_holds(operator, as_list(patterns), context[key]) if key in context else None
            if not (unknown if holds is None else holds):
                return False
    return True


def operator_holds(operator: str, patterns: list[str], values: list[str]) -> bool | None:
    qualifier, _, base = operator.rpartition(":")
    # ...IfExists differs only when the key is absent; the probed keys are always present.
    matches = STRING_OPERATORS.get(base.removesuffix("IfExists"))
    if matches is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        return None
    hits = [matches(patterns, value) for value in values]
    return all(hits) if qualifier == "ForAllValues" else any(hits)


def string_like(pattern: str, value: str) -> bool:
    """IAM's StringLike: `*` is any run of characters (dots and backslashes too), `?` any one
    character, everything else literal and case-sensitive."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, re.DOTALL) is not None


STRING_OPERATORS: dict[str, Callable[[list[str], str], bool]] = {
    "StringEquals": lambda patterns, value: value in patterns,
    "StringNotEquals": lambda patterns, value: value not in patterns,
    "StringLike": lambda patterns, value: any(string_like(pattern, value) for pattern in patterns),
    "StringNotLike": lambda patterns, value: not any(string_like(pattern, value) for pattern in patterns),
}


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
    if deployment.function in TASK_RECORD_WRITERS:
        grants = task_dns_grants(deployment)
    elif deployment.function == ANNOUNCE_HOSTNAMES:
        grants = announce_hostnames_grants(deployment)
    elif deployment.function == RENEW_CERTIFICATES:
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
    # No route53:GetChange and no events:PutEvents: the writers never wait for a change to be INSYNC
    # nor announce anything; announce_hostnames does both, from their readiness checks.
    grants = {
        "route53:ChangeResourceRecordSets": Grant(
            equals(zone), record_change_conditions(under_prefix, {"A", "AAAA", "TXT"})),
        "route53:ListResourceRecordSets": Grant(equals(zone)),
        "ec2:DescribeNetworkInterfaces": Grant(equals("*")),
        # Any task ARN format, but only with the condition that pins the cluster.
        "ecs:DescribeTasks": Grant(lambda resource: resource.startswith(tasks), on_cluster),
    }
    if deployment.function == RECONCILE_TASK_DNS:
        # Only the sweep lists the cluster; the event handlers describe the tasks their events name.
        grants["ecs:ListTasks"] = Grant(equals("*"), on_cluster)
    send_to = set()
    if deployment.function == UPDATE_TASK_DNS:
        # Lambda's on-failure destination sends with the function's role, to this queue only.
        send_to.add(where.arn("sqs", deployment.failed_events_queue))
    if deployment.hostname_events_queue_arn:
        # A readiness check per change batch, for announce_hostnames; only when the stage has one.
        send_to.add(deployment.hostname_events_queue_arn)
    if send_to:
        grants["sqs:SendMessage"] = Grant(one_of(send_to))
    if deployment.function == PROCESS_TASK_EVENTS:
        # Lambda polls the stage's queue with the function's role: that queue only, and only to consume it.
        grants.update({action: Grant(equals(deployment.task_events_queue_arn)) for action in QUEUE_CONSUMER_ACTIONS})
    return grants


def announce_hostnames_grants(deployment: FunctionDeployment) -> dict[str, Grant]:
    settings, where = deployment.task_dns, deployment.location
    zone = f"arn:{where.partition}:route53:::hostedzone/{settings.hosted_zone_id}"
    queue = equals(deployment.hostname_events_queue_arn)
    # Reads Route53 and ECS, puts events on one bus, and uses its queue: it writes no record.
    return {
        "route53:GetChange": Grant(equals(f"arn:{where.partition}:route53:::change/*")),
        "route53:ListResourceRecordSets": Grant(equals(zone)),
        "ecs:DescribeTasks": Grant(lambda resource: resource.startswith(where.arn("ecs", "task/")),
                                   cluster_condition(settings.cluster_arn)),
        # One bus, named exactly: never a pattern, whatever EVENT_BUS_NAME says.
        "events:PutEvents": Grant(lambda resource: resource == deployment.event_bus_arn and not has_wildcard(resource)),
        # Lambda's event source mapping consumes the queue, the function puts checks back in it.
        **{action: Grant(queue) for action in (*QUEUE_CONSUMER_ACTIONS, "sqs:SendMessage")},
    }


def renewal_grants(deployment: FunctionDeployment) -> dict[str, Grant]:
    settings, where = deployment.renewal, deployment.location
    certificates = settings.certificates
    zones = {f"arn:{where.partition}:route53:::hostedzone/{spec.zone_id}" for spec in certificates}
    challenge_names = {f"_acme-challenge.{domain.removeprefix('*.')}"
                       for spec in certificates for domain in spec.domains}
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
        # A stored pair left disagreeing is put back from earlier versions of its own objects.
        "s3:GetObjectVersion": object_grant,
        "s3:ListBucketVersions": Grant(one_of(buckets)),
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
