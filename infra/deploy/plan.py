"""What a deployment of one stage creates and names, and the supporting stack's parameters. Pure.

A stage is two things: the supporting CloudFormation stack (infra/supporting-resources.yaml:
bucket, topic, log groups, queues, alarms), whose state CloudFormation keeps, and the functions
`chalice deploy` creates, whose state (.chalice/deployed/<stage>.json) make deploy keeps in a
bucket of the account, so that any clone can update or remove the same resources.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.deployments import DeploymentConfigError, FunctionDeployment, Location
from infra.merge_templates import HOSTNAME_QUEUE_NAME_PARAMETER, parameter_defaults

# A parameter's value that says "as the stack has it now" (CloudFormation's UsePreviousValue): the
# task roles that may read the key are not in the stage's configuration, and a value read back
# from the stack is not always what was given (a list comes back in another form).
AS_BEFORE = None
# Parameters make deploy decides itself, not from the stage's configuration.
FUNCTIONS_DEPLOYED = "FunctionsDeployed"
CERTIFICATE_READERS = "CertificateReaderRoleArns"
CERTIFICATE_BUCKET_EXISTS = "CertificateBucketExists"
# Parameters the stack cannot do without, and the setting of the stage that gives each.
REQUIRED_FROM_THE_STAGE = {
    "CertificateBucketName": "every CERTIFICATES item's certStorageBucketName (one bucket for the stage)",
    "NotificationTopicName": "every CERTIFICATES item's failureSnsTopicArn/successSnsTopicArn (one topic)",
    "NotificationEmail": "NOTIFY_EMAIL",
}


@dataclass(frozen=True)
class StageTarget:
    """Where one stage of the app lives in its account and region."""

    app_name: str
    stage: str
    location: Location

    @property
    def stack_name(self) -> str:
        # The name docs/deploying.md gave the supporting stack before make deploy existed, so a
        # stage deployed by hand is updated, not duplicated.
        return f"{self.app_name}-{self.stage}-infra"

    @property
    def state_bucket(self) -> str:
        # One per account and region, for every stage there: named from both, so make deploy
        # finds it from any machine without being told (at most 63 characters: a 12-digit
        # account and the longest region name leave the app name 24).
        return f"{self.app_name}-deploy-{self.location.account}-{self.location.region}"

    @property
    def state_key(self) -> str:
        return f"{self.stage}/deployed.json"

    @property
    def lock_key(self) -> str:
        return f"{self.stage}/deploy.lock"

    @property
    def chalice_state_file(self) -> str:
        # Where `chalice deploy` and `chalice delete` read and write what they deployed.
        return f".chalice/deployed/{self.stage}.json"


def stage_target(deployments: Sequence[FunctionDeployment]) -> StageTarget:
    first = deployments[0]
    target = StageTarget(first.app_name, first.stage, first.location)
    if len(target.state_bucket) > 63:
        raise DeploymentConfigError(
            f"app_name {first.app_name!r} is too long for the deploy state bucket's name {target.state_bucket!r} "
            "(S3 allows 63 characters)")
    return target


@dataclass(frozen=True)
class StackPasses:
    """The parameters of the stack before `chalice deploy` and after it (None: no second pass)."""

    before_functions: dict[str, str | None]
    after_functions: dict[str, str | None] | None


def stack_passes(deployments: Sequence[FunctionDeployment], template: Mapping[str, Any],
                 previous: Mapping[str, str] | None, functions_exist: bool,
                 certificate_readers: str | None, adopt_bucket: bool = False) -> StackPasses:
    """previous: the stack's current parameters (None: no stack yet). functions_exist: every
    function of the stage exists already. certificate_readers: None keeps what the stack has.
    adopt_bucket: the certificate bucket exists and the stack does not own it (kept when an
    earlier stack of the stage was deleted)."""
    wanted = stage_parameters(deployments, template, previous, certificate_readers)
    wanted[CERTIFICATE_BUCKET_EXISTS] = "true" if adopt_bucket else "false"
    before = dict(wanted)
    # The failed-event destination can only be put on a function that exists: until chalice has
    # created update_task_dns, the stack leaves it out, and a second pass adds it.
    before[FUNCTIONS_DEPLOYED] = "true" if functions_exist else "false"
    # The writers deployed now send readiness checks to the hostname events queue until `chalice
    # deploy` replaces them: the queue goes only after, or they would fail after every change.
    if previous and previous.get(HOSTNAME_QUEUE_NAME_PARAMETER) and not wanted.get(HOSTNAME_QUEUE_NAME_PARAMETER):
        before[HOSTNAME_QUEUE_NAME_PARAMETER] = previous[HOSTNAME_QUEUE_NAME_PARAMETER]
    return StackPasses(before, None if before == wanted else wanted)


def stage_parameters(deployments: Sequence[FunctionDeployment], template: Mapping[str, Any],
                     previous: Mapping[str, str] | None, certificate_readers: str | None) -> dict[str, str | None]:
    """Every parameter of the stack, as the stage's configuration sets it, once its functions exist."""
    declared = template["Parameters"]
    defaults = parameter_defaults(deployments)
    stage = deployments[0].stage
    missing = [f"{name} ({source})" for name, source in REQUIRED_FROM_THE_STAGE.items() if not defaults.get(name)]
    if missing:
        raise DeploymentConfigError(
            f"stage {stage!r}: the supporting stack needs {', '.join(missing)} in .chalice/config.json")
    parameters: dict[str, str | None] = {name: value for name, value in defaults.items() if name in declared}
    parameters[FUNCTIONS_DEPLOYED] = "true"
    # A parameter the stage does not set (LogRetentionDays, or one set by hand) keeps its value:
    # left out of an update, CloudFormation would put the template's default back.
    # (One still at its default needs nothing: left out, it gets the default again.)
    for name, declaration in declared.items():
        if name not in parameters and previous and previous.get(name, declaration.get("Default")) != str(
                declaration.get("Default")):
            parameters[name] = AS_BEFORE
    if certificate_readers is not None:
        parameters[CERTIFICATE_READERS] = normalized_role_list(certificate_readers)
    else:
        parameters[CERTIFICATE_READERS] = AS_BEFORE if previous and previous.get(CERTIFICATE_READERS) else ""
    return parameters


def certificate_bucket(deployments: Sequence[FunctionDeployment]) -> str:
    """The one bucket the stage's certificates are stored in (the stack's CertificateBucketName)."""
    bucket = parameter_defaults(deployments).get("CertificateBucketName")
    if not bucket:
        raise DeploymentConfigError(f"stage {deployments[0].stage!r}: the supporting stack needs "
                                    f"{REQUIRED_FROM_THE_STAGE['CertificateBucketName']}")
    return bucket


def normalized_role_list(value: str) -> str:
    """A comma-separated list of role ARNs; "none" (what `make` can pass for nothing) is empty."""
    if value.strip().lower() == "none":
        return ""
    return ",".join(role.strip() for role in value.split(",") if role.strip())
