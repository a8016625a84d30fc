"""Where the command's settings come from: a stage of .chalice/config.json, then the environment.

`--stage NAME` starts from the environment chalice deploys that stage's functions with (infra's
reading of .chalice/config.json, chalice's own Config underneath); variables set in the
environment override it. Without a stage, the environment alone: the same variables the
functions read. The app's own settings classes parse the result, so a value a function would
refuse is refused here with the same message, naming the variable.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.certificates.settings import RenewalSettings
from chalicelib.shared.functions import RECONCILE_TASK_DNS, RENEW_CERTIFICATES, TASK_EVENTS_QUEUE_VARIABLE
from chalicelib.task_records.settings import TaskDnsSettings
from infra.deployments import (
    CHALICE_DIR,
    DeploymentConfigError,
    function_deployments,
    load_config,
    stage_names,
)


class StageConfigError(ValueError):
    """The stage cannot be read from .chalice/config.json; the message says what to fix."""


@dataclass(frozen=True)
class OperatorConfig:
    stage: str | None
    task_dns_environment: Mapping[str, str]
    renewal_environment: Mapping[str, str]
    app_name: str | None = None  # known with a stage: deployed names are <app>-<stage>-<function>

    def task_dns(self) -> TaskDnsSettings:
        return TaskDnsSettings.from_environment(self.task_dns_environment)

    def renewal(self) -> RenewalSettings:
        return RenewalSettings.from_environment(self.renewal_environment)

    @property
    def task_events_queue_arn(self) -> str | None:
        return self.task_dns_environment.get(TASK_EVENTS_QUEUE_VARIABLE, "").strip() or None

    def lambda_name(self, function: str) -> str | None:
        """The deployed function's name; None without a stage."""
        if self.stage is None or self.app_name is None:
            return None
        return f"{self.app_name}-{self.stage}-{function}"


def default_chalice_dir(cwd: Path) -> Path:
    """The project in the current directory, as for `chalice`; else the checkout this code runs from
    (the editable install `make` does)."""
    here = cwd / ".chalice"
    return here if (here / "config.json").exists() else CHALICE_DIR


def load_operator_config(stage: str | None, environ: Mapping[str, str], chalice_dir: Path = CHALICE_DIR
                         ) -> OperatorConfig:
    if stage is None:
        return OperatorConfig(None, dict(environ), dict(environ))
    try:
        config = load_config(chalice_dir)
    except FileNotFoundError:
        raise StageConfigError(f"--stage {stage}: there is no {chalice_dir / 'config.json'}; run the command in "
                               "the project, or set the variables in the environment without --stage") from None
    except json.JSONDecodeError as error:
        raise StageConfigError(f"{chalice_dir / 'config.json'} is not valid JSON: {error}") from None
    known = stage_names(config)
    if stage not in known:
        raise StageConfigError(f"--stage {stage}: no such stage in {chalice_dir / 'config.json'} "
                               f"(stages: {', '.join(known) or 'none'})")
    try:
        deployments = {d.function: d for d in function_deployments(config, stage)}
    except DeploymentConfigError as error:
        raise StageConfigError(str(error)) from None
    # Each side reads the environment its function is deployed with; the shell's variables win.
    environments = {name: {**d.environment, **environ} for name, d in deployments.items()}
    return OperatorConfig(
        stage=stage,
        task_dns_environment=environments[RECONCILE_TASK_DNS],
        renewal_environment=environments[RENEW_CERTIFICATES],
        app_name=next(iter(deployments.values())).app_name,
    )
