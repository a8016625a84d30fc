"""Gives an emulated hosted zone the SOA record Route53 gives a new zone.

moto 5.2 lists a new zone's SOA value as the repr of a Python dict ("{'Value': 'ns-2048...'}"):
nothing can parse it, and a DELETE of the listed value does not match what moto holds. Route53
writes `<name server>. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400` with TTL 900
(Route53 developer guide, "NS and SOA records that Amazon Route 53 creates for a public hosted
zone"): resolvers cache "no such name" for min(900, 86400) = 900 s. Used by the demo and the CLI
tests, so `doctor` meets the zone it would meet in AWS.
"""

ROUTE53_SOA_TTL = 900
ROUTE53_SOA_FIELDS = "awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"


def route53_default_soa(primary_name_server: str) -> str:
    return f"{primary_name_server.rstrip('.')}. {ROUTE53_SOA_FIELDS}"


def give_route53_default_soa(route53, zone_id: str) -> str:
    """UPSERTs Route53's default SOA at the zone's apex; returns its value."""
    zone = route53.get_hosted_zone(Id=zone_id)
    value = route53_default_soa(zone["DelegationSet"]["NameServers"][0])
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {
            "Name": zone["HostedZone"]["Name"], "Type": "SOA", "TTL": ROUTE53_SOA_TTL,
            "ResourceRecords": [{"Value": value}]}}]})
    return value
