"""The DNS functions' configuration (read at first use): DOMAIN_PREFIX, HOSTED_ZONE_ID, CLUSTER_ARN,
and, for hostname events, HOSTNAME_EVENTS_QUEUE_ARN and EVENT_BUS_NAME."""

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.shared.configuration import ZONE_ID, ConfigurationError, required_variable
from chalicelib.shared.dns_names import is_valid_dns_name
from chalicelib.shared.functions import EVENT_BUS_VARIABLE, HOSTNAME_EVENTS_QUEUE_VARIABLE
from chalicelib.task_records.arns import cluster_arn_parts

_SQS_QUEUE_ARN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}")


@dataclass(frozen=True)
class TaskDnsSettings:
    domain_prefix: str
    hosted_zone_id: str
    cluster_arn: str
    # Set: the writers leave a readiness check per change batch on this queue (hostname events).
    hostname_events_queue_arn: str = ""
    event_bus_name: str = "default"

    @property
    def record_owner_id(self) -> str:
        # Records are owned per cluster: a deployment manages exactly one cluster's tasks, and a
        # second deployment (another cluster, another stage) sharing the zone and even the
        # prefix gets a different id. Hashed so public DNS does not reveal the account id.
        return hashlib.sha256(self.cluster_arn.encode()).hexdigest()[:16]

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "TaskDnsSettings":
        domain_prefix = required_variable(environ, "DOMAIN_PREFIX").lower().rstrip(".")
        if not is_valid_dns_name(domain_prefix):
            raise ConfigurationError(
                f"DOMAIN_PREFIX={domain_prefix!r} is not a DNS name "
                "(dot-separated labels of a-z, 0-9 and '-', e.g. eu-west-2.browser.example.com)"
            )
        zone_id = required_variable(environ, "HOSTED_ZONE_ID").removeprefix("/hostedzone/")
        if not ZONE_ID.fullmatch(zone_id):
            raise ConfigurationError(
                f"HOSTED_ZONE_ID={zone_id!r} is not a Route53 hosted zone id (e.g. Z0123456789ABC)"
            )
        cluster_arn = required_variable(environ, "CLUSTER_ARN")
        if cluster_arn_parts(cluster_arn) is None:
            raise ConfigurationError(
                f"CLUSTER_ARN={cluster_arn!r} is not an ECS cluster ARN "
                "(arn:aws:ecs:<region>:<account>:cluster/<name>)"
            )
        queue_arn = environ.get(HOSTNAME_EVENTS_QUEUE_VARIABLE, "").strip()
        if queue_arn and not _SQS_QUEUE_ARN.fullmatch(queue_arn):
            raise ConfigurationError(
                f"{HOSTNAME_EVENTS_QUEUE_VARIABLE}={queue_arn!r} is not an SQS queue ARN "
                "(arn:aws:sqs:<region>:<account>:<name>)")
        event_bus = environ.get(EVENT_BUS_VARIABLE, "").strip() or "default"
        return cls(domain_prefix=domain_prefix, hosted_zone_id=zone_id, cluster_arn=cluster_arn,
                   hostname_events_queue_arn=queue_arn, event_bus_name=event_bus)

