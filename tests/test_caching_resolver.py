"""The caching resolver in front of the real local DNS server and the emulated zone: answers are
remembered for their TTL, "no such name" for the zone's negative TTL (RFC 2308). Time is an
injected clock moved by the tests; nothing sleeps."""

import socket

import pytest
from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord

from embedded_stack.caching_resolver import cache_ttl, running_caching_resolver
from embedded_stack.zone_soa import ROUTE53_SOA_TTL
from tests.dns_zones import Zone

TASK = "task-1.example.com"
OTHER = "task-2.example.com"


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def account(emulated_aws):
    """A clean emulated account; these tests need no app, so its caches are left alone."""
    emulated_aws.reset()


@pytest.fixture
def zone(account, dns_server):
    return Zone("example.com")  # Route53's default SOA: negative TTL min(900, 86400)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def resolver(dns_server, clock):
    with running_caching_resolver(dns_server.port, clock) as resolver:
        yield resolver


def counters(resolver) -> tuple[int, int, int]:
    return resolver.hits, resolver.misses, resolver.negative_hits


def test_nxdomain_is_remembered_for_the_negative_ttl_though_the_record_now_exists(zone, dns_server, resolver, clock):
    assert resolver.resolve(TASK) == ("NXDOMAIN", [])  # asked before the record exists
    zone.upsert(TASK, "A", ["192.0.2.1"], ttl=60)
    assert dns_server.resolve(TASK, "A") == ["192.0.2.1"]  # the zone has it at once...

    clock.advance(ROUTE53_SOA_TTL - 1)
    assert resolver.resolve(TASK) == ("NXDOMAIN", [])  # ...the resolver still says "no such name"
    assert counters(resolver) == (1, 1, 1)

    clock.advance(1)
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.1"])
    assert counters(resolver) == (1, 2, 1)


def test_a_cached_nxdomain_answers_every_type_at_that_name(zone, resolver):
    assert resolver.resolve(TASK, "A") == ("NXDOMAIN", [])
    zone.upsert(TASK, "AAAA", ["2001:db8::1"])
    assert resolver.resolve(TASK, "AAAA") == ("NXDOMAIN", [])  # RFC 2308 section 5: the name, not the type
    assert resolver.resolve(OTHER, "A") == ("NXDOMAIN", [])  # another name is asked upstream
    assert counters(resolver) == (1, 2, 1)


def test_cached_negative_answers_carry_the_soa_with_its_ttl_counting_down(zone, resolver, clock):
    resolver.resolve(TASK)
    clock.advance(100)
    reply = resolver.query(TASK)
    (soa,) = reply.auth
    assert (QTYPE[soa.rtype], soa.ttl) == ("SOA", ROUTE53_SOA_TTL - 100)
    assert (reply.header.aa, reply.header.ra) == (0, 1)  # a resolver's answer is not authoritative


@pytest.mark.parametrize(("soa_ttl", "minimum", "negative_ttl"), [
    (60, 86400, 60),  # the SOA record's own TTL is the smaller
    (900, 30, 30),  # the MINIMUM field is the smaller
    (ROUTE53_SOA_TTL, 86400, ROUTE53_SOA_TTL),  # Route53's default
])
def test_the_negative_ttl_follows_the_zones_soa(zone, resolver, clock, soa_ttl, minimum, negative_ttl):
    zone.set_soa(ttl=soa_ttl, minimum=minimum)
    assert resolver.resolve(TASK) == ("NXDOMAIN", [])
    zone.upsert(TASK, "A", ["192.0.2.1"])

    clock.advance(negative_ttl - 1)
    assert resolver.resolve(TASK) == ("NXDOMAIN", [])
    clock.advance(1)
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.1"])


def test_a_name_without_the_asked_type_is_remembered_per_type(zone, resolver, clock):
    zone.set_soa(ttl=60, minimum=60)
    zone.upsert(TASK, "A", ["192.0.2.1"])
    assert resolver.resolve(TASK, "AAAA") == ("NOERROR", [])
    zone.upsert(TASK, "AAAA", ["2001:db8::1"])

    assert resolver.resolve(TASK, "A") == ("NOERROR", ["192.0.2.1"])  # other types are asked upstream
    clock.advance(59)
    assert resolver.resolve(TASK, "AAAA") == ("NOERROR", [])
    assert counters(resolver) == (1, 2, 1)
    clock.advance(1)
    assert resolver.resolve(TASK, "AAAA") == ("NOERROR", ["2001:db8::1"])


def test_an_answer_is_stale_until_its_ttl_has_passed(zone, resolver, clock):
    zone.upsert(TASK, "A", ["192.0.2.1"], ttl=60)
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.1"])
    zone.upsert(TASK, "A", ["192.0.2.2"], ttl=60)

    clock.advance(20)
    assert [rr.ttl for rr in resolver.query(TASK).rr] == [40]  # counts down: clients cache no longer
    clock.advance(39)
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.1"])
    assert counters(resolver) == (2, 1, 0)
    clock.advance(1)
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.2"])


def test_names_are_cached_without_case_or_trailing_dot(zone, resolver):
    zone.upsert(TASK, "A", ["192.0.2.1"])
    resolver.resolve(TASK)
    assert resolver.resolve(TASK.upper() + ".") == ("NOERROR", ["192.0.2.1"])
    assert counters(resolver) == (1, 1, 0)


def test_negative_answers_without_an_soa_are_not_cached(account, resolver):
    zone = Zone("example.com", route53_default_soa=False)  # moto's unreadable SOA: none is served
    assert resolver.resolve(TASK) == ("NXDOMAIN", [])
    zone.upsert(TASK, "A", ["192.0.2.1"])
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.1"])
    assert counters(resolver) == (0, 2, 0)


def test_flush_forgets_every_answer_and_keeps_the_counters(zone, resolver):
    resolver.resolve(TASK)
    zone.upsert(TASK, "A", ["192.0.2.1"])
    resolver.resolve(TASK)
    resolver.flush()
    assert resolver.resolve(TASK) == ("NOERROR", ["192.0.2.1"])
    assert counters(resolver) == (1, 2, 1)


def test_an_upstream_that_does_not_answer_gives_servfail_and_nothing_is_cached(clock):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    # Nothing listens there now: an unconnected UDP socket hears no refusal, so each query times out.
    with running_caching_resolver(port, clock, upstream_timeout=0.1) as resolver:
        assert resolver.resolve(TASK) == ("SERVFAIL", [])
        assert resolver.resolve(TASK) == ("SERVFAIL", [])
        assert counters(resolver) == (0, 2, 0)


def reply_for(rcode: int = RCODE.NOERROR, answer_ttls=(), soa=None, truncated=False) -> DNSRecord:
    """An upstream reply for TASK: A records with these TTLs, and an SOA (TTL, minimum) in authority."""
    reply = DNSRecord.question(TASK).reply()
    reply.header.rcode, reply.header.tc = rcode, int(truncated)
    for ttl in answer_ttls:
        reply.add_answer(RR(TASK, QTYPE.A, rdata=A("192.0.2.1"), ttl=ttl))
    if soa:
        ttl, minimum = soa
        reply.add_auth(RR("example.com", QTYPE.SOA, rdata=SOA("ns.", "host.", (1, 2, 3, 4, minimum)), ttl=ttl))
    return reply


@pytest.mark.parametrize(("reply", "ttl"), [
    (reply_for(answer_ttls=(60, 30)), 30),  # the shortest-lived record bounds the answer
    (reply_for(answer_ttls=(0,)), None),  # TTL 0: used once (the DNS server's forged TXT answers)
    (reply_for(RCODE.NXDOMAIN, soa=(900, 86400)), 900),
    (reply_for(RCODE.NXDOMAIN, soa=(900, 45)), 45),
    (reply_for(RCODE.NOERROR, soa=(60, 86400)), 60),
    (reply_for(RCODE.NXDOMAIN), None),  # no SOA: RFC 2308 section 5 says do not cache
    (reply_for(RCODE.SERVFAIL, soa=(900, 900)), None),
    (reply_for(answer_ttls=(60,), truncated=True), None),  # partial
])
def test_cache_ttl(reply, ttl):
    assert cache_ttl(reply) == ttl
