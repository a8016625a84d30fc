"""`task-subdomains doctor --fix` against the emulated account: one UPSERT of the SOA of the zone that
serves DOMAIN_PREFIX, planned from a read taken just before it, and nothing else touched."""

import json

import boto3
import pytest

from chalicelib.certificates.settings import LETSENCRYPT_STAGING
from chalicelib.shared.aws_clients import client
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.doctor.negative_caching import NEGATIVE_TTL_LIMIT, Soa
from tests.cli_support import checks_of, run, set_up_deployment
from tests.helpers import hooked

APEX = "example.com"


@pytest.fixture
def deployment(cluster, monkeypatch):
    return set_up_deployment(cluster, monkeypatch, LETSENCRYPT_STAGING)


@pytest.fixture
def changes_sent():
    """The change batches the command sends to Route53, as sent."""
    sent: list[list[dict]] = []

    def record(params, **_):
        sent.append(params["ChangeBatch"]["Changes"])

    with hooked(client("route53"), "provide-client-params.route53.ChangeResourceRecordSets", record):
        yield sent


def zone_listing(zone_id: str) -> list[dict]:
    pages = boto3.client("route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [record_set for page in pages for record_set in page["ResourceRecordSets"]]


def but_soa_ttl_and_minimum(record_sets: list[dict]) -> list[str]:
    """Each record set as JSON text, with the SOA's TTL and its last field (the minimum) cut out:
    what `--fix` may change. The rest of the SOA's value is kept as its exact text."""
    kept = []
    for record_set in record_sets:
        if record_set["Type"] == "SOA":
            (value,) = [r["Value"] for r in record_set["ResourceRecords"]]
            record_set = {**record_set, "TTL": None, "ResourceRecords": [{"Value": value.rsplit(" ", 1)[0]}]}
        kept.append(json.dumps(record_set, sort_keys=True))
    return kept


def soa_of(deployment) -> Soa:
    return Soa.parse(deployment.soa()["ResourceRecords"][0]["Value"])


def test_fix_is_one_upsert_and_everything_but_the_soas_ttl_and_minimum_stays_byte_for_byte(deployment,
                                                                                          changes_sent):
    # More than Route53's own NS and SOA at the apex, and a name below it.
    deployment.put(APEX, "TXT", ['"v=spf1 -all"'], ttl=3600)
    deployment.put(APEX, "MX", ["10 mail.example.com."], ttl=300)
    deployment.put(f"www.{APEX}", "A", ["192.0.2.80"])
    before = zone_listing(deployment.zone_id)
    assert {r["Type"] for r in before if r["Name"] == f"{APEX}."} == {"NS", "SOA", "TXT", "MX"}

    fixed = run("doctor", "--fix", "--json")

    check = checks_of(fixed)[("negative-caching", APEX)]
    assert check["level"] == "ok" and check["message"].startswith("fixed (change ")
    (changes,) = changes_sent  # one call, one change: the SOA, UPSERTed
    assert [(c["Action"], c["ResourceRecordSet"]["Type"]) for c in changes] == [("UPSERT", "SOA")]
    after = zone_listing(deployment.zone_id)
    assert but_soa_ttl_and_minimum(after) == but_soa_ttl_and_minimum(before)  # NS included
    soa_set = next(r for r in after if r["Type"] == "SOA")
    assert (soa_set["TTL"], soa_of(deployment).minimum) == (NEGATIVE_TTL_LIMIT, NEGATIVE_TTL_LIMIT)

    again = run("doctor", "--fix", "--json")
    assert checks_of(again)[("negative-caching", APEX)]["level"] == "ok"
    assert len(changes_sent) == 1  # nothing left to fix: nothing written


def test_an_soa_changed_since_the_check_is_planned_again_from_the_fresh_read(deployment, changes_sent):
    soa = deployment.soa()
    current = soa_of(deployment)
    bumped = Soa(current.primary, current.contact, current.serial + 1, current.refresh, current.retry,
                 current.expire, current.minimum)
    apex_reads = []

    def someone_edits_the_soa_after_the_check(params, **_):
        if params.get("StartRecordName") == f"{APEX}.":
            apex_reads.append(1)
            if len(apex_reads) == 2:  # the first read was the check's; this one is just before the write
                deployment.put(APEX, "SOA", [bumped.text()], ttl=soa["TTL"])

    with hooked(client("route53"), "provide-client-params.route53.ListResourceRecordSets",
                someone_edits_the_soa_after_the_check):
        fixed = run("doctor", "--fix", "--json")

    assert checks_of(fixed)[("negative-caching", APEX)]["level"] == "ok"
    (changes,) = changes_sent
    (value,) = [r["Value"] for r in changes[0]["ResourceRecordSet"]["ResourceRecords"]]
    assert Soa.parse(value).serial == bumped.serial  # their edit kept: planned from what the zone held then
    assert (soa_of(deployment).serial, soa_of(deployment).minimum) == (bumped.serial, NEGATIVE_TTL_LIMIT)


def test_a_zone_that_does_not_serve_the_prefix_is_neither_checked_nor_fixed(deployment, changes_sent, monkeypatch):
    before = deployment.soa()
    monkeypatch.setenv("DOMAIN_PREFIX", "eu-west-2.browser.example.org")

    outside = run("doctor", "--fix", "--json")

    check = checks_of(outside)[("negative-caching", APEX)]
    assert check["level"] == "skip" and "eu-west-2.browser.example.org" in check["message"]
    assert changes_sent == [] and deployment.soa() == before


def test_a_zone_whose_prefix_is_delegated_away_is_neither_checked_nor_fixed(deployment, changes_sent):
    deployment.put("browser.example.com", "NS", ["ns-1.elsewhere.example.net."])
    before = deployment.soa()

    delegated = run("doctor", "--fix", "--json")

    assert checks_of(delegated)[("zone-contains", DOMAIN_PREFIX)]["level"] == "fail"
    assert checks_of(delegated)[("negative-caching", APEX)]["level"] == "skip"
    assert changes_sent == [] and deployment.soa() == before
