"""How many more tasks fit in the task zone: Route53 caps the record sets of a zone (10,000 by
default), and every task name takes some.

Per task: its owner marker TXT and its A record set, plus an AAAA record set when tasks have IPv6.
The rule is kept simple: 3 when any name directly under DOMAIN_PREFIX has an AAAA record set (a
task with IPv6 is running, or ran), else 2.

IAM: route53:GetHostedZoneLimit (and ListResourceRecordSets, for the AAAA rule).
"""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.records import RecordSet
from chalicelib.shared.route53 import normalize_name
from operator_cli.doctor.checks import OK, SKIP, WARN, Check

LIMIT_TYPE = "MAX_RRSETS_BY_ZONE"
HEADROOM_WARNING = 0.20  # warn when less than this share of the zone's record sets is left
RECORD_SETS_PER_TASK = 2  # marker TXT + A
RECORD_SETS_PER_TASK_WITH_IPV6 = 3  # + AAAA
# What an endpoint that does not implement GetHostedZoneLimit answers (moto: a bare 404).
_NOT_ANSWERED = frozenset({"404", "NotImplemented", "NotImplementedException", "InvalidAction",
                           "UnknownOperationException", "UnsupportedOperation"})


@dataclass(frozen=True)
class ZoneLimit:
    allowed: int  # record sets the zone may hold
    used: int  # record sets it holds


@dataclass(frozen=True)
class Unanswered:
    reason: str


def record_sets_per_task(record_sets_under_prefix: list[RecordSet], domain_prefix: str) -> int:
    """2 (marker TXT + A), or 3 when any task name (one label under the prefix) has an AAAA."""
    prefix = normalize_name(domain_prefix)
    for record_set in record_sets_under_prefix:
        label = record_set.name.removesuffix(f".{prefix}")
        if record_set.type == "AAAA" and label != record_set.name and "." not in label:
            return RECORD_SETS_PER_TASK_WITH_IPV6
    return RECORD_SETS_PER_TASK


def zone_capacity_check(zone_id: str, zone_name: str, limit: ZoneLimit | Unanswered, per_task: int) -> Check:
    if isinstance(limit, Unanswered):
        return Check(SKIP, "zone-capacity", zone_id, f"not checked: Route53 did not answer GetHostedZoneLimit "
                     f"({limit.reason})")
    left = max(limit.allowed - limit.used, 0)
    tasks = left // per_task
    why = "marker TXT + A + AAAA: tasks have IPv6" if per_task == RECORD_SETS_PER_TASK_WITH_IPV6 else \
        "marker TXT + A"
    found = (f"{zone_name} holds {limit.used} of {limit.allowed} record sets: room for {tasks} more tasks "
             f"({per_task} record sets each: {why})")
    if limit.allowed <= 0 or left < HEADROOM_WARNING * limit.allowed:
        return Check(WARN, "zone-capacity", zone_id, f"{found}; less than {HEADROOM_WARNING:.0%} left: new tasks "
                     "get no name once it is full; ask AWS for a higher limit (Service Quotas, Route 53, "
                     "'Records per hosted zone') or move other records out of the zone")
    return Check(OK, "zone-capacity", zone_id, found)


def read_zone_limit(route53_client, zone_id: str) -> ZoneLimit | Unanswered:
    """The zone's record set limit and count; Unanswered when the endpoint does not implement the
    call. Any other error (access denied, throttling) is raised, for errors.py to map."""
    try:
        answer = route53_client.get_hosted_zone_limit(Type=LIMIT_TYPE, HostedZoneId=zone_id)
    except ClientError as error:
        code = error_code(error)
        if code not in _NOT_ANSWERED:
            raise
        message = error.response.get("Error", {}).get("Message", "")
        return Unanswered(f"{code}{': ' + message if message else ''}; this endpoint does not implement it")
    return ZoneLimit(int(answer["Limit"]["Value"]), int(answer["Count"]))
