"""A small authoritative DNS server on loopback that answers from the emulated Route53 zones.

Pebble validates DNS-01 against it for real, and the demo resolves task hostnames through it.
Records are read from Route53 on every query, never cached: tests change them between queries.
Negative answers (NXDOMAIN, and NOERROR without records) carry the zone's SOA in the authority
section, as Route53 and every authoritative server do: resolvers take their negative-caching time
from it (RFC 2308), so a caching resolver in front of this server behaves as one in front of Route53.
"""

import logging
import re
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dnslib import AAAA, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import DNSLogger, DNSServer

from embedded_stack.aws import NOT_COUNTED

ADDRESS = "127.0.0.1"
QUERY_TIMEOUT_SECONDS = 5

_log = logging.getLogger(__name__)

# One quoted character-string (with backslash escapes) or a bare word, as Route53 stores TXT.
_TXT_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')
# Route53 escapes: \" and \\, and a three-digit octal code for anything else (\052 is "*").
_TXT_ESCAPE = re.compile(rb"\\([0-7]{3}|.)")
_MAX_CHARACTER_STRING = 255
_SOA_FIELDS = 7  # mname rname serial refresh retry expire minimum


class DnsQueryError(Exception):
    """The server answered with an error rcode other than NXDOMAIN."""


def _normalize(name: str) -> str:
    return name.rstrip(".").lower()


def _unescape(match: re.Match[bytes]) -> bytes:
    escaped = match.group(1)
    return bytes([int(escaped, 8)]) if len(escaped) == 3 else escaped


def _character_strings(route53_value: str) -> list[bytes]:
    tokens = _TXT_TOKEN.finditer(route53_value.encode())
    return [
        _TXT_ESCAPE.sub(_unescape, token.group(1) if token.group(1) is not None else token.group(2))
        for token in tokens
    ]


def _split_raw(value: str) -> list[bytes]:
    # A DNS character-string holds at most 255 bytes; longer values span several, as in Route53.
    raw = value.encode()
    return [raw[i:i + _MAX_CHARACTER_STRING] for i in range(0, len(raw), _MAX_CHARACTER_STRING)] or [b""]


def _soa_rdata(route53_value: str) -> SOA | None:
    """The SOA of a Route53 value, or None when it is not `mname rname serial refresh retry expire
    minimum` (moto's default SOA is the repr of a dict until zone_soa gives the zone a real one)."""
    fields = route53_value.split()
    if len(fields) != _SOA_FIELDS or not all(field.isdigit() for field in fields[2:]):
        return None
    mname, rname, *times = fields
    return SOA(mname, rname, [int(time) for time in times])


class Route53Resolver:
    """dnslib resolver: the zone whose name is the longest suffix of the query name answers."""

    def __init__(self, route53) -> None:
        self._route53 = route53
        self._lock = threading.Lock()
        self._txt_overrides: dict[str, list[str]] = {}

    def override_txt(self, name: str, values: list[str]) -> None:
        with self._lock:
            self._txt_overrides[_normalize(name)] = list(values)

    def clear_overrides(self) -> None:
        with self._lock:
            self._txt_overrides.clear()

    def resolve(self, request: DNSRecord, handler: socketserver.BaseRequestHandler) -> DNSRecord:
        reply = request.reply(ra=0, aa=1)
        qname, qtype = request.q.qname, request.q.qtype
        name = _normalize(str(qname))
        with self._lock:
            override = self._txt_overrides.get(name)
        if override is not None and qtype == QTYPE.TXT:
            for value in override:  # TTL 0: a forged answer must not outlive the override
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(_split_raw(value)), ttl=0))
            return reply
        try:
            return self._answer_from_zone(reply, name, name_overridden=override is not None)
        except (BotoCoreError, ClientError):
            _log.warning("route53 lookup failed for %s", name, exc_info=True)
            failed = request.reply(ra=0, aa=1)  # nothing half-answered
            failed.header.rcode = RCODE.SERVFAIL
            return failed

    def _answer_from_zone(self, reply: DNSRecord, name: str, name_overridden: bool) -> DNSRecord:
        zone = self._zone_for(name)
        record_sets = self._record_sets(zone[0], name) if zone else None
        if record_sets is None and not name_overridden:  # an overridden name exists
            reply.header.rcode = RCODE.NXDOMAIN
        qname, qtype = reply.q.qname, reply.q.qtype
        make_rdata = _ANSWERED.get(QTYPE[qtype])
        for record_set in record_sets or []:
            if make_rdata and record_set["Type"] == QTYPE[qtype]:
                for record in record_set.get("ResourceRecords", []):  # alias records have none
                    reply.add_answer(RR(qname, qtype, rdata=make_rdata(record["Value"]),
                                        ttl=record_set.get("TTL", 0)))
        if not reply.rr and zone:
            self._add_negative_caching_soa(reply, *zone)
        return reply

    def _add_negative_caching_soa(self, reply: DNSRecord, zone_id: str, apex: str) -> None:
        """The zone's SOA in the authority section, with TTL min(SOA TTL, SOA minimum) as RFC 2308
        section 3 asks of an authoritative server: what a resolver may cache this answer for. A zone
        without a readable SOA gets none, and a resolver then does not cache the answer (section 5)."""
        listed = self._route53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=apex + ".", StartRecordType="SOA", MaxItems="1",
        )["ResourceRecordSets"]
        for record_set in listed:
            if record_set["Type"] != "SOA" or _normalize(record_set["Name"]) != apex:
                continue
            soa = _soa_rdata(record_set["ResourceRecords"][0]["Value"])
            if soa is None:
                _log.debug("zone %s has no readable SOA: negative answers go without one", apex)
                return
            reply.add_auth(RR(apex + ".", QTYPE.SOA, rdata=soa, ttl=min(record_set["TTL"], soa.times[4])))

    def _record_sets(self, zone_id: str, name: str) -> list[dict] | None:
        """The record sets at exactly this name in the zone, or None when it has none there."""
        found: list[dict] = []
        pages = self._route53.get_paginator("list_resource_record_sets").paginate(
            HostedZoneId=zone_id, StartRecordName=name + ".",
        )
        for page in pages:
            for record_set in page["ResourceRecordSets"]:
                if _normalize(record_set["Name"]) != name:
                    # Listing starts at this name in Route53's order, so the first other name ends it.
                    return found or None
                found.append(record_set)
        return found or None

    def _zone_for(self, name: str) -> tuple[str, str] | None:
        """(id, apex name) of the zone whose name is the longest suffix of name, if any."""
        best_id, best_name = None, None
        for page in self._route53.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                zone_name = _normalize(zone["Name"])
                in_zone = name == zone_name or name.endswith("." + zone_name)
                if in_zone and (best_name is None or len(zone_name) > len(best_name)):
                    best_id, best_name = zone["Id"], zone_name
        return (best_id, best_name) if best_id else None


_ANSWERED = {
    "A": A,
    "AAAA": AAAA,
    "TXT": lambda value: TXT(_character_strings(value)),
}


class DnsServer:
    """The running server: UDP and TCP on one loopback port, and the fault-injection switches."""

    address = ADDRESS

    def __init__(self, resolver: Route53Resolver, port: int) -> None:
        self._resolver = resolver
        self.port = port

    def override_txt(self, name: str, values: list[str]) -> None:
        """Answer these TXT values (each one record, raw text) for name instead of the zone's."""
        self._resolver.override_txt(name, values)

    def clear_overrides(self) -> None:
        self._resolver.clear_overrides()

    def query(self, name: str, rdtype: str, *, tcp: bool = False) -> DNSRecord:
        """The whole reply, for callers that need the rcode or flags."""
        packet = DNSRecord.question(name, rdtype).send(
            self.address, self.port, tcp=tcp, timeout=QUERY_TIMEOUT_SECONDS,
        )
        return DNSRecord.parse(packet)

    def resolve(self, name: str, rdtype: str, *, tcp: bool = False) -> list[str]:
        """Answers of that type as text; [] for NXDOMAIN and for no records of that type.

        TXT answers are the decoded text, each record's character-strings joined. Any other
        error rcode raises DnsQueryError.
        """
        reply = self.query(name, rdtype, tcp=tcp)
        rcode = reply.header.rcode
        if rcode == RCODE.NXDOMAIN:
            return []
        if rcode != RCODE.NOERROR:
            raise DnsQueryError(f"{name} {rdtype}: {RCODE[rcode]}")
        wanted = getattr(QTYPE, rdtype)
        return [
            b"".join(rr.rdata.data).decode() if rr.rtype == QTYPE.TXT else str(rr.rdata)
            for rr in reply.rr if rr.rtype == wanted
        ]


def _bind_udp_and_tcp(resolver: Route53Resolver, attempts: int = 10) -> tuple[DNSServer, DNSServer]:
    # Port 0 picks a free UDP port; the same number may be taken for TCP, so try again if it is.
    logger = DNSLogger(log="error", prefix=False, logf=_log.warning)
    for _ in range(attempts):
        udp = DNSServer(resolver, address=ADDRESS, port=0, logger=logger)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(resolver, address=ADDRESS, port=port, tcp=True, logger=logger)
        except OSError:
            udp.server.server_close()
            continue
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {ADDRESS} after {attempts} attempts")


@contextmanager
def running_dns_server(route53_client=None) -> Iterator[DnsServer]:
    """Serve until the block ends; without a client, one is built from the environment, marked so
    that the emulated Route53 budget does not count name resolution as API requests."""
    resolver = Route53Resolver(route53_client or boto3.client("route53", config=Config(user_agent_extra=NOT_COUNTED)))
    servers = [dns.server for dns in _bind_udp_and_tcp(resolver)]
    # A short poll interval: shutdown() waits for the serve loop's next poll, and the default
    # half second would be paid on every stop.
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        for server in servers
    ]
    for thread in threads:
        thread.start()
    try:
        yield DnsServer(resolver, servers[0].server_address[1])
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()
