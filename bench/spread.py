"""make bench-spread: task starts spread over half a minute, both ways of handling task events, in one run.

    .venv/bin/python bench/spread.py [--tasks 200] [--seed 1] [--change-burst N] [--change-rate R]

Where bench/burst.py starts every task at once, this is how tasks arrive in practice: each task's
PENDING event comes at a uniformly random moment of a 30 s window, its RUNNING event 5-15 s later,
and a tenth of the tasks stop 5-15 s after RUNNING, their STOPPED event up to 30 s after that. A
task emits its whole lifecycle; only the events the EventBridge rule lets through
(chalicelib.task_records.events.task_event_pattern, matched by moto's EventBridge matcher) are
delivered, each at its time, in real time. The emulated Route53 sits behind both of the account's
buckets (requests and record changes, embedded_stack.aws) and the app's clients retry as deployed.

- per-event: the rule invokes update_task_dns asynchronously, one event per invocation, at most as
  many at once as its reserved concurrency (.chalice/config.json, prod).
- buffered: the events go to a queue; consumers take them ten at a time, as Lambda's pollers do,
  and invoke process_task_events with a batch when it is full or its batching window since its
  first message ends, at most as many at once as the event source allows (all three settings
  read from the loaded app's event source for process_task_events).
- readiness: when the loaded app has announce_hostnames (HOSTNAME_EVENTS_QUEUE_ARN set), its
  queue is created in the emulator and drained into it, and its Route53 requests count too.

When a record lands is seen inside the emulator, as each change batch applies: measuring costs no
Route53 request. Takes about three minutes (each mode runs the whole timeline). The numbers are
compared with the targets of the spread-arrival issue.
"""

from benchmark_environment import ROOT  # first: the path and the app's quiet settings

# isort: split

import argparse
import importlib.util
import json
import math
import os
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import boto3
from botocore.exceptions import ClientError
from moto.events.models import EventPattern

from chalicelib.shared.aws_clients import client as app_client
from chalicelib.task_records.events import task_event_pattern
from embedded_stack.aws import (
    ACCOUNT_ID,
    REGION,
    ROUTE53_CHANGE_BURST,
    ROUTE53_CHANGE_RATE,
    TokenBucket,
    route53_budget,
    running_moto_server,
    watching_route53_changes,
)
from embedded_stack.fargate import CLUSTER_NAME, DOMAIN_PREFIX, FargateCluster, as_sqs_event
from embedded_stack.stack import environment
from embedded_stack.zone_soa import give_route53_default_soa

CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER_NAME}"
TASK_EVENTS_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:task-subdomains-bench-task-events"
HOSTNAME_EVENTS_QUEUE = "task-subdomains-bench-hostname-events"

# The arrival model of the spread-arrival issue.
ARRIVAL_SECONDS = 30.0
RUNNING_AFTER_PENDING = (5.0, 15.0)
STOPPED_SHARE = 0.1
STOP_AFTER_RUNNING = (5.0, 15.0)  # "some seconds after RUNNING": RUNNING's own spread
# ECS gives a stopping task's containers their stop timeout (30 s by default on Fargate) before
# SIGKILL, so STOPPED follows the first stop event by up to that.
STOPPED_AFTER_STOP = (1.0, 30.0)

# Route53's account request bucket (developer guide, "Throttling for Amazon Route 53 API requests").
REQUEST_BURST, REQUEST_RATE = 50, 10
# Lambda hands a function at most 6 MB of event (Lambda quotas); a batch stops a tenth short of it,
# room for the SQS record Lambda wraps around each body (as bench/burst.py does).
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
BODIES_SHARE_OF_PAYLOAD = 0.9
SQS_MESSAGES_PER_RECEIVE = 10  # ReceiveMessage's maximum, what Lambda's pollers ask for
# Without a maximum concurrency, Lambda starts an SQS event source with five concurrent batches
# (Lambda developer guide, "Scaling behavior" for Amazon SQS event sources).
SQS_INITIAL_CONCURRENCY = 5

# Targets of the spread-arrival issue.
BUFFERED_REQUESTS_PER_TASK = 0.25  # readiness checks included
BUFFERED_P95_SECONDS = 3.5
PER_EVENT_REQUESTS_PER_TASK = 6  # per task lifecycle, plus readiness

LIFECYCLE = [("PROVISIONING", "RUNNING"), ("PENDING", "RUNNING"), ("ACTIVATING", "RUNNING"), ("RUNNING", "RUNNING"),
             ("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
             ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED")]
FIRST_STOP = ("RUNNING", "STOPPED")


# --- The scenario ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    at: float  # seconds after the start
    event: dict
    hostname: str
    status: tuple[str, str]  # (lastStatus, desiredStatus)
    task: dict


@dataclass
class Scenario:
    cluster: FargateCluster
    tasks: int
    emitted: int  # every event of every lifecycle
    deliveries: list[Delivery]  # the ones the rule lets through, in time order


def lifecycle_times(rng: random.Random, stops: bool) -> dict[tuple[str, str], float]:
    """When each of a task's events happens. The statuses the rule drops share their neighbours' times."""
    pending = rng.uniform(0, ARRIVAL_SECONDS)
    running = pending + rng.uniform(*RUNNING_AFTER_PENDING)
    times = {("PROVISIONING", "RUNNING"): pending, ("PENDING", "RUNNING"): pending,
             ("ACTIVATING", "RUNNING"): running, ("RUNNING", "RUNNING"): running}
    if stops:
        stop = running + rng.uniform(*STOP_AFTER_RUNNING)
        times.update({status: stop for status in LIFECYCLE[4:8]})
        times[("STOPPED", "STOPPED")] = stop + rng.uniform(*STOPPED_AFTER_STOP)
    return times


def build_scenario(aws, tasks: int, rng: random.Random) -> Scenario:
    aws.reset()
    cluster = FargateCluster(CLUSTER_ARN)
    # The SOA a Route53 zone has (moto's is unreadable): announce_hostnames reads it once, as in AWS.
    give_route53_default_soa(cluster.route53, cluster.zone_id)
    os.environ["HOSTED_ZONE_ID"] = cluster.zone_id
    started = [cluster.run_task(public_ip=f"198.18.{i // 250}.{i % 250 + 1}") for i in range(tasks)]
    stopping = set(rng.sample(range(tasks), round(tasks * STOPPED_SHARE)))
    rule = EventPattern.load(json.dumps(task_event_pattern(CLUSTER_ARN)))
    emitted, deliveries = 0, []
    for index, task in enumerate(started):
        for status, at in lifecycle_times(rng, index in stopping).items():
            emitted += 1
            event = cluster.event(task, *status)
            if rule.matches_event(event):
                deliveries.append(Delivery(at, event, FargateCluster.hostname(task), status, task))
    deliveries.sort(key=lambda d: d.at)
    return Scenario(cluster=cluster, tasks=tasks, emitted=emitted, deliveries=deliveries)


# --- Delivery in real time ------------------------------------------------------------------------

class Buffer:
    """Events waiting for an invocation: Lambda's asynchronous event queue, or the SQS queue."""

    def __init__(self):
        self._items: deque = deque()
        self._ready = threading.Condition()
        self._closed = False

    def put(self, item) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def take(self, most: int, timeout: float | None) -> list | None:
        """Up to `most` items, waiting up to `timeout` for the first; [] when the wait ran out,
        None once the buffer is closed and empty (nothing will ever come)."""
        with self._ready:
            self._ready.wait_for(lambda: self._items or self._closed, timeout)
            if not self._items:
                return None if self._closed else []
            return [self._items.popleft() for _ in range(min(most, len(self._items)))]


@dataclass
class Clock:
    """The run's timeline: when it started, when each task's PENDING event went out, when each
    task's A record landed in the zone."""

    started: float = field(default_factory=time.monotonic)
    pending: dict[str, float] = field(default_factory=dict)
    landed: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record_landings(self, changes: list[dict]) -> None:
        now = time.monotonic()
        with self._lock:
            for change in changes:
                record_set = change["ResourceRecordSet"]
                name = record_set["Name"].rstrip(".").lower()
                if change["Action"] in ("CREATE", "UPSERT") and record_set.get("Type") == "A":
                    self.landed.setdefault(name, now)

    def seconds_to_record(self) -> list[float]:
        return sorted(self.landed[name] - at for name, at in self.pending.items() if name in self.landed)


def deliver(scenario: Scenario, buffer: Buffer, clock: Clock, per_event: bool) -> None:
    """EventBridge: each event at its time. A task is stopped in ECS just before its first stop event."""
    for delivery in scenario.deliveries:
        time.sleep(max(0.0, clock.started + delivery.at - time.monotonic()))
        if delivery.status == FIRST_STOP:
            scenario.cluster.stop_task(delivery.task)
        if delivery.status == ("PENDING", "RUNNING"):
            clock.pending[delivery.hostname] = time.monotonic()
        buffer.put(delivery.event if per_event else json.dumps(delivery.event))  # SQS holds message bodies
    buffer.close()


# --- The two modes ----------------------------------------------------------------------------------

@dataclass
class Invocations:
    failed: int = 0
    count: int = 0
    why: dict[str, int] = field(default_factory=dict)  # failures by AWS error code or exception type
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke(self, handler: Callable, event: dict) -> None:
        try:
            handler(event, None)
            reason = None
        except ClientError as error:  # a failed invocation, counted; Lambda or SQS would retry it later
            reason = error.response.get("Error", {}).get("Code", "ClientError")
        except Exception as error:  # noqa: BLE001 - likewise
            reason = type(error).__name__
        with self._lock:
            self.count += 1
            if reason:
                self.failed += 1
                self.why[reason] = self.why.get(reason, 0) + 1


def per_event_workers(app, buffer: Buffer, invocations: Invocations) -> tuple[Callable, int]:
    def invocation():
        while (events := buffer.take(1, None)) is not None:
            invocations.invoke(app.update_task_dns, events[0])

    return invocation, reserved_concurrency("update_task_dns")


def buffered_workers(app, buffer: Buffer, invocations: Invocations) -> tuple[Callable, int]:
    source = sqs_source(app, "process_task_events")

    def consumer():
        while (bodies := gather(buffer, source.batch_size, source.maximum_batching_window_in_seconds)) is not None:
            invocations.invoke(app.process_task_events, as_sqs_event(bodies, TASK_EVENTS_QUEUE_ARN))

    return consumer, source.maximum_concurrency or SQS_INITIAL_CONCURRENCY


def gather(buffer: Buffer, batch_size: int, window_seconds: float) -> list | None:
    """One batch, as Lambda's poller gathers it: from the first message on, until it is full (in
    messages or payload) or the batching window ends. None: the queue is closed and drained."""
    batch = buffer.take(SQS_MESSAGES_PER_RECEIVE, None)
    if batch is None:
        return None
    window_ends = time.monotonic() + window_seconds
    payload = sum(map(len, batch))
    while len(batch) < batch_size and payload < LAMBDA_PAYLOAD_LIMIT * BODIES_SHARE_OF_PAYLOAD:
        remaining = window_ends - time.monotonic()
        more = buffer.take(min(SQS_MESSAGES_PER_RECEIVE, batch_size - len(batch)), remaining) if remaining > 0 else None
        if more is None:
            break
        batch += more
        payload += sum(map(len, more))
    return batch


def sqs_source(app, function_name: str):
    """The loaded app's SQS event source for a function: batch size, window and concurrency as deployed."""
    (source,) = [s for s in app.app.event_sources if s.name == function_name]
    return source


def reserved_concurrency(function_name: str) -> int:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return config["stages"]["prod"]["lambda_functions"][function_name]["reserved_concurrency"]


# --- Readiness (hostname events) --------------------------------------------------------------------
# Being added alongside this benchmark: with HOSTNAME_EVENTS_QUEUE_ARN set, the writers leave a
# readiness check per change batch on that queue, and announce_hostnames (an SQS handler, like
# process_task_events) calls GetChange once per batch and reads the zone's SOA. Kept here, apart,
# so finishing it touches nothing above.

class Readiness:
    """Drains the hostname events queue into announce_hostnames, as its event source would, and
    counts the Route53 requests it makes (the budget counts them too, in the totals)."""

    THREAD_PREFIX = "readiness"

    def __init__(self, app, queue_url: str):
        self._app, self._queue_url = app, queue_url
        self._sqs = boto3.client("sqs")
        self._source = sqs_source(app, "announce_hostnames")
        self._finished = threading.Event()
        self._threads: list[threading.Thread] = []
        self.invocations = Invocations()
        self.requests: dict[str, int] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> "Readiness":
        app_client("route53").meta.events.register("before-send.route53", self._count)
        concurrency = self._source.maximum_concurrency or SQS_INITIAL_CONCURRENCY
        self._threads = [threading.Thread(target=self._poll, name=f"{self.THREAD_PREFIX}-{i}")
                         for i in range(concurrency)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        """Once the writers are done: the queue is drained, then the pollers stop."""
        self._finished.set()
        for thread in self._threads:
            thread.join()
        app_client("route53").meta.events.unregister("before-send.route53", self._count)

    def _count(self, event_name: str, **_) -> None:
        # before-send fires once per HTTP attempt (before-send.route53.<Operation>): what the
        # budget counts, retries included.
        if threading.current_thread().name.startswith(self.THREAD_PREFIX):
            operation = event_name.rsplit(".", 1)[1]
            with self._lock:
                self.requests[operation] = self.requests.get(operation, 0) + 1

    def _poll(self) -> None:
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=min(SQS_MESSAGES_PER_RECEIVE, self._source.batch_size),
                WaitTimeSeconds=1).get("Messages", [])
            if not messages:
                if self._finished.is_set():
                    return
                continue
            bodies = [message["Body"] for message in messages]
            self.invocations.invoke(self._app.announce_hostnames, as_sqs_event(bodies, self._source.queue_arn))
            # Deleted even when the invocation failed (counted): SQS would deliver them again after
            # the visibility timeout, past the end of the run.
            self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])


def hostname_events_queue() -> tuple[str, str]:
    """The queue in the emulated account: (URL, ARN)."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=HOSTNAME_EVENTS_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def load_app_with_readiness(module_name: str, task_events_queue_arn: str | None) -> tuple[object, Readiness | None]:
    """app.py with HOSTNAME_EVENTS_QUEUE_ARN set, when that app registers announce_hostnames;
    otherwise app.py as before, without it (readiness: not available)."""
    queue_url, queue_arn = hostname_events_queue()
    with environment({"HOSTNAME_EVENTS_QUEUE_ARN": queue_arn}):
        app = load_app(module_name, task_events_queue_arn)
    if hasattr(app, "announce_hostnames"):
        os.environ["HOSTNAME_EVENTS_QUEUE_ARN"] = queue_arn  # the writers read it when they first run
        return app, Readiness(app, queue_url)
    os.environ.pop("HOSTNAME_EVENTS_QUEUE_ARN", None)
    return load_app(f"{module_name}_without_readiness", task_events_queue_arn), None


# --- Measuring ---------------------------------------------------------------------------------------

def load_app(module_name: str, task_events_queue_arn: str | None):
    """app.py loaded afresh, as Lambda loads it with the stage's environment (buffered mode when
    TASK_EVENTS_QUEUE_ARN is set)."""
    if task_events_queue_arn:
        os.environ["TASK_EVENTS_QUEUE_ARN"] = task_events_queue_arn
    else:
        os.environ.pop("TASK_EVENTS_QUEUE_ARN", None)
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Outcome:
    tasks: int
    requests: int
    by_operation: dict[str, int]
    changes: int
    throttled: int
    changes_throttled: int
    seconds_to_record: list[float]
    failed: int
    failed_why: dict[str, int]
    readiness: Readiness | None
    seconds: float


def run_mode(name: str, aws, args) -> Outcome:
    scenario = build_scenario(aws, args.tasks, random.Random(args.seed))
    task_events_queue = TASK_EVENTS_QUEUE_ARN if name == "buffered" else None
    app, readiness = load_app_with_readiness(f"bench_spread_{name.replace('-', '_')}", task_events_queue)
    print(f"{name}: {args.tasks} tasks, {len(scenario.deliveries)} of {scenario.emitted} events through the rule, "
          f"readiness {'on' if readiness else 'not available'} ...", file=sys.stderr, flush=True)
    buffer, clock, invocations = Buffer(), Clock(), Invocations()
    workers, concurrency = (buffered_workers if task_events_queue else per_event_workers)(app, buffer, invocations)
    buckets = TokenBucket(REQUEST_BURST, REQUEST_RATE), TokenBucket(args.change_burst, args.change_rate)
    with (route53_budget(buckets[0], changes=buckets[1]) as budget, watching_route53_changes(clock.record_landings),
          readiness or nullcontext()):
        threads = [threading.Thread(target=workers) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        deliver(scenario, buffer, clock, per_event=not task_events_queue)
        for thread in threads:
            thread.join()
    os.environ.pop("HOSTNAME_EVENTS_QUEUE_ARN", None)
    return Outcome(tasks=args.tasks, requests=budget.requests, by_operation=dict(budget.by_operation),
                   changes=budget.changes, throttled=budget.throttled, changes_throttled=budget.changes_throttled,
                   seconds_to_record=clock.seconds_to_record(), failed=invocations.failed,
                   failed_why=invocations.why, readiness=readiness,
                   seconds=time.monotonic() - clock.started)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    return values[max(0, math.ceil(share * len(values)) - 1)] if values else float("nan")


# --- The table ----------------------------------------------------------------------------------------

def readiness_requests(outcome: Outcome) -> int:
    return sum(outcome.readiness.requests.values()) if outcome.readiness else 0


def rows(per: Outcome, buf: Outcome) -> list[tuple]:
    """(label, per-event value, per-event target, buffered value, buffered target)."""
    n = per.tasks
    operations = sorted(set(per.by_operation) | set(buf.by_operation))
    table = [
        ("Route53 requests", per.requests, "", buf.requests, ""),
        ("  per task, readiness included", per.requests / n, "", buf.requests / n,
         f"<= {BUFFERED_REQUESTS_PER_TASK}"),
        ("  per task, readiness excluded", (per.requests - readiness_requests(per)) / n,
         f"<= {PER_EVENT_REQUESTS_PER_TASK}", (buf.requests - readiness_requests(buf)) / n, ""),
    ]
    table += [(f"  {op} per task", per.by_operation.get(op, 0) / n, "", buf.by_operation.get(op, 0) / n, "")
              for op in operations]
    table += [
        ("  of them readiness (announce_hostnames)", readiness_requests(per), "", readiness_requests(buf), ""),
        ("Route53 record changes", per.changes, "", buf.changes, ""),
        ("throttled Route53 requests", per.throttled, "0", buf.throttled, "0"),
        ("throttled record changes", per.changes_throttled, "0", buf.changes_throttled, "0"),
        ("PENDING -> record in zone, p50 s", percentile(per.seconds_to_record, 0.5), "",
         percentile(buf.seconds_to_record, 0.5), ""),
        ("PENDING -> record in zone, p95 s", percentile(per.seconds_to_record, 0.95), "",
         percentile(buf.seconds_to_record, 0.95), f"<= {BUFFERED_P95_SECONDS}"),
        ("PENDING -> record in zone, max s", percentile(per.seconds_to_record, 1.0), "",
         percentile(buf.seconds_to_record, 1.0), ""),
        ("tasks whose record never landed", n - len(per.seconds_to_record), "",
         n - len(buf.seconds_to_record), ""),
        ("failed invocations (events or batches)", per.failed, "", buf.failed, ""),
        ("failed announce_hostnames invocations", failed_readiness(per), "", failed_readiness(buf), ""),
        ("seconds until every event was handled", per.seconds, "", buf.seconds, ""),
    ]
    return table


def failed_readiness(outcome: Outcome) -> int | str:
    return outcome.readiness.invocations.failed if outcome.readiness else "-"


def shown(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def missed_targets(per: Outcome, buf: Outcome) -> list[str]:
    n = per.tasks
    checks = [
        ("buffered: Route53 requests per task (readiness included)", buf.requests / n <= BUFFERED_REQUESTS_PER_TASK),
        ("buffered: p95 PENDING -> record", percentile(buf.seconds_to_record, 0.95) <= BUFFERED_P95_SECONDS),
        ("buffered: nothing throttled", buf.throttled == 0),
        ("per-event: Route53 requests per task (readiness excluded)",
         (per.requests - readiness_requests(per)) / n <= PER_EVENT_REQUESTS_PER_TASK),
    ]
    return [label for label, met in checks if not met]


def report(per: Outcome, buf: Outcome, args) -> None:
    print(f"\n{args.tasks} tasks: PENDING uniformly over {ARRIVAL_SECONDS:.0f} s, RUNNING "
          f"{RUNNING_AFTER_PENDING[0]:.0f}-{RUNNING_AFTER_PENDING[1]:.0f} s later, {STOPPED_SHARE:.0%} stopped "
          f"{STOP_AFTER_RUNNING[0]:.0f}-{STOP_AFTER_RUNNING[1]:.0f} s after RUNNING (seed {args.seed})")
    print(f"Route53 behind a {REQUEST_BURST}-burst, {REQUEST_RATE}/s request bucket and a {args.change_burst}-change, "
          f"{args.change_rate}/s change bucket")
    print("readiness: " + ("announce_hostnames drained, its requests counted" if per.readiness and buf.readiness
                           else "not available"))
    print(f"\n{'':44}{'per-event':>11}{'target':>11}{'buffered':>11}{'target':>11}")
    for label, a, a_target, b, b_target in rows(per, buf):
        print(f"{label:44}{shown(a):>11}{a_target:>11}{shown(b):>11}{b_target:>11}")
    for name, outcome in (("per-event", per), ("buffered", buf)):
        why = dict(outcome.failed_why)
        if outcome.readiness:
            why.update({f"announce_hostnames {k}": v for k, v in outcome.readiness.invocations.why.items()})
        if why:
            print(f"failed invocations, {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(why.items())))
    missed = missed_targets(per, buf)
    print("\ntargets missed: " + ("; ".join(missed) if missed else "none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--change-burst", type=float, default=ROUTE53_CHANGE_BURST,
                        help="the change bucket's capacity, in record changes (embedded_stack/aws.py)")
    parser.add_argument("--change-rate", type=float, default=ROUTE53_CHANGE_RATE,
                        help="the change bucket's refill, in record changes a second")
    args = parser.parse_args()

    with running_moto_server() as aws, environment({**aws.environment(), "CLUSTER_ARN": CLUSTER_ARN,
                                                    "DOMAIN_PREFIX": DOMAIN_PREFIX}):
        per = run_mode("per-event", aws, args)
        buf = run_mode("buffered", aws, args)
    report(per, buf, args)


if __name__ == "__main__":
    main()
