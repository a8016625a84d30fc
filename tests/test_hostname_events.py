"""Hostname events: readiness checks from every writer, "Task Hostname Ready" / "Removed" out of
announce_hostnames, against the emulated account (SQS, EventBridge and its SQS target included).

app.py is loaded again with HOSTNAME_EVENTS_QUEUE_ARN set, in per-event and in buffered mode,
as Lambda would load it for such a stage.
"""

import json

import pytest

from chalicelib.shared.aws_clients import client
from chalicelib.task_records.announcer import MAX_CHECKS
from chalicelib.task_records.readiness import read_check
from embedded_stack.aws import ACCOUNT_ID, REGION
from embedded_stack.fargate import as_sqs_event
from embedded_stack.hostname_events import HostnameEvents
from embedded_stack.zone_soa import give_route53_default_soa
from tests.helpers import hooked, hostname, load_app

TASK_EVENTS_QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:task-subdomains-dev-task-events"


@pytest.fixture
def hostname_events(cluster, monkeypatch):
    give_route53_default_soa(cluster.route53, cluster.zone_id)  # as a zone in AWS has it
    events = HostnameEvents.create()
    monkeypatch.setenv("HOSTNAME_EVENTS_QUEUE_ARN", events.checks_queue_arn)
    return events


@pytest.fixture
def per_event_app(hostname_events, monkeypatch):
    monkeypatch.delenv("TASK_EVENTS_QUEUE_ARN", raising=False)
    return load_app("app_hostname_events_per_event")


@pytest.fixture
def buffered_app(hostname_events, monkeypatch):
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", TASK_EVENTS_QUEUE_ARN)
    return load_app("app_hostname_events_buffered")


def by_type(events):
    found = {}
    for event in events:
        found.setdefault(event["detail-type"], []).append(event["detail"])
    return found


def test_the_function_exists_only_with_the_queue_variable(cluster, monkeypatch):
    monkeypatch.delenv("HOSTNAME_EVENTS_QUEUE_ARN", raising=False)
    assert "announce_hostnames" not in load_app("app_without_hostname_events").app.handler_map


def test_a_published_task_is_announced_ready_once_route53_is_in_sync_and_removed_when_it_stops(
        cluster, per_event_app, hostname_events):
    task = cluster.run_task(public_ip="203.0.113.50")
    written = per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)
    assert hostname_events.received() == []  # nothing before announce_hostnames has looked

    hostname_events.announce(per_event_app.announce_hostnames)
    (ready,) = by_type(hostname_events.received())["Task Hostname Ready"]

    assert ready["hostname"] == hostname(task) and ready["taskArn"] == task["taskArn"]
    assert ready["taskId"] == task["taskArn"].rsplit("/", 1)[1] and ready["clusterArn"] == cluster.cluster_arn
    assert ready["addresses"] == {"ipv4": ["203.0.113.50"], "ipv6": []}
    assert ready["changeId"] == written["change_ids"][0] and ready["insync"] is True
    assert ready["writtenAt"] <= ready["readyAt"] and ready["id"]
    assert ready["negativeCacheSeconds"] == 900  # Route53's default SOA: min(TTL 900, minimum 86400)

    cluster.stop_task(task)
    per_event_app.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)
    hostname_events.announce(per_event_app.announce_hostnames)
    (removed,) = by_type(hostname_events.received())["Task Hostname Removed"]
    assert removed["hostname"] == hostname(task) and removed["addresses"]["ipv4"] == ["203.0.113.50"]


def test_a_buffered_batch_leaves_one_check_per_change_batch_and_one_get_change_for_it(
        cluster, buffered_app, hostname_events, aws_calls):
    tasks = [cluster.run_task(public_ip=f"203.0.113.{60 + i}") for i in range(12)]
    buffered_app.process_task_events(as_sqs_event([cluster.event(t, "PENDING") for t in tasks],
                                                  TASK_EVENTS_QUEUE_ARN), None)
    aws_calls.clear()

    (result,) = hostname_events.announce(buffered_app.announce_hostnames)

    ready = by_type(hostname_events.received())["Task Hostname Ready"]
    assert sorted(r["hostname"] for r in ready) == sorted(hostname(t) for t in tasks)
    assert len({r["changeId"] for r in ready}) == 1
    route53 = [op for service, op in aws_calls if service == "route53"]
    assert route53.count("GetChange") == 1 and result["get_change"] == 1
    assert result["announced"] == 12

    for task in tasks[:3]:
        cluster.stop_task(task)
    buffered_app.process_task_events(as_sqs_event([cluster.event(t, "STOPPED", "STOPPED") for t in tasks[:3]],
                                                  TASK_EVENTS_QUEUE_ARN), None)
    hostname_events.announce(buffered_app.announce_hostnames)
    removed = by_type(hostname_events.received())["Task Hostname Removed"]
    assert sorted(r["hostname"] for r in removed) == sorted(hostname(t) for t in tasks[:3])


def test_the_reconciler_leaves_checks_too(cluster, per_event_app, hostname_events):
    task = cluster.run_task(public_ip="203.0.113.70")  # its event was lost
    per_event_app.reconcile_task_dns({}, None)
    hostname_events.announce(per_event_app.announce_hostnames)
    assert [r["hostname"] for r in by_type(hostname_events.received())["Task Hostname Ready"]] == [hostname(task)]


def test_a_change_not_yet_in_sync_is_looked_at_again_later_not_waited_for(cluster, per_event_app, hostname_events):
    task = cluster.run_task(public_ip="203.0.113.71")
    per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)

    def pending(parsed, **_):
        parsed["ChangeInfo"]["Status"] = "PENDING"

    with hooked(client("route53"), "after-call.route53.GetChange", pending, first=False):
        (result,) = hostname_events.announce(per_event_app.announce_hostnames)

    assert result["later"] == 1 and hostname_events.received() == []
    assert hostname_events.checks_waiting() == {"visible": 0, "delayed": 1}


def test_past_the_bound_ready_goes_out_marked_not_in_sync_with_a_warning(cluster, per_event_app, hostname_events,
                                                                        logs):
    task = cluster.run_task(public_ip="203.0.113.72")
    per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)
    (message,) = hostname_events.sqs.receive_message(QueueUrl=hostname_events.checks_url)["Messages"]
    check = read_check(message["Body"])
    for _ in range(MAX_CHECKS - 1):
        check = check.again()

    def pending(parsed, **_):
        parsed["ChangeInfo"]["Status"] = "PENDING"

    with hooked(client("route53"), "after-call.route53.GetChange", pending, first=False):
        per_event_app.announce_hostnames(as_sqs_event([check.body()], hostname_events.checks_queue_arn), None)

    (ready,) = by_type(hostname_events.received())["Task Hostname Ready"]
    assert ready["insync"] is False
    assert any(line["level"] == "WARNING" and "not in sync" in line["message"] for line in logs)


def test_no_ready_for_a_task_whose_records_have_gone_in_the_same_batch_or_since(cluster, per_event_app,
                                                                              hostname_events):
    quick, slow = cluster.run_task(public_ip="203.0.113.73"), cluster.run_task(public_ip="203.0.113.74")
    for task in (quick, slow):
        per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)
    cluster.stop_task(quick)
    per_event_app.update_task_dns(cluster.event(quick, "STOPPED", "STOPPED"), None)
    cluster.stop_task(slow)  # stopped, its stop event not handled yet

    hostname_events.announce(per_event_app.announce_hostnames)

    events = by_type(hostname_events.received())
    assert "Task Hostname Ready" not in events
    assert [r["hostname"] for r in events["Task Hostname Removed"]] == [hostname(quick)]


def test_a_check_delivered_twice_announces_the_same_event_ids(cluster, per_event_app, hostname_events):
    task = cluster.run_task(public_ip="203.0.113.75")
    per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)
    (message,) = hostname_events.sqs.receive_message(QueueUrl=hostname_events.checks_url)["Messages"]

    for _ in range(2):
        per_event_app.announce_hostnames(as_sqs_event([message["Body"]], hostname_events.checks_queue_arn), None)

    first, second = by_type(hostname_events.received())["Task Hostname Ready"]
    assert first["id"] == second["id"] and first["changeId"] == second["changeId"]


@pytest.mark.parametrize("body", ["not json", "[" * 5000 + "]" * 5000, json.dumps({"version": 1}),
                                  json.dumps({"version": 99, "changeId": "x"}), "\ud800"])
def test_a_check_that_cannot_be_read_is_logged_and_dropped_without_failing_its_batch(
        cluster, per_event_app, hostname_events, logs, body):
    task = cluster.run_task(public_ip="203.0.113.76")
    per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)
    (message,) = hostname_events.sqs.receive_message(QueueUrl=hostname_events.checks_url)["Messages"]

    result = per_event_app.announce_hostnames(
        as_sqs_event([body, message["Body"]], hostname_events.checks_queue_arn), None)

    assert result["announced"] == 1
    assert any(line["message"].startswith("Readiness check dropped") for line in logs)


def test_without_the_queue_variable_the_writers_send_nothing(cluster, app_module, aws_calls, monkeypatch):
    monkeypatch.delenv("HOSTNAME_EVENTS_QUEUE_ARN", raising=False)
    task = cluster.run_task(public_ip="203.0.113.77")
    app_module.update_task_dns(cluster.event(task, "PENDING"), None)
    assert not [call for call in aws_calls if call[0] in ("sqs", "events")]
    assert "announce_hostnames" not in app_module.app.handler_map


def test_a_change_whose_answer_was_lost_still_counts_and_is_announced_not_in_sync(
        cluster, per_event_app, hostname_events):
    from botocore.httpsession import URLLib3Session

    from tests.fault_injection import error_response

    task = cluster.run_task(public_ip="203.0.113.79")
    lost = []

    def takes_effect_but_the_answer_is_lost(request, **_):
        if lost:
            return None  # botocore's retry goes out as usual, and finds what the first attempt made
        lost.append(URLLib3Session().send(request))
        return error_response(request, 500, "InternalError")

    with hooked(client("route53"), "before-send.route53.ChangeResourceRecordSets",
                takes_effect_but_the_answer_is_lost):
        written = per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)

    assert lost and lost[0].status_code == 200  # Route53 did apply the first attempt
    assert written["outcome"] == "created" and written["change_ids"] == []  # counted, with no id to ask about
    (message,) = hostname_events.sqs.receive_message(QueueUrl=hostname_events.checks_url)["Messages"]
    check = read_check(message["Body"])
    assert check.change_id is None
    per_event_app.announce_hostnames(as_sqs_event([check.again().body()], hostname_events.checks_queue_arn), None)
    (ready,) = by_type(hostname_events.received())["Task Hostname Ready"]
    assert ready["hostname"] == hostname(task) and ready["insync"] is False and ready["changeId"] is None


def test_a_writer_failing_after_its_change_was_accepted_still_leaves_the_check(cluster, per_event_app,
                                                                              hostname_events):
    from botocore.exceptions import ClientError

    from tests.fault_injection import failing

    task = cluster.run_task(public_ip="203.0.113.80")
    describes = []

    def the_look_after_the_write_fails(request, **_):
        describes.append(request)
        return throttled(request) if len(describes) > 1 else None

    throttled = failing(400, "ThrottlingException", xml_root="")
    with (hooked(client("ecs"), "before-send.ecs.DescribeTasks", the_look_after_the_write_fails),
          pytest.raises(ClientError)):
        per_event_app.update_task_dns(cluster.event(task, "PENDING"), None)  # Lambda will retry it

    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.80"]
    hostname_events.announce(per_event_app.announce_hostnames)
    assert [r["hostname"] for r in by_type(hostname_events.received())["Task Hostname Ready"]] == [hostname(task)]
