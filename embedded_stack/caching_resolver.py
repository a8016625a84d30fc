"""A caching recursive resolver on loopback, in front of the local DNS server.

Clients do not ask Route53 directly: they ask a resolver that remembers answers. It keeps a record
for the answer's TTL and "no such name" for the zone's negative TTL, min(SOA TTL, SOA minimum)
from the SOA in the authority section (RFC 2308 section 5): 900 s with Route53's default SOA,
however soon the record is created. This resolver caches the same way, so tests and the demo can
show when a client that looked a task's name up too early keeps failing. Its clock is injectable:
tests move time on instead of sleeping.

UDP only, one cache per running resolver. A negative answer without an SOA is not cached (RFC 2308
section 5): the local DNS server sends one only for a zone with a readable SOA, so an emulated zone
needs zone_soa.give_route53_default_soa (or its own SOA) before "no such name" is remembered.
"""

import logging
import math
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from embedded_stack.dns_server import ADDRESS, QUERY_TIMEOUT_SECONDS

_log = logging.getLogger(__name__)

Clock = Callable[[], float]

# RFC 2308 section 5: NXDOMAIN says the name has no records of any type, so one cached answer
# serves every type asked at that name; NOERROR without records is kept per type.
_ANY_TYPE = None


@dataclass(frozen=True)
class CachedAnswer:
    rcode: int
    answers: tuple[RR, ...]
    authority: tuple[RR, ...]
    stored_at: float
    ttl: int

    @property
    def negative(self) -> bool:
        return not self.answers

    def remaining(self, now: float) -> float:
        return self.stored_at + self.ttl - now


def _name(qname) -> str:
    return str(qname).rstrip(".").lower()


def _soa_minimum(rr: RR) -> int:
    return rr.rdata.times[4]  # serial refresh retry expire minimum


def cache_ttl(reply: DNSRecord) -> int | None:
    """How long a resolver may keep this upstream reply, or None when it must not keep it."""
    if reply.header.tc:  # a truncated reply is partial
        return None
    rcode = reply.header.rcode
    if rcode == RCODE.NOERROR and reply.rr:
        return min(rr.ttl for rr in reply.rr) or None  # TTL 0: use once, never cache
    if rcode in (RCODE.NXDOMAIN, RCODE.NOERROR):
        return _negative_ttl(reply)
    return None  # SERVFAIL and the rest: ask again next time


def _negative_ttl(reply: DNSRecord) -> int | None:
    # RFC 2308 section 5: min(TTL of the SOA, its MINIMUM field); without an SOA, do not cache.
    soas = [rr for rr in reply.auth if rr.rtype == QTYPE.SOA]
    if not soas:
        return None
    return min(min(rr.ttl, _soa_minimum(rr)) for rr in soas) or None


class DnsCache:
    """Answers by (name, type), each until its TTL has passed on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, int | None], CachedAnswer] = {}
        self.hits = 0
        self.misses = 0
        self.negative_hits = 0

    def now(self) -> float:
        return self._clock()

    def lookup(self, name: str, qtype: int) -> CachedAnswer | None:
        """A live entry for the question, counted as a hit; None (a miss) means ask upstream."""
        now = self.now()
        with self._lock:
            entry = self._live(name, _ANY_TYPE, now) or self._live(name, qtype, now)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self.negative_hits += entry.negative
            return entry

    def _live(self, name: str, qtype: int | None, now: float) -> CachedAnswer | None:
        entry = self._entries.get((name, qtype))
        if entry is not None and entry.remaining(now) <= 0:
            del self._entries[(name, qtype)]
            return None
        return entry

    def store(self, name: str, qtype: int, reply: DNSRecord, ttl: int) -> CachedAnswer:
        entry = CachedAnswer(reply.header.rcode, tuple(reply.rr), tuple(reply.auth), self.now(), ttl)
        key = (name, _ANY_TYPE if entry.rcode == RCODE.NXDOMAIN else qtype)
        with self._lock:
            self._entries[key] = entry
        return entry

    def flush(self) -> None:
        """Forget every answer (as `rndc flush` or `unbound-control flush_all`); counters stay."""
        with self._lock:
            self._entries.clear()


def _aged(rr: RR, ttl: int) -> RR:
    return RR(rr.rname, rr.rtype, rr.rclass, ttl, rr.rdata)


def _reply_from(request: DNSRecord, entry: CachedAnswer, now: float) -> DNSRecord:
    """The answer as a resolver gives it: not authoritative, TTLs counting down from when it was
    stored, so a client's own cache does not keep it past the resolver's."""
    reply = request.reply(ra=1, aa=0)
    reply.header.rcode = entry.rcode
    ttl = max(0, math.floor(entry.remaining(now)))
    for rr in entry.answers:
        reply.add_answer(_aged(rr, min(rr.ttl, ttl)))
    for rr in entry.authority:
        reply.add_auth(_aged(rr, min(rr.ttl, ttl)))
    return reply


class CachingResolver(BaseResolver):
    """dnslib resolver: answers from the cache, or forwards to the upstream and caches its reply."""

    def __init__(self, upstream: tuple[str, int], cache: DnsCache,
                 timeout: float = QUERY_TIMEOUT_SECONDS) -> None:
        self._upstream = upstream
        self._cache = cache
        self._timeout = timeout

    def resolve(self, request: DNSRecord, handler: socketserver.BaseRequestHandler) -> DNSRecord:
        name, qtype = _name(request.q.qname), request.q.qtype
        entry = self._cache.lookup(name, qtype)
        if entry is not None:
            return _reply_from(request, entry, self._cache.now())
        upstream_reply = self._forward(request)
        if upstream_reply is None:
            failed = request.reply(ra=1, aa=0)
            failed.header.rcode = RCODE.SERVFAIL
            return failed
        ttl = cache_ttl(upstream_reply)
        if ttl is None:
            upstream_reply.header.aa, upstream_reply.header.ra = 0, 1
            return upstream_reply
        entry = self._cache.store(name, qtype, upstream_reply, ttl)
        return _reply_from(request, entry, entry.stored_at)

    def _forward(self, request: DNSRecord) -> DNSRecord | None:
        host, port = self._upstream
        try:
            return DNSRecord.parse(request.send(host, port, timeout=self._timeout))
        except (OSError, DNSError):  # refused, timed out, or garbage: the client gets SERVFAIL
            _log.warning("upstream %s:%s did not answer %s", host, port, request.q.qname, exc_info=True)
            return None


class RunningCachingResolver:
    """The running resolver: its port, the cache's counters and flush, and a client that asks it."""

    address = ADDRESS

    def __init__(self, cache: DnsCache, port: int) -> None:
        self._cache = cache
        self.port = port

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    @property
    def negative_hits(self) -> int:
        """Hits that answered NXDOMAIN or no records: a client told "not there" from memory."""
        return self._cache.negative_hits

    def flush(self) -> None:
        self._cache.flush()

    def query(self, name: str, rdtype: str = "A") -> DNSRecord:
        """The whole reply, for callers that need the TTLs or the authority section."""
        packet = DNSRecord.question(name, rdtype).send(self.address, self.port, timeout=QUERY_TIMEOUT_SECONDS)
        return DNSRecord.parse(packet)

    def resolve(self, name: str, rdtype: str = "A") -> tuple[str, list[str]]:
        """(rcode as text, e.g. "NOERROR" or "NXDOMAIN"; the answers of that type as text, sorted)."""
        reply = self.query(name, rdtype)
        wanted = getattr(QTYPE, rdtype)
        return RCODE[reply.header.rcode], sorted(str(rr.rdata) for rr in reply.rr if rr.rtype == wanted)


@contextmanager
def running_caching_resolver(upstream_port: int, clock: Clock = time.monotonic, *,
                             upstream_address: str = ADDRESS,
                             upstream_timeout: float = QUERY_TIMEOUT_SECONDS) -> Iterator[RunningCachingResolver]:
    """Serve UDP on a free loopback port until the block ends, forwarding to the upstream server
    (the local DNS server: running_dns_server().port)."""
    cache = DnsCache(clock)
    resolver = CachingResolver((upstream_address, upstream_port), cache, timeout=upstream_timeout)
    server = DNSServer(resolver, address=ADDRESS, port=0,
                       logger=DNSLogger(log="error", prefix=False, logf=_log.warning)).server
    # A short poll interval: shutdown() waits for the serve loop's next poll (half a second by default).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield RunningCachingResolver(cache, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
