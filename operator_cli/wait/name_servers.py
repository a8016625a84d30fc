"""The zone's authoritative name servers, and asking them directly (dnspython).

`wait` asks these, never a caching resolver: a resolver asked for a task's name before its record
exists caches "no such name" for the zone's negative-caching time (`doctor`'s negative-caching
check), and would go on answering it to the task's clients. An authoritative server caches nothing,
and the queries go out without recursion desired, so even a resolver named here by mistake is not
sent off to look the name up (and cache the answer); it answers without the AA flag, reported as
"not authoritative".

The servers are the hosted zone's delegation set (route53:GetHostedZone), each host name resolved
through the system resolver (those names are not ours: asking for them caches nothing of ours),
or the servers TASK_SUBDOMAINS_NAMESERVERS lists (host:port,...: the local stack's DNS server).
"""

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.configuration import ConfigurationError

NAMESERVERS_VARIABLE = "TASK_SUBDOMAINS_NAMESERVERS"
DNS_PORT = 53
QUERY_TIMEOUT_SECONDS = 2.0
# Big enough for any answer of a few addresses, small enough not to be fragmented (DNS flag day 2020).
EDNS_PAYLOAD = 1232
QUERY_TYPES = ("A", "AAAA")

# host:port, [ipv6]:port, or a bare host (port 53).
_SERVER = re.compile(r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<v6port>\d+))?|(?P<host>[^\s:\[\]]+)(?::(?P<port>\d+))?")


class NoNameServers(ValueError):
    """The zone's name servers cannot be had; the message says what to do."""


@dataclass(frozen=True)
class NameServer:
    label: str  # how the report names it: "ns-1.awsdns-01.org (205.251.192.1)", "127.0.0.1:5353"
    address: str
    port: int = DNS_PORT


@dataclass(frozen=True)
class Answer:
    """One server's answer to one question."""

    rcode: str | None  # "NOERROR", "NXDOMAIN", "SERVFAIL", ...; None: no answer came
    values: tuple[str, ...] = ()  # the addresses of the asked type (a CNAME is not followed)
    authoritative: bool = True
    problem: str | None = None  # why no answer came


@dataclass(frozen=True)
class ServerAnswers:
    server: str  # NameServer.label
    by_type: Mapping[str, Answer]


def parse_name_servers(value: str) -> list[tuple[str, int]]:
    """(host, port) of each entry of TASK_SUBDOMAINS_NAMESERVERS; refuses what is not host[:port]."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if not entries:
        raise ConfigurationError(f"{NAMESERVERS_VARIABLE}={value!r} lists no name server (host:port,...)")
    servers = []
    for entry in entries:
        match = _SERVER.fullmatch(entry)
        port = match and int(match["v6port"] or match["port"] or DNS_PORT)
        if match is None or not 0 < port < 65536:
            raise ConfigurationError(f"{NAMESERVERS_VARIABLE}: {entry!r} is not host:port (e.g. 127.0.0.1:5353, "
                                     "[::1]:53, ns-1.example.net)")
        servers.append((match["v6"] or match["host"], port))
    return servers


def system_addresses(host: str) -> list[str]:
    """The host's IPv4 addresses through the system resolver, else its IPv6 ones: the machine
    waiting may well have no IPv6 route, and each Route53 name server has both."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            found = socket.getaddrinfo(host, DNS_PORT, family, socket.SOCK_DGRAM)
        except socket.gaierror:
            continue
        addresses = list(dict.fromkeys(info[4][0] for info in found))
        if addresses:
            return addresses
    return []


def delegation_set(route53_client, zone_id: str) -> list[str]:
    """The host names of the hosted zone's name servers (what its parent zone delegates to).

    IAM: route53:GetHostedZone.
    """
    try:
        response = route53_client.get_hosted_zone(Id=zone_id)
    except ClientError as error:
        if error_code(error) in ("NoSuchHostedZone", "InvalidInput"):
            raise NoNameServers(f"no hosted zone {zone_id} (HOSTED_ZONE_ID): set it to the zone of DOMAIN_PREFIX, "
                                f"or list the name servers in {NAMESERVERS_VARIABLE}") from None
        raise
    names = response.get("DelegationSet", {}).get("NameServers", [])
    if not names:
        # A private zone has none: its name server is each VPC's resolver.
        raise NoNameServers(f"hosted zone {zone_id} has no delegation set (a private zone?): list the name servers "
                            f"to ask in {NAMESERVERS_VARIABLE}")
    return [name.rstrip(".").lower() for name in names]


def name_servers(environ: Mapping[str, str], route53_client: Callable[[], object], zone_id: str,
                 addresses_of: Callable[[str], list[str]] = system_addresses) -> tuple[NameServer, ...]:
    """The servers to ask: TASK_SUBDOMAINS_NAMESERVERS when set, else the zone's delegation set.

    route53_client: called only when the delegation set is needed.
    """
    listed = environ.get(NAMESERVERS_VARIABLE, "").strip()
    if listed:
        return tuple(NameServer(_label(host, port, address), address, port)
                     for host, port in parse_name_servers(listed) for address in _addresses(host, addresses_of))
    return tuple(NameServer(_label(host, DNS_PORT, address), address)
                 for host in delegation_set(route53_client(), zone_id) for address in _addresses(host, addresses_of))


def _label(host: str, port: int, address: str) -> str:
    """"127.0.0.1:5353", "[::1]:5353", "ns-1.awsdns-01.org (205.251.192.1)": a name, with the address asked."""
    where = f"[{host}]" if ":" in host else host
    where = where if port == DNS_PORT else f"{where}:{port}"
    return where if host == address else f"{where} ({address})"


def _addresses(host: str, addresses_of: Callable[[str], list[str]]) -> list[str]:
    if _is_address(host):
        return [host]
    found = addresses_of(host)
    if not found:
        raise NoNameServers(f"name server {host} does not resolve through this machine's resolver: check its DNS, "
                            f"or list the servers' addresses in {NAMESERVERS_VARIABLE}")
    return found


def _is_address(host: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
            return True
        except OSError:
            continue
    return False


def ask(server: NameServer, name: str, rdtype: str, timeout: float = QUERY_TIMEOUT_SECONDS) -> Answer:
    """One question to one server, over UDP, again over TCP when the answer comes truncated."""
    # flags=0: no recursion desired. An authoritative server does not recurse anyway; anything
    # else is kept from looking the name up, and so from caching that it does not exist.
    query = dns.message.make_query(name, rdtype, flags=0, use_edns=0, payload=EDNS_PAYLOAD)
    try:
        response, _ = dns.query.udp_with_fallback(query, server.address, timeout=timeout, port=server.port)
    except dns.exception.Timeout:
        return Answer(None, problem=f"no answer within {timeout:g} s")
    except (OSError, dns.exception.DNSException) as error:
        return Answer(None, problem=f"no answer ({type(error).__name__}: {error})")
    wanted = dns.rdatatype.from_text(rdtype)
    values = tuple(sorted({rdata.to_text() for rrset in response.answer if rrset.rdtype == wanted
                           for rdata in rrset}))
    return Answer(dns.rcode.to_text(response.rcode()), values, bool(response.flags & dns.flags.AA))


def ask_all(servers: Iterable[NameServer], name: str, timeout: float = QUERY_TIMEOUT_SECONDS
            ) -> tuple[ServerAnswers, ...]:
    """A and AAAA from every server at once: a server that does not answer costs one timeout, not
    one per question. In the servers' order."""
    servers = tuple(servers)
    questions = [(server, rdtype) for server in servers for rdtype in QUERY_TYPES]
    with ThreadPoolExecutor(max_workers=max(len(questions), 1)) as pool:
        answers = iter(list(pool.map(lambda question: ask(question[0], name, question[1], timeout), questions)))
    return tuple(ServerAnswers(server.label, {rdtype: next(answers) for rdtype in QUERY_TYPES}) for server in servers)
