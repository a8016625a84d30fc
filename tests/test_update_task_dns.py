"""update_task_dns against the emulated AWS account: one test per rule of issue #2."""

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.task_records.ownership import ownership_marker
from embedded_stack.fargate import DOMAIN_PREFIX
from tests.fault_injection import failing
from tests.helpers import hooked, hostname, load_app, marker


def changes_made(aws_calls):
    return [call for call in aws_calls if call == ("route53", "ChangeResourceRecordSets")]


def test_running_event_through_chalice_publishes_a_record_and_ownership_marker(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.10")

    with Client(app_module.app) as client:
        client.lambda_.invoke("update_task_dns", cluster.event(task, "RUNNING"))

    assert cluster.zone_records() == {
        (hostname(task), "A"): ["203.0.113.10"],
        (hostname(task), "TXT"): marker(),
    }
    a_record = cluster.route53.list_resource_record_sets(
        HostedZoneId=cluster.zone_id, StartRecordName=hostname(task), StartRecordType="A", MaxItems="1"
    )["ResourceRecordSets"][0]
    assert a_record["TTL"] == 60


def test_event_rule_filters_on_the_configured_cluster(app_module, cluster):
    (source,) = [s for s in app_module.app.event_sources if s.name == "update_task_dns"]
    assert source.event_pattern["source"] == ["aws.ecs"]
    assert source.event_pattern["detail-type"] == ["ECS Task State Change"]
    assert source.event_pattern["detail"]["clusterArn"] == [cluster.cluster_arn]
    assert set(source.event_pattern["detail"]) == {"clusterArn", "$or"}  # the status filter, tested below


def test_pending_event_publishes_before_the_task_runs(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.11")

    outcome = app_module.update_task_dns(cluster.event(task, "PENDING"), None)

    assert outcome["outcome"] == "created"
    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.11"]


def test_provisioning_event_makes_no_aws_call(cluster, app_module, aws_calls):
    task = cluster.run_task(public_ip="203.0.113.12")

    app_module.update_task_dns(cluster.event(task, "PROVISIONING"), None)

    assert aws_calls == []
    assert cluster.zone_records() == {}


def test_address_already_published_is_not_written_again(cluster, app_module, aws_calls):
    task = cluster.run_task(public_ip="203.0.113.13")
    for status in ("PENDING", "ACTIVATING", "RUNNING", "RUNNING"):
        app_module.update_task_dns(cluster.event(task, status), None)

    assert len(changes_made(aws_calls)) == 1
    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.13"]


def test_eni_is_found_by_type_when_an_sdi_attachment_comes_first(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.14")
    sdi = {"id": "a0c1a2b3-0000-4000-8000-000000000001", "type": "sdi", "status": "ATTACHED",
           "details": [{"name": "networkInterfaceId", "value": "eni-0000000000000dead"}]}

    app_module.update_task_dns(cluster.event(task, "RUNNING", extra_attachments=[sdi]), None)

    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.14"]


@pytest.mark.parametrize("long_arns", [False, True], ids=["task/<uuid>", "task/<cluster>/<id>"])
def test_both_task_arn_formats_give_the_task_id_hostname(cluster, app_module, long_arns):
    cluster.use_long_task_arns(long_arns)
    task = cluster.run_task(public_ip="203.0.113.15")
    assert task["taskArn"].count("/") == (2 if long_arns else 1)

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    task_id = task["taskArn"].rsplit("/", 1)[1]
    assert cluster.zone_records()[(f"{task_id}.{DOMAIN_PREFIX}", "A")] == ["203.0.113.15"]


def test_ipv6_interface_gets_a_and_aaaa_in_one_change(cluster, app_module, aws_calls):
    task = cluster.run_task(public_ip="203.0.113.16", ipv6=["2001:db8::16"])

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert len(changes_made(aws_calls)) == 1
    records = cluster.zone_records()
    assert records[(hostname(task), "A")] == ["203.0.113.16"]
    assert records[(hostname(task), "AAAA")] == ["2001:db8::16"]


def test_event_for_another_cluster_changes_nothing(cluster, app_module, aws_calls, logs):
    task = cluster.run_task(public_ip="203.0.113.17")
    event = cluster.event(task, "RUNNING")
    event["detail"]["clusterArn"] = cluster.cluster_arn.replace("user-sessions", "someone-else")

    app_module.update_task_dns(event, None)

    assert cluster.zone_records() == {}
    assert aws_calls == []
    assert any(line["message"] == "Event ignored" and line["reason"] == "event is for another cluster"
               for line in logs)


def test_event_of_another_type_changes_nothing(cluster, app_module, aws_calls, logs):
    task = cluster.run_task(public_ip="203.0.113.18")
    event = cluster.event(task, "RUNNING")
    event["detail-type"] = "ECS Container Instance State Change"

    app_module.update_task_dns(event, None)

    assert cluster.zone_records() == {}
    assert aws_calls == []
    assert any("not an ECS Task State Change" in line.get("reason", "") for line in logs)


@pytest.mark.parametrize("last_status, desired_status", [
    ("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
    ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED"),
])
def test_stopping_task_loses_its_records(cluster, app_module, last_status, desired_status):
    task = cluster.run_task(public_ip="203.0.113.19", ipv6=["2001:db8::19"])
    other = cluster.run_task(public_ip="203.0.113.20")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    app_module.update_task_dns(cluster.event(other, "RUNNING"), None)

    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, last_status, desired_status), None)

    assert cluster.zone_records() == {
        (hostname(other), "A"): ["203.0.113.20"],
        (hostname(other), "TXT"): marker(),
    }


def test_stale_running_event_after_stopped_does_not_recreate_the_record(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.21")
    running = cluster.event(task, "RUNNING")
    app_module.update_task_dns(running, None)
    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)

    outcome = app_module.update_task_dns(running, None)  # redelivered late

    assert outcome["outcome"] == "absent"
    assert cluster.zone_records() == {}


def test_running_event_of_a_task_whose_stop_event_was_lost_removes_its_record(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.22")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.stop_task(task)  # the STOPPED event never arrives

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert cluster.zone_records() == {}


def test_hand_made_record_at_a_task_name_is_never_touched(cluster, app_module, logs):
    task = cluster.run_task(public_ip="203.0.113.23")
    cluster.put_record(hostname(task), "A", ["198.51.100.1"])
    cluster.put_record(f"www.{DOMAIN_PREFIX}", "A", ["198.51.100.2"])
    before = cluster.zone_records()

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    assert cluster.zone_records() == before
    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)

    assert cluster.zone_records() == before
    assert any("not own" in line["message"] or "not ours" in line["message"] for line in logs)


def test_records_of_another_deployment_sharing_the_prefix_are_never_touched(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.24")
    cluster.put_record(hostname(task), "TXT", [ownership_marker("0123456789abcdef")])
    cluster.put_record(hostname(task), "A", ["198.51.100.3"])
    before = cluster.zone_records()

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)

    assert cluster.zone_records() == before


def test_changed_addresses_are_updated_and_a_dropped_ipv6_is_deleted(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.25", ipv6=["2001:db8::25"])
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.ec2.unassign_ipv6_addresses(NetworkInterfaceId=cluster.eni_id(task), Ipv6Addresses=["2001:db8::25"])
    cluster.move_public_ip(task, "203.0.113.26")

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert cluster.zone_records() == {
        (hostname(task), "A"): ["203.0.113.26"],
        (hostname(task), "TXT"): marker(),
    }


def test_task_without_public_ip_publishes_nothing(cluster, app_module, logs):
    task = cluster.run_task(public_ip=None)

    outcome = app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert outcome["outcome"] == "no-public-ip"
    assert cluster.zone_records() == {}
    assert any("no public IP" in line["message"] for line in logs)


def test_interface_already_gone_publishes_nothing(cluster, app_module):
    task = cluster.run_task(public_ip=None)
    event = cluster.event(task, "RUNNING")
    cluster.ec2.delete_network_interface(NetworkInterfaceId=cluster.eni_id(task))

    outcome = app_module.update_task_dns(event, None)

    assert outcome["outcome"] == "no-interface"
    assert cluster.zone_records() == {}


def _without_detail(event):
    del event["detail"]


def _detail_is_a_list(event):
    event["detail"] = [event["detail"]]


def _cluster_arn_is_a_number(event):
    event["detail"]["clusterArn"] = 42


def _no_task_arn(event):
    del event["detail"]["taskArn"]


def _task_id_with_dots(event):
    detail = event["detail"]
    detail["taskArn"] = detail["taskArn"].rsplit("/", 1)[0] + "/evil.example.org"


def _no_attachments(event):
    del event["detail"]["attachments"]


def _attachments_not_a_list(event):
    event["detail"]["attachments"] = {"type": "eni"}


def _status_is_a_list(event):
    event["detail"]["lastStatus"] = ["RUNNING"]


def _not_an_object(event):
    event.clear()


@pytest.mark.parametrize("break_event", [
    _without_detail, _detail_is_a_list, _cluster_arn_is_a_number, _no_task_arn, _task_id_with_dots,
    _no_attachments, _attachments_not_a_list, _status_is_a_list, _not_an_object,
])
def test_malformed_event_is_logged_and_dropped(cluster, app_module, logs, break_event):
    task = cluster.run_task(public_ip="203.0.113.27")
    event = cluster.event(task, "RUNNING")
    break_event(event)

    outcome = app_module.update_task_dns(event, None)

    assert outcome["outcome"] in ("malformed", "ignored")
    assert cluster.zone_records() == {}
    assert any(line["message"].startswith("Event ignored") for line in logs)


def _throttle(code, times):
    return failing(400, code, times=times)


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_transient_route53_errors_are_retried(cluster, app_module, code):
    from chalicelib.shared.aws_clients import client

    task = cluster.run_task(public_ip="203.0.113.28")
    hook = _throttle(code, times=2)
    with hooked(client("route53"), "before-send.route53", hook):
        app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert hook.answered == 2
    assert cluster.zone_records()[(hostname(task), "A")] == ["203.0.113.28"]


def test_persistent_throttling_is_raised_for_lambda_to_retry(cluster, app_module):
    from chalicelib.shared.aws_clients import TOTAL_MAX_ATTEMPTS, client

    task = cluster.run_task(public_ip="203.0.113.29")
    hook = _throttle("Throttling", times=10**6)
    with hooked(client("route53"), "before-send.route53", hook), pytest.raises(ClientError) as raised:
        app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert raised.value.response["Error"]["Code"] == "Throttling"
    assert hook.answered == TOTAL_MAX_ATTEMPTS
    assert cluster.zone_records() == {}


@pytest.mark.parametrize("disguise", [
    lambda arn: arn.upper().replace("ARN:AWS:ECS:EU-WEST-2", "arn:aws:ecs:eu-west-2"),
    lambda arn: arn.replace(":123456789012:", ":999999999999:"),
], ids=["task-id-in-capitals", "task-arn-of-another-account"])
def test_crafted_event_naming_a_live_task_cannot_remove_its_records(cluster, app_module, disguise):
    cluster.use_long_task_arns(True)
    task = cluster.run_task(public_ip="203.0.113.30")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    published = cluster.zone_records()
    crafted = cluster.event(task, "RUNNING")
    crafted["detail"]["taskArn"] = disguise(task["taskArn"])

    outcome = app_module.update_task_dns(crafted, None)

    assert outcome["outcome"] == "malformed"
    assert cluster.zone_records() == published


@pytest.mark.parametrize("old_format", [True, False], ids=["task/<id>", "task/<cluster>/<id>"])
def test_a_stop_event_for_a_live_task_keeps_its_records(cluster, app_module, old_format):
    # An event only says which task to look at: ECS, asked, says it runs (a forged event, or one
    # in the old format, which does not even name its cluster).
    cluster.use_long_task_arns(True)
    task = cluster.run_task(public_ip="203.0.113.31")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    published = cluster.zone_records()
    crafted = cluster.event(task, "STOPPED", "STOPPED")
    scope, task_id = task["taskArn"].split(":task/")[0], task["taskArn"].rsplit("/", 1)[1]
    if old_format:
        crafted["detail"]["taskArn"] = f"{scope}:task/{task_id}"

    outcome = app_module.update_task_dns(crafted, None)

    assert outcome["outcome"] == "unchanged"
    assert cluster.zone_records() == published


LIFECYCLE = [("PROVISIONING", "RUNNING"), ("PENDING", "RUNNING"), ("ACTIVATING", "RUNNING"), ("RUNNING", "RUNNING"),
             ("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
             ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED")]


def test_a_whole_task_lifecycle_through_the_rule_costs_at_most_six_route53_requests(cluster, app_module, aws_calls):
    import json

    from moto.events.models import EventPattern

    from chalicelib.task_records.events import task_event_pattern

    rule = EventPattern.load(json.dumps(task_event_pattern(cluster.cluster_arn)))  # EventBridge's own matcher
    task = cluster.run_task(public_ip="203.0.113.130")
    delivered = []
    for last_status, desired_status in LIFECYCLE:
        if (last_status, desired_status) == ("RUNNING", "STOPPED"):
            cluster.stop_task(task)
        event = cluster.event(task, last_status, desired_status)
        if rule.matches_event(event):
            app_module.update_task_dns(event, None)
            delivered.append((last_status, desired_status))
            published = (hostname(task), "A") in cluster.zone_records()
            assert published == (desired_status == "RUNNING")  # from PENDING on; gone at the first stop

    assert delivered == [("PENDING", "RUNNING"), ("RUNNING", "RUNNING"), ("RUNNING", "STOPPED"), ("STOPPED", "STOPPED")]
    assert len([call for call in aws_calls if call[0] == "route53"]) <= 6


def test_a_task_whose_container_exits_loses_its_name_at_its_first_stop_event(cluster, app_module):
    import json

    from moto.events.models import EventPattern

    from chalicelib.task_records.events import task_event_pattern

    rule = EventPattern.load(json.dumps(task_event_pattern(cluster.cluster_arn)))
    task = cluster.run_task(public_ip="203.0.113.131")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.stop_task(task)
    # ECS can report the stop before it sets desiredStatus.
    first_stop = cluster.event(task, "DEACTIVATING", "RUNNING")

    assert rule.matches_event(first_stop)
    app_module.update_task_dns(first_stop, None)
    assert (hostname(task), "A") not in cluster.zone_records()


def test_an_event_field_that_is_not_encodable_text_still_gets_its_log_line(cluster, app_module, logs):
    task = cluster.run_task(public_ip="203.0.113.32")
    event = cluster.event(task, "RUNNING")
    event["source"] = "\ud800"  # a lone surrogate: valid in a Python str, not in UTF-8

    outcome = app_module.update_task_dns(event, None)

    assert outcome["outcome"] == "ignored"
    (line,) = [line for line in logs if line["message"] == "Event ignored"]
    assert line["source"] == "\\ud800"


def test_an_update_racing_the_removal_of_its_task_never_leaves_an_unowned_record(cluster, app_module):
    from chalicelib.shared.aws_clients import client

    task = cluster.run_task(public_ip="203.0.113.33")
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.move_public_ip(task, "203.0.113.34")  # our next write is an update of a name we own
    stopped = []

    def the_task_stops_and_its_stop_event_is_handled_first(**_):
        if not stopped:
            stopped.append(True)
            cluster.stop_task(task)
            load_app("app_stop_writer").update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)

    with hooked(client("route53"), "before-call.route53.ChangeResourceRecordSets",
                the_task_stops_and_its_stop_event_is_handled_first):
        app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert stopped and cluster.zone_records() == {}
