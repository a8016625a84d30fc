"""The DNS functions' configuration: DOMAIN_PREFIX, HOSTED_ZONE_ID, CLUSTER_ARN (read at first use)."""

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.shared.configuration import ZONE_ID, ConfigurationError, required_variable
from chalicelib.shared.dns_names import is_valid_dns_name
from chalicelib.task_records.arns import cluster_arn_parts


@dataclass(frozen=True)
class TaskDnsSettings:
    domain_prefix: str
    hosted_zone_id: str
    cluster_arn: str

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
        return cls(domain_prefix=domain_prefix, hosted_zone_id=zone_id, cluster_arn=cluster_arn)

