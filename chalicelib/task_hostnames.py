"""Task ids and the hostnames derived from them. Pure functions."""

import re

# RFC 1123 host label: letters, digits and hyphens, 1-63 characters, no hyphen at either end.
# Lower case only: hostnames are written lower case, so anything else is refused, not folded twice.
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_TASK_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task/(?:[A-Za-z0-9_-]{1,255}/)?[^/]+$")


def is_valid_label(label: str) -> bool:
    return bool(_LABEL.match(label))


def is_valid_dns_name(name: str) -> bool:
    return len(name) <= 253 and all(is_valid_label(label) for label in name.split("."))


def task_id_from_arn(task_arn: str) -> str | None:
    """The task id of either ARN format: task/<cluster>/<32 hex> or the older task/<uuid>.

    None when the ARN is not an ECS task ARN.
    """
    if not _TASK_ARN.match(task_arn):
        return None
    return task_arn.rsplit("/", 1)[1]


def hostname_for_task(task_id: str, domain_prefix: str) -> str | None:
    """`${taskId}.${DOMAIN_PREFIX}` in lower case, or None when the id is not one DNS label.

    Refusing anything but a single label is what guarantees that no record is ever written
    outside DOMAIN_PREFIX (a task id "evil.example.com" would otherwise escape it).
    """
    label = task_id.lower()
    if not is_valid_label(label):
        return None
    hostname = f"{label}.{domain_prefix}"
    return hostname if is_valid_dns_name(hostname) else None
