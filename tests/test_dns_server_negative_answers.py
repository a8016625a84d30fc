"""The local DNS server's negative answers carry the zone's SOA in the authority section, as Route53's
do: a resolver in front of it takes its negative-caching time from that SOA (RFC 2308)."""

import pytest
from dnslib import QTYPE, RCODE

from embedded_stack.zone_soa import ROUTE53_SOA_TTL
from tests.dns_zones import Zone

HOST = "host.example.com"


@pytest.fixture
def account(emulated_aws):
    """A clean emulated account; these tests need no app, so its caches are left alone."""
    emulated_aws.reset()


@pytest.fixture
def zone(account, dns_server):
    zone = Zone("example.com")
    zone.upsert(HOST, "A", ["192.0.2.10"])
    return zone


def authority(reply) -> list[tuple[str, str, int, int]]:
    """(name, type, TTL, SOA minimum) of each authority record."""
    return [(str(rr.rname), QTYPE[rr.rtype], rr.ttl, rr.rdata.times[4]) for rr in reply.auth]


def test_nxdomain_carries_route53s_default_soa_with_its_negative_ttl(zone, dns_server):
    reply = dns_server.query("missing.example.com", "A")
    assert reply.header.rcode == RCODE.NXDOMAIN
    # RFC 2308 section 3: the SOA's TTL in a negative answer is min(SOA TTL 900, minimum 86400).
    assert authority(reply) == [("example.com.", "SOA", ROUTE53_SOA_TTL, 86400)]
    assert str(reply.auth[0].rdata.rname) == "awsdns-hostmaster.amazon.com."


@pytest.mark.parametrize(("soa_ttl", "minimum", "negative_ttl"), [(60, 86400, 60), (900, 30, 30)])
def test_the_soa_ttl_is_the_smaller_of_its_own_ttl_and_its_minimum(zone, dns_server, soa_ttl, minimum, negative_ttl):
    zone.set_soa(ttl=soa_ttl, minimum=minimum)
    assert authority(dns_server.query("missing.example.com", "A")) == [("example.com.", "SOA", negative_ttl, minimum)]


@pytest.mark.parametrize("rdtype", ["AAAA", "TXT", "MX"])
def test_a_name_without_the_asked_type_carries_the_soa_too(zone, dns_server, rdtype):
    reply = dns_server.query(HOST, rdtype)
    assert (reply.header.rcode, reply.rr) == (RCODE.NOERROR, [])
    assert authority(reply) == [("example.com.", "SOA", ROUTE53_SOA_TTL, 86400)]


def test_answers_with_records_carry_no_authority(zone, dns_server):
    reply = dns_server.query(HOST, "A")
    assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.10"]
    assert reply.auth == []


def test_the_soa_is_that_of_the_zone_that_answers(zone, dns_server):
    subzone = Zone("browser.example.com")
    subzone.set_soa(ttl=60, minimum=60)
    assert authority(dns_server.query("task.browser.example.com", "A")) == [
        ("browser.example.com.", "SOA", 60, 60)]
    assert authority(dns_server.query("other.example.com", "A")) == [
        ("example.com.", "SOA", ROUTE53_SOA_TTL, 86400)]


def test_a_zone_whose_soa_is_unreadable_gives_negative_answers_without_one(account, dns_server):
    Zone("example.com", route53_default_soa=False)  # moto's own SOA value is the repr of a dict
    reply = dns_server.query("missing.example.com", "A")
    assert (reply.header.rcode, reply.auth) == (RCODE.NXDOMAIN, [])


def test_names_in_no_zone_stay_nxdomain_without_authority(zone, dns_server):
    reply = dns_server.query("example.org", "A")
    assert (reply.header.rcode, reply.auth) == (RCODE.NXDOMAIN, [])


def test_tcp_negative_answers_carry_the_soa_like_udp(zone, dns_server):
    reply = dns_server.query("missing.example.com", "A", tcp=True)
    assert authority(reply) == [("example.com.", "SOA", ROUTE53_SOA_TTL, 86400)]
