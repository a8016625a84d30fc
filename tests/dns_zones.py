"""Hosted zones in the emulated account for the DNS tests: records and the SOA that sets the negative TTL."""

import boto3

from embedded_stack.zone_soa import give_route53_default_soa

PRIMARY = "ns-2048.awsdns-64.com."
CONTACT = "awsdns-hostmaster.amazon.com."


class Zone:
    """One hosted zone, created with Route53's default SOA (TTL 900, minimum 86400) unless told not to."""

    def __init__(self, name: str, route53_default_soa: bool = True):
        self.name = name
        self.route53 = boto3.client("route53")
        self.id = self.route53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]
        if route53_default_soa:  # without it moto's SOA is unreadable, and negative answers carry none
            give_route53_default_soa(self.route53, self.id)

    def upsert(self, name: str, record_type: str, values: list[str], ttl: int = 60) -> None:
        self.route53.change_resource_record_sets(HostedZoneId=self.id, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": name, "Type": record_type, "TTL": ttl,
                "ResourceRecords": [{"Value": v} for v in values]}}]})

    def set_soa(self, ttl: int, minimum: int) -> None:
        """The SOA record's own TTL and its MINIMUM field: resolvers cache "not there" for the smaller."""
        self.upsert(self.name, "SOA", [f"{PRIMARY} {CONTACT} 2 7200 900 1209600 {minimum}"], ttl=ttl)
