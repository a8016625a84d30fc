"""make bench-burst: a burst of task starts, both ways of handling task events, in one run.

    .venv/bin/python bench/burst.py [--tasks 1000] [--stopped 0.1] [--seed 1]
                                    [--change-burst N] [--change-rate R]

The emulated Route53 sits behind the account's two token buckets (50 requests burst, 10 a second;
and record changes, embedded_stack.aws: ROUTE53_CHANGE_BURST and ROUTE53_CHANGE_RATE unless given;
HTTP 400 Throttling past either), and the app's clients retry as deployed (botocore standard mode,
real backoff). The scenario, built afresh for each mode: `--tasks` tasks start at once; a share
of them (`--stopped`) stops before its events are read. Their events (PENDING and RUNNING each,
and the stopped tasks' first stop and STOPPED events, the ones the rule lets through), shuffled,
are all there at t=0.

- per-event: 5 concurrent invocations of update_task_dns (its reserved concurrency), one event
  each, as Lambda's asynchronous invocations of the EventBridge rule.
- buffered: 2 consumers (the event source mapping's maximum concurrency) take messages from one
  queue ten at a time, as Lambda's pollers do, and invoke process_task_events with a batch when
  it holds 10,000 messages or 6 MB, or when the 2 s batching window since its first message ends.

Printed for each: seconds from t=0 until every event is handled (when no running task is left
without a record then, that is when every running task is published), Route53 requests and the
record changes they carry, throttled requests and record changes, failed invocations, running
tasks without a record and stopped tasks with one at that moment (a failed invocation's task
waits for Lambda's retry or the reconciler). Takes a few minutes: per-event mode is held to 10
Route53 requests a second, which is the point.
"""

from benchmark_environment import ROOT  # first: the path and the app's quiet settings

# isort: split

import argparse
import importlib.util
import json
import os
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import boto3
from botocore.config import Config
from moto.events.models import EventPattern

from chalicelib.task_records.events import task_event_pattern
from chalicelib.task_records.handlers import (
    BUFFERED_BATCH_SIZE,
    BUFFERED_BATCHING_WINDOW_SECONDS,
    BUFFERED_MAXIMUM_CONCURRENCY,
)
from embedded_stack.aws import (
    ACCOUNT_ID,
    NOT_COUNTED,
    REGION,
    ROUTE53_CHANGE_BURST,
    ROUTE53_CHANGE_RATE,
    TokenBucket,
    route53_budget,
    running_moto_server,
)
from embedded_stack.fargate import CLUSTER_NAME, FargateCluster, as_sqs_event
from embedded_stack.stack import environment

CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{CLUSTER_NAME}"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:task-subdomains-bench-task-events"
PER_EVENT_CONCURRENCY = 5  # update_task_dns's reserved concurrency
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
RECEIVE_SECONDS = 0.01  # one ReceiveMessage round trip: the two pollers take turns, as in Lambda


@dataclass
class Scenario:
    cluster: FargateCluster
    running: set[str]  # hostnames that should have records
    stopped: set[str]  # hostnames that must not
    events: list[dict]


@dataclass
class Outcome:
    seconds: float
    requests: int
    throttled: int
    changes: int
    changes_throttled: int
    failed: int
    missing: int
    stale: int


def build_scenario(aws, tasks: int, stopped_share: float, rng: random.Random) -> Scenario:
    aws.reset()
    cluster = FargateCluster(CLUSTER_ARN)
    os.environ["HOSTED_ZONE_ID"] = cluster.zone_id
    started = [cluster.run_task(public_ip=f"198.18.{i // 250}.{i % 250 + 1}") for i in range(tasks)]
    stopping = set(rng.sample(range(tasks), int(tasks * stopped_share)))
    rule = EventPattern.load(json.dumps(task_event_pattern(CLUSTER_ARN)))
    events = []
    for index, task in enumerate(started):
        lifecycle = [("PENDING", "RUNNING"), ("RUNNING", "RUNNING")]
        if index in stopping:
            cluster.stop_task(task)
            lifecycle += [("RUNNING", "STOPPED"), ("STOPPED", "STOPPED")]
        events += [event for last, desired in lifecycle
                   if rule.matches_event(event := cluster.event(task, last, desired))]
    rng.shuffle(events)
    names = [FargateCluster.hostname(task) for task in started]
    return Scenario(cluster=cluster, running={n for i, n in enumerate(names) if i not in stopping},
                    stopped={n for i, n in enumerate(names) if i in stopping}, events=events)


def load_app(module_name: str, queue_arn: str | None):
    if queue_arn:
        os.environ["TASK_EVENTS_QUEUE_ARN"] = queue_arn
    else:
        os.environ.pop("TASK_EVENTS_QUEUE_ARN", None)
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def published_names(zone_id: str) -> set[str]:
    # Read with the client the budget does not count: looking is not part of either mode's cost.
    route53 = boto3.client("route53", config=Config(user_agent_extra=NOT_COUNTED))
    pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return {r["Name"].rstrip(".") for page in pages for r in page["ResourceRecordSets"] if r["Type"] == "A"}


def per_event(scenario: Scenario) -> tuple[int, float]:
    app = load_app("bench_app_per_event", None)
    pending = deque(scenario.events)
    failed = 0
    lock = threading.Lock()

    def invocations():
        nonlocal failed
        while True:
            with lock:
                if not pending:
                    return
                event = pending.popleft()
            try:
                app.update_task_dns(event, None)
            except Exception:  # noqa: BLE001 - a failed invocation, counted; Lambda would retry it later
                with lock:
                    failed += 1

    seconds = timed_threads(invocations, PER_EVENT_CONCURRENCY)
    return failed, seconds


def buffered(scenario: Scenario) -> tuple[int, float]:
    app = load_app("bench_app_buffered", QUEUE_ARN)
    queue = deque(json.dumps(event) for event in scenario.events)
    failed = 0
    lock = threading.Lock()

    def consumer():
        nonlocal failed
        while True:
            batch, size, window_ends = [], 0, None
            while len(batch) < BUFFERED_BATCH_SIZE:
                time.sleep(RECEIVE_SECONDS)
                with lock:
                    chunk = [queue.popleft() for _ in range(min(10, len(queue)))]  # ReceiveMessage: 10
                if chunk:
                    window_ends = window_ends or time.monotonic() + BUFFERED_BATCHING_WINDOW_SECONDS
                    batch += chunk
                    size += sum(map(len, chunk))
                    if size >= LAMBDA_PAYLOAD_LIMIT * 0.9:
                        break
                elif window_ends is None:
                    return  # nothing left, nothing gathered
                elif time.monotonic() >= window_ends:
                    break
            try:
                app.process_task_events(as_sqs_event(batch, QUEUE_ARN), None)
            except Exception:  # noqa: BLE001 - a failed batch, counted; SQS would deliver it again
                with lock:
                    failed += 1

    seconds = timed_threads(consumer, BUFFERED_MAXIMUM_CONCURRENCY)
    return failed, seconds


def timed_threads(target, count: int) -> float:
    """Seconds until `count` threads running `target` have all finished."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def measure(mode, scenario: Scenario, change_bucket: TokenBucket) -> Outcome:
    with route53_budget(TokenBucket(burst=50, rate=10), changes=change_bucket) as budget:
        failed, seconds = mode(scenario)
    published = published_names(scenario.cluster.zone_id)
    return Outcome(seconds=seconds, requests=budget.requests, throttled=budget.throttled, changes=budget.changes,
                   changes_throttled=budget.changes_throttled, failed=failed,
                   missing=len(scenario.running - published), stale=len(scenario.stopped & published))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--stopped", type=float, default=0.1, help="share of tasks stopped before their events")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--change-burst", type=float, default=ROUTE53_CHANGE_BURST,
                        help="the change bucket's capacity, in record changes (embedded_stack/aws.py)")
    parser.add_argument("--change-rate", type=float, default=ROUTE53_CHANGE_RATE,
                        help="the change bucket's refill, in record changes a second")
    args = parser.parse_args()

    with running_moto_server() as aws, environment({**aws.environment(), "CLUSTER_ARN": CLUSTER_ARN,
                                                    "DOMAIN_PREFIX": "eu-west-2.browser.example.com"}):
        results = {}
        for name, mode in (("per-event", per_event), ("buffered", buffered)):
            scenario = build_scenario(aws, args.tasks, args.stopped, random.Random(args.seed))
            print(f"{name}: {args.tasks} tasks, {len(scenario.events)} events ...", file=sys.stderr, flush=True)
            results[name] = measure(mode, scenario, TokenBucket(burst=args.change_burst, rate=args.change_rate))

    per, buf = results["per-event"], results["buffered"]
    print(f"\n{args.tasks} tasks start at once, {args.stopped:.0%} stopped before their events are read; "
          f"Route53 behind a 50-burst, 10/s request bucket and a {args.change_burst:g}-change, "
          f"{args.change_rate:g}/s change bucket\n")
    print(f"{'':44}{'per-event':>12}{'buffered':>12}{'ratio':>10}")
    rows = [
        ("seconds until the events are handled", per.seconds, buf.seconds, "{:.1f}"),
        ("Route53 requests", per.requests, buf.requests, "{}"),
        ("throttled Route53 requests", per.throttled, buf.throttled, "{}"),
        ("Route53 record changes", per.changes, buf.changes, "{}"),
        ("throttled record changes", per.changes_throttled, buf.changes_throttled, "{}"),
        ("failed invocations (events or batches)", per.failed, buf.failed, "{}"),
        ("running tasks without a record then", per.missing, buf.missing, "{}"),
        ("stopped tasks with a record then", per.stale, buf.stale, "{}"),
    ]
    for label, a, b, fmt in rows:
        ratio = f"{a / b:.0f}x" if b and isinstance(a, int | float) and a >= b else ""
        print(f"{label:44}{fmt.format(a):>12}{fmt.format(b):>12}{ratio:>10}")


if __name__ == "__main__":
    main()
