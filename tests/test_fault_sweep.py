"""The fault sweep (tests/fault_sweep.py) over the scenarios of tests/fault_sweep_scenarios.py.

`make test` runs a deterministic sample of each scenario: SAMPLE_RUNS (position, fault) pairs spread
evenly over the full plan, from an offset FAULT_SWEEP_SEED chooses. FAULT_SWEEP=full
runs every position with every fault instead (of the scenarios FAULT_SWEEP_SCENARIOS names,
comma-separated; all by default) and prints "N faulted runs, M divergences";
FAULT_SWEEP_ONLY=<scenario>:<position>:<fault> runs that one case, as each divergence says.
"""

import base64
import json
import os

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from chalicelib.certificates.issuer import new_private_key_pem
from chalicelib.shared import aws_clients
from chalicelib.task_records.handlers import TaskEventHandlers
from embedded_stack.fargate import DOMAIN_PREFIX
from tests.certificates import pem_body
from tests.conftest import clean_account, clear_app_caches
from tests.fault_sweep import (
    Fault,
    InvocationDied,
    Sweep,
    SweepReport,
    Wire,
    full_plan,
    key_material_found,
    sample_plan,
    summary,
)
from tests.fault_sweep_scenarios import buffered_batch, reconcile_sweep, renewal, task_lifecycle

SCENARIOS = ("buffered-batch", "task-lifecycle", "reconcile-sweep", "renewal")
# Faulted runs per scenario in `make test`, about 40 s in all on the 2-core development machine: a
# task scenario's run takes about 1.3 s (its setup is some 60 emulator requests), a renewal's
# about 3 s (two issuances by Pebble).
SAMPLE_RUNS = {"buffered-batch": 5, "task-lifecycle": 5, "reconcile-sweep": 5, "renewal": 4}
SEED = os.environ.get("FAULT_SWEEP_SEED", "fault-sweep")
MODE = os.environ.get("FAULT_SWEEP", "sample")
ONLY = os.environ.get("FAULT_SWEEP_ONLY", "")
# The full sweep's scenarios, all unless FAULT_SWEEP_SCENARIOS names some (comma-separated).
FULL = [name for name in os.environ.get("FAULT_SWEEP_SCENARIOS", ",".join(SCENARIOS)).split(",") if name]

# Divergences found and reported, by (scenario, request, fault, invariant): why each is expected
# to fail until it is fixed. A run that diverges otherwise fails the test.
KNOWN_DIVERGENCES: dict[tuple[str, str, str, str], str] = {}


def scenario_named(name, request):
    monkeypatch = request.getfixturevalue("monkeypatch")
    if name == "renewal":  # only this one starts Pebble and the DNS server
        return renewal(monkeypatch, request.getfixturevalue("pebble"), request.getfixturevalue("dns_server"),
                       request.getfixturevalue("fast_clocks"))
    return {"buffered-batch": buffered_batch, "task-lifecycle": task_lifecycle,
            "reconcile-sweep": reconcile_sweep}[name](monkeypatch)


@pytest.fixture
def sweep(emulated_aws):
    yield Sweep(lambda: clean_account(emulated_aws))
    clear_app_caches()
    aws_clients.client.cache_clear()


def report(capsys, reports: list[SweepReport]) -> None:
    """The full sweep's counts, on the terminal even when pytest captures output."""
    with capsys.disabled():
        print(f"\nfault sweep ({MODE}): {summary(reports)}")


def settle(reports: list[SweepReport]) -> None:
    """Fails on any divergence not known; xfails, with the reasons, when only known ones remain."""
    divergences = [d for r in reports for d in r.divergences]
    unknown = [d for d in divergences if (d.scenario, d.request, d.fault, d.invariant) not in KNOWN_DIVERGENCES]
    assert not unknown, summary(reports)
    if divergences:
        reasons = sorted({KNOWN_DIVERGENCES[(d.scenario, d.request, d.fault, d.invariant)] for d in divergences})
        pytest.xfail("known divergences: " + " | ".join(reasons))


@pytest.mark.skipif(MODE == "full" or bool(ONLY), reason="the full sweep, or the one case asked for, runs instead")
@pytest.mark.parametrize("name", SCENARIOS)
def test_a_sample_of_faulted_runs_keeps_every_invariant(name, request, sweep):
    scenario = scenario_named(name, request)

    result = sweep.sweep(scenario, lambda positions: sample_plan(positions, SAMPLE_RUNS[name], f"{SEED}:{name}"))

    assert result.runs == min(SAMPLE_RUNS[name], 3 * len(result.requests))
    settle([result])


@pytest.mark.skipif(MODE != "full", reason="set FAULT_SWEEP=full for every position with every fault")
def test_every_fault_at_every_request_keeps_every_invariant(request, sweep, capsys):
    reports = [sweep.sweep(scenario_named(name, request), full_plan) for name in FULL]

    report(capsys, reports)
    settle(reports)


@pytest.mark.skipif(not ONLY, reason="set FAULT_SWEEP_ONLY=<scenario>:<position>:<fault> to run one case")
def test_one_case(request, sweep, capsys):
    name, position, fault = ONLY.split(":")
    scenario = scenario_named(name, request)
    recorded = sweep.record(scenario)

    divergences = sweep.run_one(scenario, int(position), Fault(fault), recorded)

    with capsys.disabled():
        print(f"\n{name}: request #{position} of {len(recorded)} is {recorded[int(position)]}")
        print("\n".join(map(str, divergences)) or "no divergence")
    assert not divergences


# --- the harness itself: each fault does what it says, and the sweep can fail ---------------------

def create(route53, zone_id, name):
    return route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60,
                                                  "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})


def test_a_failing_request_is_answered_at_every_attempt_and_never_reaches_aws(cluster):
    route53 = aws_clients.client("route53")
    name = f"fails.{DOMAIN_PREFIX}"

    with Wire(["route53"], Fault.FAILS, 0).attached(), pytest.raises(ClientError) as failed:
        create(route53, cluster.zone_id, name)

    assert failed.value.response["Error"]["Code"] == "InternalError"
    assert failed.value.response["ResponseMetadata"]["RetryAttempts"] == aws_clients.TOTAL_MAX_ATTEMPTS - 1
    assert (name, "A") not in cluster.zone_records()


def test_a_request_whose_response_is_lost_takes_effect_and_its_retry_meets_it(cluster):
    route53 = aws_clients.client("route53")
    name = f"lost.{DOMAIN_PREFIX}"

    with Wire(["route53"], Fault.RESPONSE_LOST, 0).attached(), pytest.raises(ClientError) as retried:
        create(route53, cluster.zone_id, name)

    # botocore sent it again after the connection closed, and Route53 refused the second CREATE.
    assert retried.value.response["Error"]["Code"] == "InvalidChangeBatch"
    assert "already exists" in retried.value.response["Error"]["Message"]
    assert cluster.zone_records()[(name, "A")] == ["192.0.2.1"]


def test_an_invocation_that_dies_after_a_request_makes_no_other(cluster):
    route53 = aws_clients.client("route53")
    first, second, never = (f"{label}.{DOMAIN_PREFIX}" for label in ("first", "second", "never"))
    wire = Wire(["route53"], Fault.DIES_AFTER, 1)

    with wire.attached():
        create(route53, cluster.zone_id, first)
        with pytest.raises(InvocationDied):
            create(route53, cluster.zone_id, second)
        with pytest.raises(InvocationDied):  # the process is gone: nothing leaves it any more
            create(route53, cluster.zone_id, never)
        wire.revive()  # the platform's next invocation
        route53.list_resource_record_sets(HostedZoneId=cluster.zone_id)

    records = cluster.zone_records()
    assert (first, "A") in records and (second, "A") in records and (never, "A") not in records
    assert [str(r) for r in wire.requests] == ["route53:ChangeResourceRecordSets"] * 2 + [
        "route53:ListResourceRecordSets"]


def first_position_of(recorded, operation):
    return next(i for i, request in enumerate(recorded) if request.operation == operation)


def test_the_sweep_finds_an_event_failure_taken_for_success(sweep, monkeypatch):
    # A mutation: update_task_dns reports success whatever happened, so Lambda never retries it.
    real = TaskEventHandlers.update_task_dns

    def swallowing(self, event):
        try:
            return real(self, event)
        except Exception:  # noqa: BLE001 - the mutation under test
            return {"outcome": "failed"}

    monkeypatch.setattr(TaskEventHandlers, "update_task_dns", swallowing)
    scenario = task_lifecycle(monkeypatch)
    recorded = sweep.record(scenario)

    found = sweep.run_one(scenario, first_position_of(recorded, "ChangeResourceRecordSets"), Fault.FAILS, recorded)

    assert {d.invariant for d in found} == {"records for exactly the running tasks"}
    assert all("after update_task_dns PENDING/RUNNING" in d.detail for d in found)


def test_the_sweep_finds_a_batch_acknowledged_before_it_is_written(sweep, monkeypatch):
    # A mutation: process_task_events remembers a batch as handled before writing it, so the
    # delivery after an invocation that died halfway is skipped.
    real, handled = TaskEventHandlers.process_task_events, set()

    def remembering(self, messages):
        bodies = tuple(body for _id, body in messages)
        if bodies in handled:
            return {"events": len(bodies), "skipped": True}
        handled.add(bodies)
        return real(self, ((str(i), body) for i, body in enumerate(bodies)))

    monkeypatch.setattr(TaskEventHandlers, "process_task_events", remembering)
    scenario = buffered_batch(monkeypatch)
    recorded = sweep.record(scenario)

    found = sweep.run_one(scenario, first_position_of(recorded, "ChangeResourceRecordSets"), Fault.DIES_AFTER,
                          recorded)

    assert "records for exactly the running tasks" in {d.invariant for d in found}


def test_the_key_check_tells_a_private_key_from_the_public_half_certificates_carry():
    key = new_private_key_pem()
    public = serialization.load_pem_private_key(key.encode(), password=None).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)

    # A certificate or CSR in the ACME library's debug log puts the public key at any alignment.
    assert [key_material_found(base64.b64encode(b"\0" * pad + public).decode(), [key]) for pad in range(3)] == [[]] * 3
    # 60 characters of the private part, JSON-escaped in a log line, are a leak.
    assert key_material_found(json.dumps({"line": pem_body(key)[40:100]}), [key])
