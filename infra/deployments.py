"""The deployed functions of a stage, as chalice will deploy them, read from .chalice/config.json.

Chalice's own Config resolves each function's environment and policy file (stage and
per-function settings merged the way `chalice deploy` merges them), and the app's own settings
classes parse the environment, so a policy is derived from exactly what the function will see.
"""

import json
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
TASK_EVENTS_FUNCTION = "update_task_dns"
TASK_DNS_FUNCTIONS = (TASK_EVENTS_FUNCTION, "reconcile_task_dns")
RENEWAL_FUNCTION = "renew_certificates"
FUNCTIONS = (*TASK_DNS_FUNCTIONS, RENEWAL_FUNCTION)


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
        # How chalice names the function it deploys: <app>-<stage>-<function>.
        return f"{self.app_name}-{self.stage}-{self.function}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.lambda_name}"

    @property
    def failed_events_queue(self) -> str:
        # The SQS queue infra/supporting-resources.yaml names "${UpdateTaskDnsFunctionName}-failed":
        # Lambda sends it the events update_task_dns still failed on after its async retries.
        return f"{self.lambda_name}-failed"

    @property
    def task_dns(self) -> TaskDnsSettings:
        return TaskDnsSettings.from_environment(self.environment)

    @property
    def renewal(self) -> RenewalSettings:
        return RenewalSettings.from_environment(self.environment)

    @property
    def location(self) -> Location:
        return Location.of_cluster(self.environment.get("CLUSTER_ARN", ""))


def load_config(chalice_dir: Path = CHALICE_DIR) -> dict:
    return json.loads((chalice_dir / "config.json").read_text())


def stage_names(config: Mapping) -> tuple[str, ...]:
    return tuple(config.get("stages", {}))


def function_deployments(config: Mapping, stage: str) -> tuple[FunctionDeployment, ...]:
    require_stage_level_cluster(config, stage)
    return tuple(function_deployment(config, stage, function) for function in FUNCTIONS)


def require_stage_level_cluster(config: Mapping, stage: str) -> None:
    # Chalice builds the event rule from app.py loaded with the stage-level environment only: a
    # CLUSTER_ARN set per function would pass everything here and deploy a rule matching nothing.
    stage_environment = Config(chalice_stage=stage, config_from_disk=dict(config)).environment_variables
    if not stage_environment.get("CLUSTER_ARN"):
        raise DeploymentConfigError(
            f"stage {stage!r}: set CLUSTER_ARN in stages.{stage}.environment_variables (not per function); "
            "chalice reads it there when it creates the ECS event rule")


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
