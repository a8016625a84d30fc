"""Task ids and the hostnames derived from them. Pure functions.

Patterns are matched with fullmatch: `$` would also accept a trailing newline.
"""

import re

from chalicelib.shared.dns_names import is_valid_dns_name, is_valid_label

_SCOPE = r"(?P<scope>arn:(?P<partition>aws[a-z-]*):ecs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}))"
_TASK_ARN = re.compile(_SCOPE + r":task/(?:(?P<cluster>[A-Za-z0-9_-]{1,255})/)?(?P<id>[^/\s]+)")
_CLUSTER_ARN = re.compile(_SCOPE + r":cluster/(?P<cluster>[A-Za-z0-9_-]{1,255})")


def cluster_arn_parts(cluster_arn: str) -> dict[str, str] | None:
    """partition, region, account and cluster of an ECS cluster ARN; None when it is not one."""
    match = _CLUSTER_ARN.fullmatch(cluster_arn)
    return None if match is None else {k: match[k] for k in ("partition", "region", "account", "cluster")}


def task_id_from_arn(task_arn: str) -> str | None:
    """The task id of either ARN format: task/<cluster>/<32 hex> or the older task/<uuid>.

    None when the ARN is not an ECS task ARN.
    """
    match = _TASK_ARN.fullmatch(task_arn)
    return match["id"] if match else None


def names_its_cluster(task_arn: str) -> bool:
    """True for task/<cluster>/<id>; the old format task/<id> does not say which cluster."""
    match = _TASK_ARN.fullmatch(task_arn)
    return bool(match and match["cluster"])


def task_belongs_to_cluster(task_arn: str, cluster_arn: str) -> bool:
    """Same partition, region and account; and, in the long format, the same cluster name.

    The old format (task/<uuid>) names no cluster; ECS task ids are unique within an account.
    """
    task, cluster = _TASK_ARN.fullmatch(task_arn), _CLUSTER_ARN.fullmatch(cluster_arn)
    if task is None or cluster is None or task["scope"] != cluster["scope"]:
        return False
    return task["cluster"] is None or task["cluster"] == cluster["cluster"]


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
