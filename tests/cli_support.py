"""Helpers for the CLI tests: a deployment's resources in the emulated account, and running the command."""

import json
from dataclasses import dataclass, field
from typing import Any

import boto3
from click.testing import CliRunner, Result

from embedded_stack.aws import REGION
from embedded_stack.fargate import DOMAIN_PREFIX, FargateCluster
from embedded_stack.zone_soa import give_route53_default_soa
from operator_cli.cli import Runtime, main

WORKSPACE = "task-subdomains-cli"
BUCKET = "task-subdomains-cli-certs"


@dataclass
class Deployment:
    """A zone (the cluster's, with Route53's default SOA), a bucket set up as the supporting stack
    does, and the renewal variables pointing at them; DOMAIN_PREFIX, HOSTED_ZONE_ID and CLUSTER_ARN
    are the cluster fixture's."""

    cluster: FargateCluster
    certificates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def zone_id(self) -> str:
        return self.cluster.zone_id

    def certificate(self, domains: list[str], prefix: str) -> dict[str, Any]:
        return {"domains": domains, "zoneId": self.zone_id, "certStorageBucketName": BUCKET,
                "certStoragePrefix": prefix}

    def soa(self) -> dict[str, Any]:
        return self.record_set("example.com", "SOA")

    def record_set(self, name: str, record_type: str) -> dict[str, Any] | None:
        listing = boto3.client("route53").list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=f"{name}.", StartRecordType=record_type, MaxItems="1")
        found = listing["ResourceRecordSets"]
        return found[0] if found and found[0]["Name"] == f"{name}." and found[0]["Type"] == record_type else None

    def put(self, name: str, record_type: str, values: list[str], ttl: int = 300) -> None:
        boto3.client("route53").change_resource_record_sets(HostedZoneId=self.zone_id, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": record_type, "TTL": ttl,
                                                      "ResourceRecords": [{"Value": v} for v in values]}}]})


def set_up_deployment(cluster: FargateCluster, monkeypatch, directory_url: str,
                      extra_certificates: list[dict[str, Any]] | None = None) -> Deployment:
    give_route53_default_soa(boto3.client("route53"), cluster.zone_id)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    deployment = Deployment(cluster)
    deployment.certificates = [deployment.certificate([f"*.{DOMAIN_PREFIX}", DOMAIN_PREFIX], f"{DOMAIN_PREFIX}/"),
                               *(extra_certificates or [])]
    monkeypatch.setenv("WORKSPACE", WORKSPACE)
    monkeypatch.setenv("ACME_DIRECTORY_URL", directory_url)
    monkeypatch.setenv("CERTIFICATES", json.dumps(deployment.certificates))
    return deployment


def run(*arguments: str, runtime: Runtime | None = None) -> Result:
    """The command as an operator types it, in this process, with the test's environment."""
    return CliRunner().invoke(main, list(arguments), obj=runtime or Runtime(), catch_exceptions=False)


def checks_of(result: Result) -> dict[tuple[str, str], dict[str, str]]:
    """doctor --json's checks by (check, subject)."""
    return {(c["check"], c["subject"]): c for c in json.loads(result.stdout)["checks"]}
