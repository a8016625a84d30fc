"""The hosted zones the deployment writes to, read from Route53 itself (never through a resolver,
whose answers may be cached or come from another view of the name), and what must hold of them.

A zone must exist, be public (Let's Encrypt and the tasks' clients resolve through the public
DNS) and contain each name written to it, without a delegation (NS records below the apex) in the
way: records written above a delegation are what nobody resolves.

IAM: route53:GetHostedZone, route53:ListResourceRecordSets (and ChangeResourceRecordSets on the
zone for `doctor --fix`).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.route53 import RecordSet, Route53Zone, normalize_name
from operator_cli.doctor.caa import names_up_to
from operator_cli.doctor.checks import FAIL, OK, Check

NS_TYPE = "NS"


@dataclass(frozen=True)
class HostedZone:
    zone_id: str
    name: str  # normalized: lower case, no final dot
    private: bool


class ZoneReader:
    """Reads each zone, and each name in it, once per command."""

    def __init__(self, route53_client):
        self._client = route53_client
        self._zones: dict[str, HostedZone | None] = {}
        self._names: dict[tuple[str, str], list[RecordSet]] = {}

    def hosted_zone(self, zone_id: str) -> HostedZone | None:
        """None when there is no such zone."""
        if zone_id not in self._zones:
            try:
                found = self._client.get_hosted_zone(Id=zone_id)["HostedZone"]
            except ClientError as error:
                if error_code(error) not in ("NoSuchHostedZone", "InvalidInput"):
                    raise
                found = None
            self._zones[zone_id] = found and HostedZone(
                zone_id, normalize_name(found["Name"]), bool(found.get("Config", {}).get("PrivateZone")))
        return self._zones[zone_id]

    def record_sets_at(self, zone_id: str, name: str) -> list[RecordSet]:
        key = (zone_id, normalize_name(name))
        if key not in self._names:
            self._names[key] = self.zone(zone_id).record_sets_at(name)
        return self._names[key]

    def path(self, zone: HostedZone, name: str) -> dict[str, list[RecordSet]]:
        """The record sets at name and at each parent up to the apex."""
        return {n: self.record_sets_at(zone.zone_id, n) for n in names_up_to(normalize_name(name), zone.name)}

    def zone(self, zone_id: str) -> Route53Zone:
        return Route53Zone(self._client, zone_id)

    def forget(self, zone_id: str, name: str) -> None:
        self._names.pop((zone_id, normalize_name(name)), None)


def zone_check(zone_id: str, zone: HostedZone | None, purpose: str) -> Check:
    """purpose: what the zone is for, as the variable that names it (e.g. "HOSTED_ZONE_ID")."""
    if zone is None:
        return Check(FAIL, "zone", zone_id, f"no hosted zone {zone_id} ({purpose}): create it, or set {purpose} "
                     "to the id of the public zone that holds the names")
    if zone.private:
        return Check(FAIL, "zone", zone_id, f"{zone.name} ({purpose}) is a private zone: Let's Encrypt and the "
                     "tasks' clients resolve through public DNS; use the public zone of the same name")
    return Check(OK, "zone", zone_id, f"{zone.name} ({purpose}) exists and is public")


def containment_check(name: str, zone: HostedZone, purpose: str,
                      path: Mapping[str, Iterable[RecordSet]]) -> Check:
    """Is `name` (DOMAIN_PREFIX, or a certificate name without its `*.`) served from this zone?

    path: the record sets at name and each parent up to the apex; empty when name is not in the zone.
    """
    if not path:
        return Check(FAIL, "zone-contains", name, f"not in zone {zone.name} ({zone.zone_id}, {purpose}): "
                     f"use the zone that holds {name}")
    delegated = [n for n, sets in path.items() if n != zone.name and any(r.type == NS_TYPE for r in sets)]
    if delegated:
        cut = delegated[-1]  # the delegation closest to the apex is the one resolvers follow
        return Check(FAIL, "zone-contains", name,
                     f"{cut} is delegated to other name servers (NS records in {zone.name}): records for {name} "
                     f"written to {zone.zone_id} are never resolved; use the zone of {cut} ({purpose})")
    return Check(OK, "zone-contains", name, f"in zone {zone.name} ({zone.zone_id})")
