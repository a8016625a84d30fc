"""Are the stage's functions deployed, and wired to what should invoke them?

The schedules of reconcile_task_dns and renew_certificates, and the task events: the per-event
EventBridge rule of update_task_dns (filtered on the stage's CLUSTER_ARN) or, in buffered mode
(TASK_EVENTS_QUEUE_ARN set), the queue that process_task_events reads, the supporting stack's
rule (TaskEventsRule) that fills it and the event source mapping that drains it. A feed that is
missing or disabled is a `fail` in both modes: no task gets a name until reconcile_task_dns runs.
A rule that forwards the cluster's task events with another pattern than task_event_pattern()
is a `warn` (an older deployment: it may let through events that cost reads, or miss some). A
stage with none of its functions deployed is skipped, not failed: doctor also serves before the
first deployment.

IAM: lambda:GetFunction, lambda:ListEventSourceMappings, events:ListRuleNamesByTarget,
events:DescribeRule, sqs:GetQueueUrl.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.functions import (
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_EVENTS_QUEUE_VARIABLE,
    UPDATE_TASK_DNS,
)
from chalicelib.task_records.events import task_event_pattern
from operator_cli.doctor.checks import FAIL, OK, SKIP, WARN, Check

SCHEDULED_FUNCTIONS = (RECONCILE_TASK_DNS, RENEW_CERTIFICATES)
ECS_EVENT_SOURCE = "aws.ecs"
_NO_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


@dataclass(frozen=True)
class Rule:
    name: str
    enabled: bool
    schedule: str | None = None
    pattern: Mapping[str, Any] | None = None

    def forwards_task_events_of(self, cluster_arn: str) -> bool:
        pattern = self.pattern or {}
        detail = pattern.get("detail") if isinstance(pattern.get("detail"), Mapping) else {}
        return ECS_EVENT_SOURCE in pattern.get("source", ()) and cluster_arn in detail.get("clusterArn", ())

    def has_pattern(self, expected: Mapping[str, Any]) -> bool:
        """The same pattern, the order of values in a list aside."""
        return self.pattern is not None and _canonical(self.pattern) == _canonical(expected)


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return sorted((_canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    return value


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    arn: str
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class TaskEventsQueue:
    arn: str
    exists: bool
    mapping_states: tuple[str, ...] = ()  # of the event source mappings from the queue to the function
    mapping_ids: tuple[str, ...] = ()  # their UUIDs, in the same order
    rules: tuple[Rule, ...] = ()  # rules that send events to the queue


def expected_functions(queue_arn: str | None) -> tuple[str, ...]:
    events = PROCESS_TASK_EVENTS if queue_arn else UPDATE_TASK_DNS
    return (events, *SCHEDULED_FUNCTIONS)


def deployment_checks(stage: str, names: Mapping[str, str], found: Mapping[str, DeployedFunction | None],
                      cluster_arn: str, queue: TaskEventsQueue | None) -> list[Check]:
    """names: function -> deployed name, for the functions expected_functions() lists."""
    if not any(found.values()):
        return [Check(SKIP, "functions", f"stage {stage}",
                      f"not deployed (no {', '.join(names.values())}): the deployed functions were not checked")]
    checks = []
    for function, name in names.items():
        deployed = found.get(function)
        if deployed is None:
            checks.append(Check(FAIL, "functions", name, f"not deployed: `chalice deploy --stage {stage}`"))
        elif function in SCHEDULED_FUNCTIONS:
            checks.append(_schedule_check(deployed, stage))
        elif function == UPDATE_TASK_DNS:
            checks.append(_event_rule_check(deployed, cluster_arn, stage))
        else:
            checks += _queue_checks(deployed, queue, cluster_arn, stage)
    return checks


def _schedule_check(deployed: DeployedFunction, stage: str) -> Check:
    schedules = [rule for rule in deployed.rules if rule.schedule]
    enabled = [rule for rule in schedules if rule.enabled]
    if enabled:
        return Check(OK, "schedule", deployed.name, f"deployed; runs on {enabled[0].schedule} (rule {enabled[0].name})")
    if schedules:
        return Check(FAIL, "schedule", deployed.name, f"its schedule rule {schedules[0].name} is disabled: "
                     f"`aws events enable-rule --name {schedules[0].name}`")
    return Check(FAIL, "schedule", deployed.name,
                 f"deployed, but no schedule invokes it: `chalice deploy --stage {stage}`")


def _event_rule_check(deployed: DeployedFunction, cluster_arn: str, stage: str) -> Check:
    patterns = [rule for rule in deployed.rules if rule.pattern is not None]
    matching = [rule for rule in patterns if rule.forwards_task_events_of(cluster_arn)]
    enabled = [rule for rule in matching if rule.enabled]
    exact = [rule for rule in enabled if rule.has_pattern(task_event_pattern(cluster_arn))]
    if exact:
        return Check(OK, "task-events", deployed.name, f"deployed; rule {exact[0].name} sends it the task events "
                     f"of {cluster_arn}")
    if enabled:
        return Check(WARN, "task-events", deployed.name, f"rule {enabled[0].name} sends it the task events of "
                     f"{cluster_arn}, but its pattern is not the one this version deploys: "
                     f"`chalice deploy --stage {stage}`")
    if matching:
        return Check(FAIL, "task-events", deployed.name, f"its rule {matching[0].name} is disabled: no task gets a "
                     f"name until reconcile runs; `aws events enable-rule --name {matching[0].name}`")
    if patterns:
        return Check(FAIL, "task-events", deployed.name,
                     f"its rule {patterns[0].name} does not forward the task events of {cluster_arn}: chalice reads "
                     f"CLUSTER_ARN when it deploys; `chalice deploy --stage {stage}` with CLUSTER_ARN set in the stage")
    return Check(FAIL, "task-events", deployed.name, f"deployed, but no rule sends it task events: "
                 f"`chalice deploy --stage {stage}`")


def _queue_checks(deployed: DeployedFunction, queue: TaskEventsQueue | None, cluster_arn: str,
                  stage: str) -> list[Check]:
    if queue is None or not queue.exists:
        arn = queue.arn if queue else "?"
        return [Check(FAIL, "task-events", deployed.name, f"its queue {arn} ({TASK_EVENTS_QUEUE_VARIABLE}) does not "
                      f"exist: deploy the supporting stack (infra/supporting-resources.yaml) with "
                      f"TaskEventsQueueName={arn.split(':')[-1]} and ClusterArn={cluster_arn}, or set "
                      f"{TASK_EVENTS_QUEUE_VARIABLE} to its TaskEventsQueueArn output; then "
                      f"`chalice deploy --stage {stage}`")]
    return [_mapping_check(deployed, queue, stage), queue_rule_check(queue.arn, queue.rules, cluster_arn)]


def _mapping_check(deployed: DeployedFunction, queue: TaskEventsQueue, stage: str) -> Check:
    if "Enabled" in queue.mapping_states:
        return Check(OK, "task-events", deployed.name, f"deployed; reads task events from {queue.arn}")
    if queue.mapping_states:
        uuid = queue.mapping_ids[0] if queue.mapping_ids else "<UUID>"
        return Check(FAIL, "task-events", deployed.name,
                     f"its event source mapping from {queue.arn} is {queue.mapping_states[0]}, not Enabled: task "
                     f"events wait in the queue and no task gets a name until reconcile_task_dns runs; "
                     f"`aws lambda update-event-source-mapping --uuid {uuid} --enabled`")
    return Check(FAIL, "task-events", deployed.name, f"no event source mapping delivers {queue.arn} to it: task "
                 f"events wait in the queue; `chalice deploy --stage {stage}` with {TASK_EVENTS_QUEUE_VARIABLE} set "
                 "in the stage (chalice creates the mapping)")


def queue_rule_check(queue_arn: str, rules: tuple[Rule, ...], cluster_arn: str) -> Check:
    """Buffered mode: the supporting stack's TaskEventsRule sends the cluster's task events to the
    queue. rules: the rules that target the queue."""
    stack = (f"deploy the supporting stack (infra/supporting-resources.yaml, its TaskEventsRule) with "
             f"TaskEventsQueueName={queue_arn.split(':')[-1]} and ClusterArn={cluster_arn}")
    matching = [rule for rule in rules if rule.forwards_task_events_of(cluster_arn)]
    enabled = [rule for rule in matching if rule.enabled]
    exact = [rule for rule in enabled if rule.has_pattern(task_event_pattern(cluster_arn))]
    if exact:
        return Check(OK, "task-events-queue", queue_arn, f"rule {exact[0].name} sends it the task events of "
                     f"{cluster_arn}")
    if enabled:
        return Check(WARN, "task-events-queue", queue_arn, f"rule {enabled[0].name} sends it the task events of "
                     f"{cluster_arn}, but its pattern is not task_event_pattern()'s: {stack}")
    if matching:
        return Check(FAIL, "task-events-queue", queue_arn, f"its rule {matching[0].name} is disabled: no task "
                     f"gets a name until reconcile_task_dns runs; `aws events enable-rule --name {matching[0].name}`")
    if rules:
        return Check(FAIL, "task-events-queue", queue_arn, f"no rule sends it the task events of {cluster_arn} "
                     f"(rule {rules[0].name} targets it with another pattern, or another cluster's): {stack}")
    return Check(FAIL, "task-events-queue", queue_arn, f"no EventBridge rule sends it the task events of "
                 f"{cluster_arn}: no task gets a name until reconcile_task_dns runs; {stack}")


class DeploymentReader:
    def __init__(self, lambda_client, events_client, sqs_client):
        self._lambda = lambda_client
        self._events = events_client
        self._sqs = sqs_client

    def function(self, name: str) -> DeployedFunction | None:
        try:
            configuration = self._lambda.get_function(FunctionName=name)["Configuration"]
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            return None
        arn = configuration["FunctionArn"]
        return DeployedFunction(name, arn, self.rules_targeting(arn))

    def rules_targeting(self, target_arn: str) -> tuple[Rule, ...]:
        pages = self._events.get_paginator("list_rule_names_by_target").paginate(TargetArn=target_arn)
        rules = []
        for rule_name in (name for page in pages for name in page["RuleNames"]):
            rule = self._events.describe_rule(Name=rule_name)
            pattern = rule.get("EventPattern")
            rules.append(Rule(rule_name, rule.get("State") == "ENABLED", rule.get("ScheduleExpression"),
                              json.loads(pattern) if pattern else None))
        return tuple(rules)

    def queue(self, queue_arn: str, function_name: str) -> TaskEventsQueue:
        account, name = queue_arn.split(":")[4], queue_arn.split(":")[5]
        try:
            self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        except ClientError as error:
            if error_code(error) not in _NO_QUEUE:
                raise
            return TaskEventsQueue(queue_arn, exists=False)
        mappings = self._lambda.list_event_source_mappings(EventSourceArn=queue_arn, FunctionName=function_name)
        found = mappings.get("EventSourceMappings", [])
        return TaskEventsQueue(queue_arn, True, tuple(m.get("State", "") for m in found),
                               tuple(m.get("UUID", "") for m in found), self.rules_targeting(queue_arn))
