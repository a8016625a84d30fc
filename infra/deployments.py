"""The deployed functions of a stage, as chalice will deploy them, read from .chalice/config.json.

Chalice's own Config resolves each function's environment and policy file (stage and
per-function settings merged the way `chalice deploy` merges them), and the app's own settings
classes parse the environment, so a policy is derived from exactly what the function will see.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalice.config import Config

from chalicelib.certificates.settings import RenewalSettings
from chalicelib.task_records.arns import cluster_arn_parts
from chalicelib.task_records.settings import TaskDnsSettings

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_DIR / ".chalice"

# Names are part of the contract (docs/contract.md); tests check this against app.py.
# Task events reach one of two functions, by the stage's mode: update_task_dns, one event at a
# time from the stage's EventBridge rule (per-event mode), or, when the stage sets
# TASK_EVENTS_QUEUE_ARN, process_task_events, batches of them from that SQS queue (buffered mode).
UPDATE_TASK_DNS = "update_task_dns"
PROCESS_TASK_EVENTS = "process_task_events"
RECONCILE_TASK_DNS = "reconcile_task_dns"
RENEWAL_FUNCTION = "renew_certificates"
TASK_DNS_FUNCTIONS = (UPDATE_TASK_DNS, PROCESS_TASK_EVENTS, RECONCILE_TASK_DNS)
# Every function app.py can register; a stage deploys three of them (stage_functions).
FUNCTIONS = (*TASK_DNS_FUNCTIONS, RENEWAL_FUNCTION)

TASK_EVENTS_QUEUE_VARIABLE = "TASK_EVENTS_QUEUE_ARN"
_QUEUE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]{1,80})")
_STANDARD_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


class DeploymentConfigError(ValueError):
    """.chalice/config.json does not wire a function the way the policies need; the message says how."""


@dataclass(frozen=True)
class Location:
    """Partition, region and account of the stage, taken from its CLUSTER_ARN."""

    partition: str
    region: str
    account: str

    @classmethod
    def of_cluster(cls, cluster_arn: str) -> "Location":
        parts = cluster_arn_parts(cluster_arn)
        if parts is None:
            raise DeploymentConfigError(f"CLUSTER_ARN={cluster_arn!r} is not an ECS cluster ARN")
        return cls(parts["partition"], parts["region"], parts["account"])

    def arn(self, service: str, resource: str, regional: bool = True) -> str:
        if not regional:
            return f"arn:{self.partition}:{service}:::{resource}"
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"


@dataclass(frozen=True)
class FunctionDeployment:
    """One Lambda function of one stage, with the environment chalice deploys it with."""

    app_name: str
    stage: str
    function: str
    environment: Mapping[str, str]
    policy_file: str

    @property
    def lambda_name(self) -> str:
        return lambda_name(self.app_name, self.stage, self.function)

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.lambda_name}"

    @property
    def failed_events_queue(self) -> str:
        # The SQS queue infra/supporting-resources.yaml names "${UpdateTaskDnsFunctionName}-failed":
        # Lambda sends it the events update_task_dns still failed on after its async retries.
        return f"{self.lambda_name}-failed"

    @property
    def task_events_queue_arn(self) -> str:
        # Read as app.py reads it: stripped, and empty means per-event mode.
        return self.environment.get(TASK_EVENTS_QUEUE_VARIABLE, "").strip()

    @property
    def task_dns(self) -> TaskDnsSettings:
        return TaskDnsSettings.from_environment(self.environment)

    @property
    def renewal(self) -> RenewalSettings:
        return RenewalSettings.from_environment(self.environment)

    @property
    def location(self) -> Location:
        return Location.of_cluster(self.environment.get("CLUSTER_ARN", ""))


def lambda_name(app_name: str, stage: str, function: str) -> str:
    # How chalice names the function it deploys: <app>-<stage>-<function>.
    return f"{app_name}-{stage}-{function}"


def load_config(chalice_dir: Path = CHALICE_DIR) -> dict:
    return json.loads((chalice_dir / "config.json").read_text())


def stage_names(config: Mapping) -> tuple[str, ...]:
    return tuple(config.get("stages", {}))


def function_deployments(config: Mapping, stage: str) -> tuple[FunctionDeployment, ...]:
    return tuple(function_deployment(config, stage, function) for function in stage_functions(config, stage))


def stage_functions(config: Mapping, stage: str) -> tuple[str, ...]:
    """The functions `chalice deploy --stage <stage>` deploys: app.py registers process_task_events
    instead of update_task_dns when the stage sets TASK_EVENTS_QUEUE_ARN."""
    require_stage_level_cluster(config, stage)
    task_events = PROCESS_TASK_EVENTS if task_events_queue_arn(config, stage) else UPDATE_TASK_DNS
    return (task_events, RECONCILE_TASK_DNS, RENEWAL_FUNCTION)


def stage_environment(config: Mapping, stage: str) -> dict[str, str]:
    """What chalice loads app.py with when it deploys the stage: top-level and stage-level
    environment_variables, none of a function's own."""
    return Config(chalice_stage=stage, config_from_disk=dict(config)).environment_variables


def require_stage_level_cluster(config: Mapping, stage: str) -> None:
    # Chalice builds the event rule from app.py loaded with the stage-level environment only: a
    # CLUSTER_ARN set per function would pass everything here and deploy a rule matching nothing.
    if not stage_environment(config, stage).get("CLUSTER_ARN"):
        raise DeploymentConfigError(
            f"stage {stage!r}: set CLUSTER_ARN in stages.{stage}.environment_variables (not per function); "
            "chalice reads it there when it creates the ECS event rule")


def task_events_queue_arn(config: Mapping, stage: str) -> str:
    """The stage's TASK_EVENTS_QUEUE_ARN, checked; empty in per-event mode."""
    environment = stage_environment(config, stage)
    # Chalice decides which function receives task events from app.py loaded with the stage-level
    # environment: a value set per function would deploy the other mode's function, and with it
    # a policy for a queue the function never reads.
    stage_value = environment.get(TASK_EVENTS_QUEUE_VARIABLE)
    for function in sorted({*FUNCTIONS, *config.get("stages", {}).get(stage, {}).get("lambda_functions", {})}):
        resolved = Config(chalice_stage=stage, function_name=function, config_from_disk=dict(config))
        if resolved.environment_variables.get(TASK_EVENTS_QUEUE_VARIABLE) != stage_value:
            raise DeploymentConfigError(
                f"stage {stage!r}, function {function!r}: set {TASK_EVENTS_QUEUE_VARIABLE} in "
                f"stages.{stage}.environment_variables only (not per function); chalice reads it there "
                "when it decides which function receives task events")
    queue_arn = (stage_value or "").strip()
    if queue_arn:
        require_queue_of_the_cluster(stage, queue_arn, Location.of_cluster(environment.get("CLUSTER_ARN", "")))
    return queue_arn


def require_queue_of_the_cluster(stage: str, queue_arn: str, cluster: Location) -> None:
    setting = f"stage {stage!r}: {TASK_EVENTS_QUEUE_VARIABLE}={queue_arn!r}"
    how = ("set it to the TaskEventsQueueArn output of the supporting stack (README \"Buffered mode\"), "
           "or remove it for per-event mode")
    match = _QUEUE_ARN.fullmatch(queue_arn)
    if match is not None and match["name"].endswith(".fifo"):
        raise DeploymentConfigError(
            f"{setting} is a FIFO queue; buffered mode needs a standard queue (Lambda takes at most 10 "
            f"messages a batch from a FIFO queue); {how}")
    if match is None or not _STANDARD_QUEUE_NAME.fullmatch(match["name"]):
        raise DeploymentConfigError(
            f"{setting} is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue name>); {how}")
    queue = Location(match["partition"], match["region"], match["account"])
    if queue != cluster:
        raise DeploymentConfigError(
            f"{setting} is in {queue.partition}/{queue.region}/{queue.account}, the cluster (CLUSTER_ARN) in "
            f"{cluster.partition}/{cluster.region}/{cluster.account}: the queue must be in the cluster's region "
            f"and account, where its EventBridge rule and the functions are; {how}")


def function_deployment(config: Mapping, stage: str, function: str) -> FunctionDeployment:
    resolved = Config(chalice_stage=stage, function_name=function, config_from_disk=dict(config))
    if resolved.autogen_policy is not False or resolved.manage_iam_role is not True:
        raise DeploymentConfigError(
            f"stage {stage!r}, function {function!r}: set autogen_policy false and manage_iam_role "
            "true, so that chalice gives the function its own role with its own policy file")
    if not resolved.iam_policy_file:
        # Without it chalice falls back to policy-<stage>.json, one policy shared by every function.
        raise DeploymentConfigError(
            f"stage {stage!r}, function {function!r}: set lambda_functions.{function}.iam_policy_file "
            f"(e.g. policy-{stage}-{function}.json)")
    return FunctionDeployment(
        app_name=resolved.app_name,
        stage=stage,
        function=function,
        environment=resolved.environment_variables,
        policy_file=resolved.iam_policy_file,
    )
