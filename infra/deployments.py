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
from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    EVENT_BUS_VARIABLE,
    HOSTNAME_EVENTS_QUEUE_VARIABLE,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_EVENTS_QUEUE_VARIABLE,
    TASK_RECORD_WRITERS,
    UPDATE_TASK_DNS,
)
from chalicelib.task_records.arns import cluster_arn_parts
from chalicelib.task_records.settings import TaskDnsSettings

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHALICE_DIR = PROJECT_DIR / ".chalice"

# Every function app.py can register (names: chalicelib/shared/functions.py); a stage deploys some of
# them (stage_functions).
FUNCTIONS = (*TASK_RECORD_WRITERS, ANNOUNCE_HOSTNAMES, RENEW_CERTIFICATES)

_QUEUE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[A-Za-z0-9_.-]{1,80})")
_STANDARD_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# EventBridge's own patterns for PutEvents' EventBusName: a bus name, or the ARN of one.
_EVENT_BUS_NAME = re.compile(r"[/.\-_A-Za-z0-9]{1,256}")
_EVENT_BUS_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):events:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):event-bus/(?P<name>.+)")
# Without EVENT_BUS_NAME, announce_hostnames puts its events on the account's default bus.
DEFAULT_EVENT_BUS = "default"


@dataclass(frozen=True)
class StageQueue:
    """A queue a stage-level variable names: what it is for, for the messages that refuse it."""

    variable: str
    chalice_reads_it: str  # to decide what, when it deploys the stage
    output: str  # the supporting stack's output that names it
    readme: str  # the section of docs/deploying.md that explains it
    off: str  # what removing the variable does
    fifo: str  # why a FIFO queue will not do


TASK_EVENTS_QUEUE = StageQueue(
    variable=TASK_EVENTS_QUEUE_VARIABLE,
    chalice_reads_it="which function receives task events",
    output="TaskEventsQueueArn",
    readme="Buffered mode (large clusters)",
    off="per-event mode",
    fifo="buffered mode needs a standard queue (Lambda takes at most 10 messages a batch from a FIFO queue)")
HOSTNAME_EVENTS_QUEUE = StageQueue(
    variable=HOSTNAME_EVENTS_QUEUE_VARIABLE,
    chalice_reads_it="whether to deploy announce_hostnames, and on which queue",
    output="HostnameEventsQueueArn",
    readme="Hostname events",
    off="no hostname events",
    # SQS refuses a message's own DelaySeconds on a FIFO queue.
    fifo="hostname events need a standard queue (announce_hostnames puts a check back with a delay)")


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

    def __str__(self) -> str:
        return f"{self.partition}/{self.region}/{self.account}"


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
    def hostname_events_queue_arn(self) -> str:
        # Read as app.py reads it: stripped, and empty means no hostname events.
        return self.environment.get(HOSTNAME_EVENTS_QUEUE_VARIABLE, "").strip()

    @property
    def event_bus_arn(self) -> str:
        """The one bus announce_hostnames puts its events on: EVENT_BUS_NAME (a name or an ARN of
        the stage's region and account), the account's default bus without it."""
        return event_bus_arn(self.environment.get(EVENT_BUS_VARIABLE, ""), self.location, self.stage)

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
    instead of update_task_dns when the stage sets TASK_EVENTS_QUEUE_ARN, and announce_hostnames
    when it sets HOSTNAME_EVENTS_QUEUE_ARN."""
    require_stage_level_cluster(config, stage)
    task_events = PROCESS_TASK_EVENTS if task_events_queue_arn(config, stage) else UPDATE_TASK_DNS
    announce = (ANNOUNCE_HOSTNAMES,) if hostname_events_queue_arn(config, stage) else ()
    return (task_events, RECONCILE_TASK_DNS, *announce, RENEW_CERTIFICATES)


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
    return stage_queue_arn(config, stage, TASK_EVENTS_QUEUE)


def hostname_events_queue_arn(config: Mapping, stage: str) -> str:
    """The stage's HOSTNAME_EVENTS_QUEUE_ARN, checked; empty when the stage announces no hostnames."""
    queue_arn = stage_queue_arn(config, stage, HOSTNAME_EVENTS_QUEUE)
    if queue_arn and queue_arn == task_events_queue_arn(config, stage):
        # process_task_events would take the readiness checks for task events, and
        # announce_hostnames task events for checks.
        raise DeploymentConfigError(
            f"stage {stage!r}: {HOSTNAME_EVENTS_QUEUE_VARIABLE} and {TASK_EVENTS_QUEUE_VARIABLE} name the same "
            f"queue {queue_arn!r}; each needs its own (the supporting stack's {HOSTNAME_EVENTS_QUEUE.output} "
            f"and {TASK_EVENTS_QUEUE.output} outputs)")
    return queue_arn


def stage_queue_arn(config: Mapping, stage: str, queue: StageQueue) -> str:
    """The queue the stage-level variable names, checked; empty when it is unset or blank."""
    environment = stage_environment(config, stage)
    # Chalice decides which functions it deploys, and which queue each reads, from app.py loaded
    # with the stage-level environment: a value set per function would deploy other functions
    # than the policies are written for, or policies for a queue the functions never use.
    stage_value = environment.get(queue.variable)
    for function in sorted({*FUNCTIONS, *config.get("stages", {}).get(stage, {}).get("lambda_functions", {})}):
        resolved = Config(chalice_stage=stage, function_name=function, config_from_disk=dict(config))
        if resolved.environment_variables.get(queue.variable) != stage_value:
            raise DeploymentConfigError(
                f"stage {stage!r}, function {function!r}: set {queue.variable} in "
                f"stages.{stage}.environment_variables only (not per function); chalice reads it there "
                f"when it decides {queue.chalice_reads_it}")
    queue_arn = (stage_value or "").strip()
    if queue_arn:
        require_queue_of_the_cluster(stage, queue, queue_arn, Location.of_cluster(environment.get("CLUSTER_ARN", "")))
    return queue_arn


def require_queue_of_the_cluster(stage: str, queue: StageQueue, queue_arn: str, cluster: Location) -> None:
    setting = f"stage {stage!r}: {queue.variable}={queue_arn!r}"
    how = (f"set it to the {queue.output} output of the supporting stack (docs/deploying.md \"{queue.readme}\"), "
           f"or remove it for {queue.off}")
    match = _QUEUE_ARN.fullmatch(queue_arn)
    if match is not None and match["name"].endswith(".fifo"):
        raise DeploymentConfigError(f"{setting} is a FIFO queue; {queue.fifo}; {how}")
    if match is None or not _STANDARD_QUEUE_NAME.fullmatch(match["name"]):
        raise DeploymentConfigError(
            f"{setting} is not an SQS queue ARN (arn:aws:sqs:<region>:<account>:<queue name>); {how}")
    where = Location(match["partition"], match["region"], match["account"])
    if where != cluster:
        raise DeploymentConfigError(
            f"{setting} is in {where}, the cluster (CLUSTER_ARN) in {cluster}: the queue must be in the "
            f"cluster's region and account, where the functions that use it are; {how}")


def event_bus_arn(value: str, stage_location: Location, stage: str) -> str:
    """The ARN of the bus EVENT_BUS_NAME names (a name or an ARN), the default bus when unset."""
    bus = value.strip() or DEFAULT_EVENT_BUS
    setting = f"stage {stage!r}: {EVENT_BUS_VARIABLE}={value!r}"
    how = ("set it to the name or the ARN of an event bus in the cluster's region and account, or remove it "
           "for the account's default bus")
    match = _EVENT_BUS_ARN.fullmatch(bus)
    if match is not None:
        where = Location(match["partition"], match["region"], match["account"])
        if where != stage_location:
            # PutEvents from announce_hostnames goes to a bus of its own region and account; a bus
            # elsewhere is reached by a rule on that bus, not by this function.
            raise DeploymentConfigError(
                f"{setting} is in {where}, the cluster (CLUSTER_ARN) in {stage_location}: the bus must be in "
                f"the cluster's region and account; {how}")
        bus = match["name"]
    if not _EVENT_BUS_NAME.fullmatch(bus):
        raise DeploymentConfigError(f"{setting} is not an event bus name or ARN; {how}")
    return stage_location.arn("events", f"event-bus/{bus}")


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


@dataclass(frozen=True)
class StorageLocation:
    """Where one certificate of one stage is stored (bucket, prefix), for the clash check."""

    stage: str
    item: int
    bucket: str
    prefix: str

    def overlaps(self, other: "StorageLocation") -> bool:
        # The same prefix, or one inside the other: the renewal role's grant on <prefix>* then
        # covers the other certificate's objects, and each run overwrites (or reissues) the other's.
        return self.bucket == other.bucket and (self.prefix.startswith(other.prefix)
                                                or other.prefix.startswith(self.prefix))

    def __str__(self) -> str:
        return f"stage {self.stage!r} CERTIFICATES[{self.item}] (s3://{self.bucket}/{self.prefix})"


def storage_locations(config: Mapping) -> list[StorageLocation]:
    """Every certificate's storage location, in every stage."""
    locations = []
    for stage in stage_names(config):
        renewal = function_deployment(config, stage, RENEW_CERTIFICATES).renewal
        locations += [StorageLocation(stage, index, spec.bucket, spec.prefix)
                      for index, spec in enumerate(renewal.certificates)]
    return locations


def refuse_shared_storage(config: Mapping) -> None:
    """Two certificates (of one stage or of two) must not share where they are stored."""
    locations = storage_locations(config)
    for index, first in enumerate(locations):
        for second in locations[index + 1:]:
            if first.overlaps(second):
                raise DeploymentConfigError(
                    f"{first} and {second} share a storage location: each run would overwrite the other's "
                    "objects, and one stage's role could write the other's; give each its own certStoragePrefix "
                    "(or bucket)")
