"""The whole local stack on loopback: emulated AWS, the DNS server answering from its Route53
zones, and Pebble validating DNS-01 against that DNS server.

While it runs, this process's environment points the standard SDK settings at the emulator and
REQUESTS_CA_BUNDLE at Pebble's listener CA, so the app runs unchanged.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from embedded_stack.aws import EmulatedAws, running_moto_server
from embedded_stack.dns_server import DnsServer, running_dns_server
from embedded_stack.pebble import Pebble, running_pebble


@dataclass(frozen=True)
class LocalStack:
    aws: EmulatedAws
    dns: DnsServer
    pebble: Pebble


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def running_local_stack(pebble_env: dict[str, str] | None = None) -> Iterator[LocalStack]:
    with (running_moto_server() as aws, environment(aws.environment()),
          running_dns_server() as dns, running_pebble(dns.port, pebble_env) as pebble,
          environment({"REQUESTS_CA_BUNDLE": str(pebble.listener_ca_path)})):
        yield LocalStack(aws=aws, dns=dns, pebble=pebble)
