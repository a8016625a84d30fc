"""Task ids and the hostnames derived from them. Pure functions.

Patterns are matched with fullmatch: `$` would also accept a trailing newline.
"""

import re
from dataclasses import dataclass

from chalicelib.shared.dns_names import is_valid_dns_name, is_valid_label

_SCOPE = r"(?P<scope>arn:(?P<partition>aws[a-z-]*):ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}))"
_TASK_ARN = re.compile(_SCOPE + r":task/(?:(?P<cluster>[A-Za-z0-9_-]{1,255})/)?(?P<id>[^/\s]+)")
_CLUSTER_ARN = re.compile(_SCOPE + r":cluster/(?P<cluster>[A-Za-z0-9_-]{1,255})")


def cluster_arn_parts(cluster_arn: str) -> dict[str, str] | None:
    """partition, region, account and cluster of an ECS cluster ARN; None when it is not one."""
    match = _CLUSTER_ARN.fullmatch(cluster_arn)
    return None if match is None else {k: match[k] for k in ("partition", "region", "account", "cluster")}


@dataclass(frozen=True)
class TaskArn:
    """An ECS task ARN, parsed once: its scope (partition, region, account), cluster (None in
    the old format task/<id>, which does not say) and id."""

    scope: str
    cluster: str | None
    task_id: str

    @classmethod
    def parse(cls, task_arn: str) -> "TaskArn | None":
        match = _TASK_ARN.fullmatch(task_arn)
        return cls(match["scope"], match["cluster"], match["id"]) if match else None

    def belongs_to(self, cluster_arn: str) -> bool:
        """Same partition, region and account; and, in the long format, the same cluster name.
        ECS task ids are unique within an account, so the old format is matched by scope."""
        cluster = _CLUSTER_ARN.fullmatch(cluster_arn)
        return (cluster is not None and self.scope == cluster["scope"]
                and self.cluster in (None, cluster["cluster"]))


def task_arn_in(cluster_arn: str, task_id: str) -> str:
    """The long-format ARN of a task of this cluster, for a task ECS no longer describes."""
    scope, cluster = cluster_arn.split(":cluster/", 1)
    return f"{scope}:task/{cluster}/{task_id}"


def task_id_from_arn(task_arn: str) -> str | None:
    """The task id of either ARN format: task/<cluster>/<32 hex> or the older task/<uuid>.

    None when the ARN is not an ECS task ARN.
    """
    match = _TASK_ARN.fullmatch(task_arn)
    return match["id"] if match else None


def task_belongs_to_cluster(task_arn: str, cluster_arn: str) -> bool:
    parsed = TaskArn.parse(task_arn)
    return parsed is not None and parsed.belongs_to(cluster_arn)


def hostname_for_task(task_id: str, domain_prefix: str) -> str | None:
    """`${taskId}.${DOMAIN_PREFIX}`, or None when the id is not one lower-case DNS label.

    Refusing anything but a single label is what guarantees that no record is ever written
    outside DOMAIN_PREFIX (a task id "evil.example.com" would otherwise escape it). ECS task ids
    are lower-case hex; an id with capitals is refused rather than folded, so that one name
    always belongs to exactly one task ARN.
    """
    if not is_valid_label(task_id):
        return None
    hostname = f"{task_id}.{domain_prefix}"
    return hostname if is_valid_dns_name(hostname) else None
