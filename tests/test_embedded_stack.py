"""The embedded DNS server and Pebble, for real: records come from emulated Route53 over UDP and TCP,
and Pebble validates DNS-01 through that server."""

import ipaddress
import json
import ssl
import urllib.request

import boto3
import josepy as jose
import pytest
from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from dnslib import RCODE

from chalicelib.shared.waiting import Waiter
from embedded_stack.aws import TokenBucket, route53_budget
from embedded_stack.pebble import running_pebble
from tests.helpers import FakeClock

ZONE = "example.com"
SUBZONE = "browser.example.com"  # a zone of its own: the longest suffix wins
HOST = "host.example.com"


@pytest.fixture(autouse=True)
def no_overrides_left_behind(dns_server):
    # The DNS server is shared by the whole session: a forged answer must not outlive its test.
    yield
    dns_server.clear_overrides()


@pytest.fixture(scope="module")
def local_pebble(dns_server):
    # No nonce rejections: this checks Pebble, not the ACME client's badNonce retry.
    with running_pebble(dns_server.port, extra_env={"PEBBLE_WFE_NONCEREJECT": "0"}) as pebble:
        yield pebble


class Zones:
    def __init__(self):
        self.route53 = boto3.client("route53")
        self.ids = {
            name: self.route53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"]
            for name in (ZONE, SUBZONE)
        }

    def upsert(self, name: str, record_type: str, values: list[str], ttl: int = 60) -> None:
        zone = max((z for z in self.ids if name == z or name.endswith("." + z)), key=len)
        self.route53.change_resource_record_sets(HostedZoneId=self.ids[zone], ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {
                "Name": name, "Type": record_type, "TTL": ttl,
                "ResourceRecords": [{"Value": v} for v in values]}}]})


@pytest.fixture
def zones(aws, dns_server):
    zones = Zones()
    zones.upsert(HOST, "A", ["192.0.2.10", "192.0.2.11"], ttl=60)
    zones.upsert(HOST, "AAAA", ["2001:db8::10"], ttl=60)
    zones.upsert(HOST, "TXT", ['"plain"', '"with spaces and \\"quotes\\""', '"part1" "part2"'], ttl=300)
    yield zones
    dns_server.clear_overrides()


def test_a_aaaa_and_txt_come_from_the_zone(zones, dns_server):
    assert sorted(dns_server.resolve(HOST, "A")) == ["192.0.2.10", "192.0.2.11"]
    assert [ipaddress.ip_address(a) for a in dns_server.resolve(HOST, "AAAA")] == [
        ipaddress.ip_address("2001:db8::10")]
    assert sorted(dns_server.resolve(HOST, "TXT")) == ["part1part2", "plain", 'with spaces and "quotes"']


def test_answers_are_authoritative_with_the_record_ttl_and_txt_character_strings(zones, dns_server):
    reply = dns_server.query(HOST, "TXT")
    assert reply.header.aa == 1
    assert {rr.ttl for rr in reply.rr} == {300}
    assert sorted(rr.rdata.data for rr in reply.rr) == [
        [b"part1", b"part2"], [b"plain"], [b'with spaces and "quotes"']]


def test_names_are_matched_without_case_or_trailing_dot(zones, dns_server):
    assert sorted(dns_server.resolve("HOST.Example.COM.", "A")) == ["192.0.2.10", "192.0.2.11"]


def test_the_longest_matching_zone_answers(zones, dns_server):
    zones.upsert("task.browser.example.com", "A", ["198.51.100.7"])
    zones.upsert("other.example.com", "A", ["198.51.100.8"])
    assert dns_server.resolve("task.browser.example.com", "A") == ["198.51.100.7"]
    assert dns_server.resolve("other.example.com", "A") == ["198.51.100.8"]


def test_changes_are_seen_on_the_next_query(zones, dns_server):
    assert dns_server.resolve("later.example.com", "A") == []
    zones.upsert("later.example.com", "A", ["198.51.100.9"])
    assert dns_server.resolve("later.example.com", "A") == ["198.51.100.9"]


@pytest.mark.parametrize("name", ["missing.example.com", "example.org", "deep.missing.browser.example.com"])
def test_names_that_are_not_there_are_nxdomain(zones, dns_server, name):
    assert dns_server.query(name, "A").header.rcode == RCODE.NXDOMAIN
    assert dns_server.resolve(name, "A") == []


@pytest.mark.parametrize("rdtype", ["MX", "CAA"])
def test_an_existing_name_without_the_asked_type_is_noerror_and_empty(zones, dns_server, rdtype):
    reply = dns_server.query(HOST, rdtype)
    assert (reply.header.rcode, reply.rr) == (RCODE.NOERROR, [])


def test_override_replaces_the_zone_txt_until_cleared(zones, dns_server):
    dns_server.override_txt(HOST + ".", ["forged", "x" * 300])
    reply = dns_server.query(HOST, "TXT")
    assert sorted(len(part) for rr in reply.rr for part in rr.rdata.data) == [6, 45, 255]
    assert sorted(dns_server.resolve(HOST, "TXT")) == ["forged", "x" * 300]
    assert sorted(dns_server.resolve(HOST, "A")) == ["192.0.2.10", "192.0.2.11"]  # other types untouched

    dns_server.override_txt("nowhere.example.com", [])
    assert dns_server.query("nowhere.example.com", "TXT").header.rcode == RCODE.NOERROR

    dns_server.clear_overrides()
    assert sorted(dns_server.resolve(HOST, "TXT")) == ["part1part2", "plain", 'with spaces and "quotes"']


def test_tcp_answers_like_udp(zones, dns_server):
    assert sorted(dns_server.resolve(HOST, "TXT", tcp=True)) == sorted(dns_server.resolve(HOST, "TXT"))
    assert dns_server.query("missing.example.com", "A", tcp=True).header.rcode == RCODE.NXDOMAIN


def test_pebble_serves_an_acme_directory_and_its_issuing_chain(local_pebble):
    context = ssl.create_default_context(cafile=local_pebble.listener_ca_path)
    with urllib.request.urlopen(local_pebble.directory_url, context=context) as response:
        directory = json.load(response)
    assert {"newNonce", "newAccount", "newOrder"} <= directory.keys()

    root = x509.load_pem_x509_certificate(local_pebble.root_pem().encode())
    intermediate = x509.load_pem_x509_certificate(local_pebble.intermediate_pem().encode())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    intermediate.verify_directly_issued_by(root)


def _settled(acme: client.ClientV2, authorization: messages.AuthorizationResource) -> messages.Authorization:
    # Pebble validates asynchronously: poll with the app's bounded wait (growing intervals).
    def settled() -> tuple[bool, str]:
        nonlocal authorization
        authorization, _ = acme.poll(authorization)
        return authorization.body.status != messages.STATUS_PENDING, str(authorization.body.status)

    Waiter().until("Pebble's validation", settled, timeout=10, interval=0.05, ramp_up=True)
    return authorization.body


def _answer_dns01(pebble, name: str, publish) -> messages.Authorization:
    """Order a certificate for name, publish(challenge name, key authorization digest), answer."""
    account_key = jose.JWKEC(key=ec.generate_private_key(ec.SECP256R1()))
    network = client.ClientNetwork(account_key, alg=jose.ES256, verify_ssl=pebble.listener_ca_path)
    acme = client.ClientV2(client.ClientV2.get_directory(pebble.directory_url, network), network)
    acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))
    certificate_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (authorization,) = acme.new_order(crypto_util.make_csr(certificate_key, [name])).authorizations
    dns01 = next(c for c in authorization.body.challenges if isinstance(c.chall, challenges.DNS01))
    publish(dns01.chall.validation_domain_name(name), dns01.chall.validation(account_key))
    acme.answer_challenge(dns01, dns01.chall.response(account_key))
    return _settled(acme, authorization)


def test_pebble_validates_dns01_against_the_zone_through_the_dns_server(zones, local_pebble):
    def publish(name, value):
        zones.upsert(name, "TXT", [f'"{value}"'])

    assert _answer_dns01(local_pebble, "task.browser.example.com", publish).status == messages.STATUS_VALID


def test_pebble_sees_an_overridden_txt_and_rejects_it(zones, dns_server, local_pebble):
    def publish(name, value):
        zones.upsert(name, "TXT", [f'"{value}"'])
        dns_server.override_txt(name, ["not-the-key-authorization"])

    authorization = _answer_dns01(local_pebble, "task.browser.example.com", publish)
    assert authorization.status == messages.STATUS_INVALID
    (failed,) = [c for c in authorization.challenges if c.error]
    assert "Correct value not found" in failed.error.detail


def _batch(route53, zone_id, *changes):
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": list(changes)})


def _txt(action, name, *values, ttl=60):
    return {"Action": action, "ResourceRecordSet": {"Name": name, "Type": "TXT", "TTL": ttl,
                                                     "ResourceRecords": [{"Value": v} for v in values]}}


def test_emulated_route53_enforces_route53s_batch_rules(aws):
    import boto3
    from botocore.exceptions import ClientError

    route53 = boto3.client("route53")
    zone_id = route53.create_hosted_zone(Name="rules.example", CallerReference="rules")["HostedZone"]["Id"]
    name = "_acme-challenge.rules.example"
    _batch(route53, zone_id, _txt("CREATE", name, '"a"'))

    with pytest.raises(ClientError, match="already exists"):
        _batch(route53, zone_id, _txt("CREATE", name, '"b"'))
    with pytest.raises(ClientError, match="do not match the current values"):
        _batch(route53, zone_id, _txt("DELETE", name, '"stale"'))
    # Compare-and-swap: DELETE of exactly what is there, then CREATE, in one batch.
    _batch(route53, zone_id, _txt("DELETE", name, '"a"'), _txt("CREATE", name, '"a"', '"c"'))
    _batch(route53, zone_id, _txt("DELETE", name, '"a"', '"c"'), _txt("CREATE", name, '"a"'))

    records = route53.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name,
                                                StartRecordType="TXT", MaxItems="1")["ResourceRecordSets"]
    assert [r["Value"] for r in records[0]["ResourceRecords"]] == ['"a"']


def test_route53s_token_bucket_refills_at_its_rate_up_to_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(burst=3, rate=2, clock=lambda: clock.now)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.sleep(0.5)  # one token back
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.sleep(60)  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_the_emulated_budget_throttles_like_route53_and_does_not_count_name_resolution(zones, dns_server):
    from botocore.config import Config
    from botocore.exceptions import ClientError

    once = boto3.client("route53", config=Config(retries={"total_max_attempts": 1}))
    with route53_budget(TokenBucket(burst=2, rate=0)) as budget:
        dns_server.resolve(HOST, "A")  # the DNS server reads the zone: not an API request of the account
        once.list_hosted_zones()
        once.list_resource_record_sets(HostedZoneId=zones.ids[ZONE])
        with pytest.raises(ClientError) as throttled:
            once.list_hosted_zones()

    assert throttled.value.response["Error"]["Code"] == "Throttling"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (budget.requests, budget.throttled) == (3, 1)
    assert budget.by_operation == {"ListHostedZones": 2, "ListResourceRecordSets": 1}
