import json
import logging
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedded_stack.aws import ACCOUNT_ID, REGION, running_moto_server
from embedded_stack.fargate import CLUSTER_NAME, DOMAIN_PREFIX, FargateCluster

CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER_NAME}"


@pytest.fixture(scope="session")
def emulated_aws():
    with running_moto_server() as aws, pytest.MonkeyPatch.context() as patch:
        for name, value in aws.environment().items():
            patch.setenv(name, value)
        # app.py reads CLUSTER_ARN when it is imported (the event rule's filter), as on deploy.
        patch.setenv("CLUSTER_ARN", CLUSTER_ARN)
        patch.setenv("DOMAIN_PREFIX", DOMAIN_PREFIX)
        patch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
        yield aws


def clear_app_caches() -> None:
    """The app builds its clients and settings on first use; a new account needs new ones."""
    import app

    app.task_records.cache_clear()
    app.announcer.cache_clear()


def clean_account(emulated_aws) -> None:
    emulated_aws.reset()
    clear_app_caches()


def cluster_in_account(monkeypatch) -> FargateCluster:
    """A simulated Fargate cluster whose zone is the app's HOSTED_ZONE_ID."""
    cluster = FargateCluster(CLUSTER_ARN)
    monkeypatch.setenv("HOSTED_ZONE_ID", cluster.zone_id)
    return cluster


@pytest.fixture
def aws(emulated_aws):
    """A clean emulated account, and app clients and settings built afresh for it."""
    clean_account(emulated_aws)
    yield emulated_aws
    clear_app_caches()


@pytest.fixture
def cluster(aws, monkeypatch) -> FargateCluster:
    return cluster_in_account(monkeypatch)


@pytest.fixture(autouse=True)
def no_retry_backoff(monkeypatch):
    """botocore's retry backoff is the only clock on the DNS path; tests do not wait on it."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def app_module(aws):
    import app

    return app


@pytest.fixture
def logs():
    """The app's structured log lines, parsed, as CloudWatch would receive them."""
    from chalicelib.shared.logs import logger

    lines: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(logger.registered_formatter.format(record)))

    handler = Collect()
    logging.getLogger(logger.name).addHandler(handler)
    yield lines
    logging.getLogger(logger.name).removeHandler(handler)


@pytest.fixture
def aws_calls(app_module):
    """(service, operation) of every AWS API call the app's clients make from now on."""
    from chalicelib.shared.aws_clients import client

    calls: list[tuple[str, str]] = []

    def record(model, **_):
        calls.append((model.service_model.service_name, model.name))

    for service in ("ecs", "ec2", "route53"):
        client(service).meta.events.register("before-call", record)
    yield calls
    for service in ("ecs", "ec2", "route53"):
        client(service).meta.events.unregister("before-call", record)


@pytest.fixture(scope="session")
def dns_server(emulated_aws):

    from embedded_stack.dns_server import running_dns_server

    with running_dns_server() as server:
        yield server


@pytest.fixture(scope="session")
def pebble(dns_server):
    """Pebble validating DNS-01 for real against our DNS server; the ACME client trusts its listener."""
    from embedded_stack.pebble import running_pebble

    with running_pebble(dns_server.port) as ca, pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(ca.listener_ca_path))
        yield ca


@pytest.fixture
def certificate_target(aws, pebble, dns_server, monkeypatch):
    """Makes a zone, bucket and topics for one certificate, and points the renewal config at it."""
    from tests.certificates import CertificateTarget

    def make(workspace: str, domains: list[str]) -> CertificateTarget:
        dns_server.clear_overrides()
        target = CertificateTarget("example.com", workspace)
        monkeypatch.setenv("WORKSPACE", workspace)
        monkeypatch.setenv("ACME_DIRECTORY_URL", pebble.directory_url)
        monkeypatch.setenv("CERTIFICATES", json.dumps([target.item(domains)]))
        return target

    yield make
    dns_server.clear_overrides()


@pytest.fixture
def fast_clocks():
    """Real time (Pebble validates asynchronously) but polled every 20 ms instead of every second."""
    import time

    from chalicelib.certificates.renewal import Clocks

    return Clocks(sleep=time.sleep, poll_interval_seconds=0.02, dns_interval_seconds=0.02)


def _hypothesis_profiles():
    from hypothesis import settings

    # CI explores the same examples every run, so a red build is reproducible; locally new ones.
    settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
    settings.load_profile("ci" if os.environ.get("CI") else "default")


_hypothesis_profiles()
