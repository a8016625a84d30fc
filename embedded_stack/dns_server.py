"""A small authoritative DNS server on loopback that answers from the emulated Route53 zones.

Pebble validates DNS-01 against it for real, and the demo resolves task hostnames through it.
Records are read from Route53 on every query, never cached: tests change them between queries.
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
from dnslib import AAAA, QTYPE, RCODE, RR, TXT, A, DNSRecord
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
            record_sets = self._record_sets(name)
        except (BotoCoreError, ClientError):
            _log.warning("route53 lookup failed for %s", name, exc_info=True)
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if record_sets is None and override is None:  # an overridden name exists
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        make_rdata = _ANSWERED.get(QTYPE[qtype])
        for record_set in record_sets or []:
            if make_rdata and record_set["Type"] == QTYPE[qtype]:
                for record in record_set.get("ResourceRecords", []):  # alias records have none
                    reply.add_answer(RR(qname, qtype, rdata=make_rdata(record["Value"]),
                                        ttl=record_set.get("TTL", 0)))
        return reply

    def _record_sets(self, name: str) -> list[dict] | None:
        """The record sets at exactly this name, or None when no zone has any there."""
        zone_id = self._zone_for(name)
        if zone_id is None:
            return None
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

    def _zone_for(self, name: str) -> str | None:
        best_id, best_name = None, None
        for page in self._route53.get_paginator("list_hosted_zones").paginate():
            for zone in page["HostedZones"]:
                zone_name = _normalize(zone["Name"])
                in_zone = name == zone_name or name.endswith("." + zone_name)
                if in_zone and (best_name is None or len(zone_name) > len(best_name)):
                    best_id, best_name = zone["Id"], zone_name
        return best_id


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
