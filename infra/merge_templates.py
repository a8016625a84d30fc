"""infra/chalice-merge-<stage>.json: supporting-resources.yaml adapted to `chalice package`.

`chalice package` leaves FunctionName unset, so CloudFormation would name the functions
<stack>-RenewCertificates-<random>: the per-function log-group grants (policy files), the log
groups, the failed-events queue grant and the alarms would then point at nothing. The merge
template pins each function to the name `chalice deploy` gives it (<app>-<stage>-<function>),
and defaults the template's parameters from the stage configuration.

The roles are another matter: chalice's SAM output names no role (CloudFormation makes up
<stack>-RenewCertificatesRole-<random>), so the bucket policy names the renewal role by
Fn::GetAtt instead of by the name `chalice deploy` gives it. And the resources that name a
function by its name rather than by Ref get DependsOn: CloudFormation cannot see that dependency.

The stage's functions are fixed by its configuration: `chalice package` packages
process_task_events when the stage sets TASK_EVENTS_QUEUE_ARN, update_task_dns otherwise, and
announce_hostnames when it sets HOSTNAME_EVENTS_QUEUE_ARN. So the merge template fixes
TaskEventsQueueName and HostnameEventsQueueName too (the queues' names in those ARNs, or empty)
and keeps only the resources of the stage's functions, without their conditions: the others
would name a function the stack does not have. And each function waits for the queues it names
by ARN (its event source mapping's, the one its readiness checks go to).
Pure: FunctionDeployments + base template -> merge template.
"""

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from chalice.utils import to_cfn_resource_name

from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from infra.deployments import (
    FUNCTIONS,
    FunctionDeployment,
    function_deployments,
    lambda_name,
    stage_names,
)

INFRA_DIR = Path(__file__).resolve().parent
BASE_TEMPLATE = INFRA_DIR / "supporting-resources.yaml"
# The template parameter that names each function.
FUNCTION_NAME_PARAMETERS = {
    UPDATE_TASK_DNS: "UpdateTaskDnsFunctionName",
    PROCESS_TASK_EVENTS: "ProcessTaskEventsFunctionName",
    RECONCILE_TASK_DNS: "ReconcileTaskDnsFunctionName",
    ANNOUNCE_HOSTNAMES: "AnnounceHostnamesFunctionName",
    RENEW_CERTIFICATES: "RenewalFunctionName",
}
# How supporting-resources.yaml names the renewal role: as `chalice deploy` names it.
DEPLOYED_RENEWAL_ROLE = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RenewalFunctionName}"}
FAILED_EVENT_DESTINATION = "UpdateTaskDnsEventInvokeConfig"
TASK_EVENTS_QUEUE = "TaskEvents"
QUEUE_NAME_PARAMETER = "TaskEventsQueueName"
HOSTNAME_EVENTS_QUEUE = "HostnameEvents"
HOSTNAME_QUEUE_NAME_PARAMETER = "HostnameEventsQueueName"
CLUSTER_PARAMETER = "ClusterArn"
# The parameters the stage fixes, and the variable of .chalice/config.json that fixes each.
FIXED_PARAMETERS = {QUEUE_NAME_PARAMETER: "TASK_EVENTS_QUEUE_ARN",
                    HOSTNAME_QUEUE_NAME_PARAMETER: "HOSTNAME_EVENTS_QUEUE_ARN",
                    CLUSTER_PARAMETER: "CLUSTER_ARN"}
# The parameters whose value alone decides which resources the stack has.
MODE_PARAMETERS = (QUEUE_NAME_PARAMETER, HOSTNAME_QUEUE_NAME_PARAMETER)


def merge_template_name(stage: str) -> str:
    return f"chalice-merge-{stage}.json"


def merge_template(base: Mapping[str, Any], deployments: Sequence[FunctionDeployment]) -> dict:
    stage = deployments[0].stage
    functions = {d.function for d in deployments}
    # One stack holds the functions too, so a mode switch replaces function and log group in one
    # update: the log group of the event function the stage does not deploy is not needed here.
    unused = {log_group_resource(f) for f in (UPDATE_TASK_DNS, PROCESS_TASK_EVENTS) if f not in functions}
    base = {**base, "Resources": {name: r for name, r in base["Resources"].items() if name not in unused}}
    defaults = parameter_defaults(deployments)
    parameters: dict[str, dict[str, Any]] = {name: {"Default": value} for name, value in defaults.items()}
    # Another name than the one in TASK_EVENTS_QUEUE_ARN (HOSTNAME_EVENTS_QUEUE_ARN) would leave an
    # event source mapping without its queue, another cluster would feed it another cluster's
    # tasks. (Parameters the stage's functions do not use go: see for_stage.)
    for name, variable in FIXED_PARAMETERS.items():
        parameters[name].update(AllowedValues=[defaults[name]],
                                Description=f"Fixed by the {stage} stage's {variable} in .chalice/config.json")
    resources: dict[str, Any] = {
        function_resource(d.function): {
            "Properties": {"FunctionName": d.lambda_name},
            # Its log group first: Lambda would otherwise create it on the first run, and
            # the stack's LogGroup (with the retention) would then fail as already existing.
            # And the queues it names by ARN.
            "DependsOn": [log_group_resource(d.function), *queues_used_by(d)],
        } for d in deployments}
    if UPDATE_TASK_DNS in functions:
        resources[FAILED_EVENT_DESTINATION] = {"DependsOn": [function_resource(UPDATE_TASK_DNS)]}
    resources["CertificateBucketPolicy"] = {"Properties": {"PolicyDocument": replaced(
        base["Resources"]["CertificateBucketPolicy"]["Properties"]["PolicyDocument"],
        DEPLOYED_RENEWAL_ROLE, {"Fn::GetAtt": [role_resource(RENEW_CERTIFICATES), "Arn"]})}}
    overlay = {
        "Description": (f"{base['Description']}, merged with the {stage} stage's functions. Generated by "
                        "`python -m infra` from infra/supporting-resources.yaml and .chalice/config.json."),
        "Parameters": parameters,
        "Resources": resources,
    }
    merged = for_stage(deep_merge(base, overlay), {name: defaults[name] for name in MODE_PARAMETERS})
    # The base template's Rules only check parameters the stage fixes here; and how the SAM
    # transform of `chalice package`'s output treats a Rules section is not documented.
    merged.pop("Rules", None)
    return merged


def queues_used_by(deployment: FunctionDeployment) -> list[str]:
    """The queues of the stack the function names by ARN in its environment: they must exist
    before it (an event source mapping on a missing queue fails, and so does a SendMessage)."""
    queues = []
    if deployment.function == PROCESS_TASK_EVENTS:
        queues.append(TASK_EVENTS_QUEUE)
    if deployment.hostname_events_queue_arn and deployment.function in (*TASK_RECORD_WRITERS, ANNOUNCE_HOSTNAMES):
        queues.append(HOSTNAME_EVENTS_QUEUE)
    return queues


def for_stage(template: Mapping[str, Any], fixed: Mapping[str, str]) -> dict:
    """The template with the `fixed` parameters' values set: every condition that depends on
    them alone is decided, its resources, outputs and rules kept without the condition or
    dropped, and the parameters nothing refers to any more dropped."""
    conditions = template.get("Conditions", {})

    def value(node: Any) -> Any:
        if isinstance(node, str):
            return node
        if isinstance(node, Mapping) and list(node) == ["Ref"] and node["Ref"] in fixed:
            return fixed[node["Ref"]]
        return None

    def decided(node: Any) -> bool | None:
        """True or False when the mode alone decides the condition; None when it does not."""
        if not isinstance(node, Mapping) or len(node) != 1:
            return None
        (function, argument), = node.items()
        if function == "Condition":
            return decided(conditions[argument])
        if function == "Fn::Equals":
            left, right = value(argument[0]), value(argument[1])
            return None if left is None or right is None else left == right
        if function == "Fn::Not":
            inner = decided(argument[0])
            return None if inner is None else not inner
        if function == "Fn::And":
            parts = [decided(part) for part in argument]
            return False if False in parts else True if all(parts) else None
        return None

    def undecided_part(node: Any) -> Any:
        # What is left of an Fn::And once the parts the mode decides (all true) are taken out.
        if isinstance(node, Mapping) and list(node) == ["Fn::And"]:
            rest = [part for part in node["Fn::And"] if decided(part) is None]
            return rest[0] if len(rest) == 1 else {"Fn::And": rest}
        return node

    def kept(items: Mapping[str, Any], key: str) -> dict[str, Any]:
        # Resources and outputs name their condition; a rule's RuleCondition is an expression.
        result = {}
        for name, item in items.items():
            condition = {"Condition": item[key]} if isinstance(item.get(key), str) else item.get(key)
            verdict = None if condition is None else decided(condition)
            if verdict is not False:
                result[name] = {k: v for k, v in item.items() if k != key} if verdict else dict(item)
        return result

    resolved = dict(template)
    resolved["Conditions"] = {name: undecided_part(node) for name, node in conditions.items()
                              if decided(node) is None}
    for section, key in (("Resources", "Condition"), ("Outputs", "Condition"), ("Rules", "RuleCondition")):
        if section in template:
            resolved[section] = kept(template[section], key)
    for section in ("Conditions", "Outputs", "Rules"):
        if section in resolved and not resolved[section]:
            del resolved[section]
    used = set(referenced_names({k: v for k, v in resolved.items() if k != "Parameters"}))
    resolved["Parameters"] = {name: p for name, p in template["Parameters"].items() if name in used}
    return resolved


def referenced_names(node: Any) -> Iterator[str]:
    """Every name a Ref or an Fn::Sub refers to."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                yield from re.findall(r"\$\{([^}.!]+)\}", text)
                yield from referenced_names(value)
            else:
                yield from referenced_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from referenced_names(item)


def function_resource(function: str) -> str:
    # As chalice's SAM generator names the function (and SAM keeps it for AWS::Lambda::Function).
    return to_cfn_resource_name(function)


def role_resource(function: str) -> str:
    # As chalice names a function's own role (manage_iam_role, no autogen_policy): <function>_role.
    return to_cfn_resource_name(f"{function}_role")


def log_group_resource(function: str) -> str:
    return f"{function_resource(function)}LogGroup"


def parameter_defaults(deployments: Sequence[FunctionDeployment]) -> dict[str, str]:
    """Defaults the stage configuration determines; a parameter it leaves open stays required."""
    renewal = next(d for d in deployments if d.function == RENEW_CERTIFICATES)
    settings = renewal.renewal
    # Every function's name, deployed in this stage or not: the parameter's default is the name
    # chalice would give it in this stage.
    defaults = {FUNCTION_NAME_PARAMETERS[function]: lambda_name(renewal.app_name, renewal.stage, function)
                for function in FUNCTIONS}
    # The queues' names in TASK_EVENTS_QUEUE_ARN and HOSTNAME_EVENTS_QUEUE_ARN (checked to be in the
    # stage's region and account); empty when unset. The buffered mode's rule filters on the
    # stage's cluster.
    defaults[QUEUE_NAME_PARAMETER] = renewal.task_events_queue_arn.rsplit(":", 1)[-1]
    defaults[HOSTNAME_QUEUE_NAME_PARAMETER] = renewal.hostname_events_queue_arn.rsplit(":", 1)[-1]
    defaults[CLUSTER_PARAMETER] = renewal.environment["CLUSTER_ARN"]
    # The functions are in the same stack; DependsOn orders the destination after its function.
    defaults["FunctionsDeployed"] = "true"
    buckets = {spec.bucket for spec in settings.certificates}
    if len(buckets) == 1:
        defaults["CertificateBucketName"] = buckets.pop()
    topics = {topic for spec in settings.certificates
              for topic in (spec.success_topic_arn, spec.failure_topic_arn) if topic}
    if len(topics) == 1:
        defaults["NotificationTopicName"] = topics.pop().rsplit(":", 1)[1]
    if settings.notify_email:
        defaults["NotificationEmail"] = settings.notify_email
    return defaults


def replaced(tree: Any, old: Any, new: Any) -> Any:
    """The tree with every node equal to `old` replaced by `new`."""
    if tree == old:
        return new
    if isinstance(tree, Mapping):
        return {key: replaced(value, old, new) for key, value in tree.items()}
    if isinstance(tree, list):
        return [replaced(item, old, new) for item in tree]
    return tree


def deep_merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(overlay, Mapping):
        return {**base, **{key: deep_merge(base.get(key), value) for key, value in overlay.items()}}
    return overlay


def load_base_template(path: Path = BASE_TEMPLATE) -> dict:
    # Plain YAML: the template uses the long form of intrinsic functions (no !Ref tags).
    return yaml.safe_load(path.read_text())


def render(template: Mapping[str, Any]) -> str:
    return json.dumps(template, indent=2) + "\n"


def merge_template_files(config: Mapping, base: Mapping[str, Any]) -> dict[str, str]:
    """File name under infra/ -> content, one per stage."""
    return {merge_template_name(stage): render(merge_template(base, function_deployments(config, stage)))
            for stage in stage_names(config)}
