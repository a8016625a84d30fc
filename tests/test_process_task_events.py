"""Buffered mode: process_task_events against the emulated account.

app.py is loaded a second time, as Lambda would load it for a stage that sets
TASK_EVENTS_QUEUE_ARN, under its own module name so the per-event app of the other tests stays
as it is.
"""

import json

import pytest
from botocore.exceptions import ClientError
from chalice.app import CloudWatchEventConfig, SQSEventConfig

from embedded_stack.aws import ACCOUNT_ID, REGION, TokenBucket, route53_budget
from embedded_stack.fargate import as_sqs_event
from tests.fault_injection import failing
from tests.helpers import hooked, hostname, load_app, marker

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:task-subdomains-dev-task-events"


@pytest.fixture
def buffered_app(cluster, monkeypatch):
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", QUEUE_ARN)
    return load_app("app_buffered")


def deliver(buffered_app, events):
    return buffered_app.process_task_events(as_sqs_event(events, QUEUE_ARN), None)


def route53_requests(aws_calls):
    return [operation for service, operation in aws_calls if service == "route53"]


def test_queue_setting_registers_the_batch_handler_instead_of_the_per_event_rule(buffered_app):
    handlers = buffered_app.app.handler_map
    assert "process_task_events" in handlers and "update_task_dns" not in handlers
    (config,) = [source for source in buffered_app.app.event_sources if isinstance(source, SQSEventConfig)]
    assert not [source for source in buffered_app.app.event_sources if isinstance(source, CloudWatchEventConfig)]
    assert (config.name, config.queue_arn, config.maximum_concurrency) == ("process_task_events", QUEUE_ARN, 2)
    assert config.batch_size > 10 and config.maximum_batching_window_in_seconds >= 1


def test_without_the_queue_setting_events_come_by_the_per_event_rule(cluster, monkeypatch):
    monkeypatch.delenv("TASK_EVENTS_QUEUE_ARN", raising=False)
    per_event = load_app("app_per_event")
    assert "update_task_dns" in per_event.app.handler_map
    assert "process_task_events" not in per_event.app.handler_map


def test_a_batch_is_coalesced_per_task_and_written_in_one_change(cluster, buffered_app, aws_calls):
    tasks = [cluster.run_task(public_ip=f"203.0.113.{80 + i}") for i in range(3)]
    events = [cluster.event(task, status) for task in tasks for status in ("PENDING", "RUNNING", "RUNNING")]

    result = deliver(buffered_app, events[::-1])

    assert (result["events"], result["tasks"], result["created"]) == (9, 3, 3)
    assert route53_requests(aws_calls) == ["ListResourceRecordSets", "ChangeResourceRecordSets"]
    records = cluster.zone_records()
    for i, task in enumerate(tasks):
        assert records[(hostname(task), "A")] == [f"203.0.113.{80 + i}"]
        assert records[(hostname(task), "TXT")] == marker()


def test_stale_events_never_publish_and_ecs_decides_over_the_event(cluster, buffered_app):
    stopped = cluster.run_task(public_ip="203.0.113.90")
    running = cluster.run_task(public_ip="203.0.113.91")
    deliver(buffered_app, [cluster.event(running, "RUNNING")])
    cluster.stop_task(stopped)

    # A late RUNNING event of a task that has stopped, and a forged stop event of one that runs.
    result = deliver(buffered_app, [cluster.event(stopped, "RUNNING"),
                                    cluster.event(running, "STOPPED", "STOPPED")])

    assert result["created"] == 0 and result["deleted"] == 0
    records = cluster.zone_records()
    assert (hostname(stopped), "A") not in records
    assert records[(hostname(running), "A")] == ["203.0.113.91"]


def test_stopped_tasks_lose_their_records(cluster, buffered_app):
    task = cluster.run_task(public_ip="203.0.113.92")
    deliver(buffered_app, [cluster.event(task, "PENDING")])
    cluster.stop_task(task)

    result = deliver(buffered_app, [cluster.event(task, "STOPPED", "STOPPED")])

    assert result["deleted"] == 1 and cluster.zone_records() == {}


def test_a_batch_delivered_again_converges_to_the_same_zone(cluster, buffered_app, aws_calls):
    tasks = [cluster.run_task(public_ip=f"203.0.113.{100 + i}") for i in range(5)]
    batch = [cluster.event(task, "RUNNING") for task in tasks]
    deliver(buffered_app, batch)
    zone = cluster.zone_records()
    aws_calls.clear()

    again = deliver(buffered_app, batch)

    assert cluster.zone_records() == zone
    assert (again["created"], again["updated"], again["deleted"], again["calls"]) == (0, 0, 0, 0)
    assert "ChangeResourceRecordSets" not in route53_requests(aws_calls)


def test_malformed_records_are_logged_and_dropped_without_failing_the_batch(cluster, buffered_app, logs):
    task = cluster.run_task(public_ip="203.0.113.110")
    foreign = {**cluster.event(task, "RUNNING")}
    foreign["detail"] = {**foreign["detail"], "clusterArn": "arn:aws:ecs:eu-west-2:123456789012:cluster/other"}
    malformed = ["not json {", json.dumps([1, 2])]
    not_ours = [json.dumps({"detail-type": "ECS Task State Change"}), foreign]

    result = deliver(buffered_app, [*malformed, *not_ours, cluster.event(task, "RUNNING")])

    assert (result["tasks"], result["created"], result["malformed"], result["ignored"]) == (1, 1, 2, 2)
    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.110"]
    assert sum(line["message"] == "Event ignored" for line in logs) == 4


def test_throttling_is_retried_within_the_batch(cluster, buffered_app):
    from chalicelib.shared.aws_clients import client

    task = cluster.run_task(public_ip="203.0.113.111")
    throttled = failing(400, "Throttling", times=2)
    with hooked(client("route53"), "before-send.route53", throttled):
        deliver(buffered_app, [cluster.event(task, "RUNNING")])

    assert throttled.answered == 2
    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.111"]


def test_a_name_written_by_the_other_consumer_meanwhile_is_read_again_with_its_batch(cluster, buffered_app, aws_calls):
    from chalicelib.shared.aws_clients import client

    tasks = [cluster.run_task(public_ip=f"203.0.113.{120 + i}") for i in range(4)]
    events = [cluster.event(task, "RUNNING") for task in tasks]
    other_consumer_done = []

    def other_consumer_first(**_):
        # Between our read and our write, the other consumer publishes one of the same tasks.
        if not other_consumer_done:
            other_consumer_done.append(True)
            load_app("app_other_consumer").process_task_events(as_sqs_event(events[:1], QUEUE_ARN), None)

    with hooked(client("route53"), "before-call.route53.ChangeResourceRecordSets", other_consumer_first):
        result = deliver(buffered_app, events)

    assert result["reads"] == 2 and result["created"] == 3  # the other consumer created the first
    records = cluster.zone_records()
    assert all(records[(hostname(task), "TXT")] == marker() for task in tasks)
    assert route53_requests(aws_calls).count("ChangeResourceRecordSets") == 3  # theirs, our rejected, ours


def burst(cluster, count):
    """`count` tasks started at once, and their PENDING and RUNNING events, RUNNING first."""
    tasks = [cluster.run_task(public_ip=f"198.18.0.{i + 1}") for i in range(count)]
    events = [cluster.event(task, "RUNNING") for task in tasks] + [cluster.event(task, "PENDING") for task in tasks]
    return tasks, events


def test_a_burst_in_two_batches_stays_within_route53s_account_budget(cluster, buffered_app):
    tasks, events = burst(cluster, 60)
    # No refill: whatever is spent beyond the 50-request burst is throttled.
    with route53_budget(TokenBucket(burst=50, rate=0)) as budget:
        deliver(buffered_app, events[::2])
        deliver(buffered_app, events[1::2])

    assert budget.throttled == 0 and budget.requests <= 6
    records = cluster.zone_records()
    assert all((hostname(task), "A") in records for task in tasks)


def test_the_same_burst_one_event_at_a_time_runs_out_of_the_budget(cluster, app_module):
    _tasks, events = burst(cluster, 60)
    failed = 0
    with route53_budget(TokenBucket(burst=50, rate=0)) as budget:
        for event in events:
            try:
                app_module.update_task_dns(event, None)
            except ClientError as error:
                assert error.response["Error"]["Code"] == "Throttling"
                failed += 1

    assert budget.requests > 50 and budget.throttled > 0 and failed > 0


@pytest.mark.parametrize("body", [
    "[" * 5000 + "]" * 5000,                        # past the JSON parser's recursion depth
    '{"source": "aws.ecs", "detail": "\\ud800' ,     # invalid text: an unfinished lone surrogate
    json.dumps({"padding": "x" * (256 * 1024)}),    # larger than SQS allows
])
def test_a_body_that_cannot_be_parsed_is_dropped_with_its_message_id_and_the_batch_goes_on(
        cluster, buffered_app, logs, body):
    task = cluster.run_task(public_ip="203.0.113.112")
    sqs_event = as_sqs_event([body, cluster.event(task, "RUNNING")], QUEUE_ARN)

    result = buffered_app.process_task_events(sqs_event, None)

    assert (result["malformed"], result["created"]) == (1, 1)
    bad_id = sqs_event["Records"][0]["messageId"]
    assert any(line["message"] == "Event ignored" and line.get("message_id") == bad_id for line in logs)


def test_results_count_what_the_zone_holds_after_the_second_look(cluster, buffered_app):
    from chalicelib.shared.aws_clients import client

    tasks = [cluster.run_task(public_ip=f"203.0.113.{130 + i}") for i in range(5)]
    stopped = []

    def one_stops_while_we_write(**_):
        # Its stop event comes after our batch: only the look after the write can catch it.
        if not stopped:
            stopped.append(tasks[0])
            cluster.stop_task(tasks[0])

    with hooked(client("route53"), "after-call.route53.ChangeResourceRecordSets", one_stops_while_we_write,
                first=False):
        result = deliver(buffered_app, [cluster.event(task, "PENDING") for task in tasks])

    assert (result["created"], result["deleted"]) == (4, 0)
    records = cluster.zone_records()
    assert (hostname(tasks[0]), "A") not in records and (hostname(tasks[0]), "TXT") not in records
    assert all((hostname(task), "A") in records for task in tasks[1:])


def test_a_running_task_whose_eni_ec2_does_not_return_yet_keeps_its_records(cluster, buffered_app):
    from chalicelib.shared.aws_clients import client

    task = cluster.run_task(public_ip="203.0.113.140")
    deliver(buffered_app, [cluster.event(task, "PENDING")])
    published = cluster.zone_records()

    def eventually_consistent(parsed, **_):
        parsed["NetworkInterfaces"] = []  # EC2 has not caught up with the ENI

    with hooked(client("ec2"), "after-call.ec2.DescribeNetworkInterfaces", eventually_consistent, first=False):
        result = deliver(buffered_app, [cluster.event(task, "RUNNING")])

    assert result["deleted"] == 0 and cluster.zone_records() == published
