"""The seed's flake, shown and ended: 200 tasks (`make test-ready`; 50 in `make test`) start spread
over time, in each mode, and clients resolve their names through a caching resolver that caches
negative answers (RFC 2308), as a browser's resolver does.

- A client that resolves a name at the task's event, before its record exists, plants NXDOMAIN in
  the cache for the zone's negative TTL (Route53's default SOA: 900 s); looked up again once the
  record is there, the name still does not exist for it. That is the seed's failure, and the test
  asserts it happens, so the other half cannot pass for want of a cache that remembers.
- A client that resolves a name only after its "Task Hostname Ready" event gets the task's
  address every time: 0 NXDOMAIN, 0 stale answers.

Time is simulated: the resolvers' clock moves with the scenario, never by sleeping.
"""

import os
import random
from dataclasses import dataclass

import pytest

from embedded_stack.caching_resolver import running_caching_resolver
from embedded_stack.fargate import as_sqs_event
from embedded_stack.hostname_events import HostnameEvents
from embedded_stack.zone_soa import give_route53_default_soa
from tests.helpers import hostname, load_app

# `make test` runs 50 tasks a mode; `make test-ready` the full 200 (about two minutes).
TASKS = int(os.environ.get("PROOF_TASKS", "50"))
ARRIVAL_SECONDS = 60  # the tasks' PENDING events spread over a minute
BATCHING_WINDOW_SECONDS = 2  # buffered mode: what Lambda gathers into one batch
LOOK_AGAIN_AFTER_SECONDS = 5  # the naive client tries again: the record exists by then
TASK_EVENTS_QUEUE_ARN = "arn:aws:sqs:eu-west-2:123456789012:task-subdomains-dev-task-events"


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(cluster, dns_server, monkeypatch):
    give_route53_default_soa(cluster.route53, cluster.zone_id)  # as a new zone in AWS has it
    events = HostnameEvents.create()
    monkeypatch.setenv("HOSTNAME_EVENTS_QUEUE_ARN", events.checks_queue_arn)
    return events


def started_over_time(cluster, count, seed):
    """(time of the PENDING event, task, its public address), in time order."""
    rng = random.Random(seed)
    addresses = [f"198.18.{i // 250}.{i % 250 + 1}" for i in range(count)]
    tasks = [cluster.run_task(public_ip=address) for address in addresses]
    return sorted(((rng.uniform(0, ARRIVAL_SECONDS), task, address) for task, address in zip(tasks, addresses,
                                                                                               strict=True)),
                  key=lambda arrival: arrival[0])


def per_event_writer(app, cluster):
    def write(arrivals):  # an invocation per event
        for _, task, _ in arrivals:
            app.update_task_dns(cluster.event(task, "PENDING"), None)
    return write


def buffered_writer(app, cluster):
    def write(arrivals):  # one invocation for the batching window
        app.process_task_events(as_sqs_event([cluster.event(task, "PENDING") for _, task, _ in arrivals],
                                             TASK_EVENTS_QUEUE_ARN), None)
    return write


def windows(arrivals, seconds):
    """The arrivals cut into windows of at most this many seconds."""
    batches, current = [], []
    for arrival in arrivals:
        if current and arrival[0] - current[0][0] > seconds:
            batches.append(current)
            current = []
        current.append(arrival)
    return batches + [current]


@pytest.mark.parametrize("mode", ["per-event", "buffered"])
def test_a_name_resolved_after_its_ready_event_always_answers_and_one_resolved_at_the_task_event_does_not(
        cluster, dns_server, stack, monkeypatch, mode):
    if mode == "buffered":
        monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", TASK_EVENTS_QUEUE_ARN)
        app = load_app("app_ready_proof_buffered")
        write, window = buffered_writer(app, cluster), BATCHING_WINDOW_SECONDS
    else:
        monkeypatch.delenv("TASK_EVENTS_QUEUE_ARN", raising=False)
        app = load_app("app_ready_proof_per_event")
        # announce_hostnames takes the checks of a second's invocations at a time.
        write, window = per_event_writer(app, cluster), 1
    arrivals = started_over_time(cluster, TASKS, seed=14)
    address = {hostname(task): public_address for _, task, public_address in arrivals}
    clock = Clock()
    naive_answers, patient_answers = {}, {}

    with (running_caching_resolver(dns_server.port, clock) as naive,
          running_caching_resolver(dns_server.port, clock) as patient):
        for batch in windows(arrivals, window):
            for at, task, _ in batch:
                clock.now = at
                naive.resolve(hostname(task))  # at the task's event: the record is not there yet
            clock.now = batch[-1][0] + window
            write(batch)
            stack.announce(app.announce_hostnames)
            for event in stack.received():
                assert event["detail-type"] == "Task Hostname Ready"
                name = event["detail"]["hostname"]
                patient_answers[name] = patient.resolve(name)
            clock.now += LOOK_AGAIN_AFTER_SECONDS
            for _, task, _ in batch:
                naive_answers[hostname(task)] = naive.resolve(hostname(task))

    # Every task was announced, and a client that waited for it got the address, fresh.
    assert sorted(patient_answers) == sorted(address)
    assert sum(rcode == "NXDOMAIN" for rcode, _ in patient_answers.values()) == 0
    assert sum(answers != [address[name]] for name, (_, answers) in patient_answers.items()) == 0
    # The client that asked too early is stuck with "no such name" although the record exists.
    assert sum(rcode == "NXDOMAIN" for rcode, _ in naive_answers.values()) == TASKS
    assert naive.negative_hits >= TASKS

