"""reconcile_task_dns against the emulated account: what events missed is swept up."""

from chalice.test import Client

from chalicelib.task_records.ownership import ownership_marker
from embedded_stack.fargate import DOMAIN_PREFIX
from tests.helpers import hostname, marker


def owned(app_module, task, *addresses, ipv6=()):
    records = {(hostname(task), "A"): list(addresses), (hostname(task), "TXT"): marker()}
    if ipv6:
        records[(hostname(task), "AAAA")] = list(ipv6)
    return records


def test_missing_records_are_created_for_running_tasks(cluster, app_module):
    one = cluster.run_task(public_ip="203.0.113.1")
    two = cluster.run_task(public_ip="203.0.113.2", ipv6=["2001:db8::2"])
    cluster.run_task(public_ip=None)  # no public address: no record

    with Client(app_module.app) as client:
        response = client.lambda_.invoke("reconcile_task_dns", {})

    assert response.payload["created"] == 2 and response.payload["calls"] == 1
    assert cluster.zone_records() == {**owned(app_module, one, "203.0.113.1"),
                                      **owned(app_module, two, "203.0.113.2", ipv6=["2001:db8::2"])}


def test_wrong_addresses_are_fixed_and_records_of_gone_tasks_deleted(cluster, app_module):
    moved = cluster.run_task(public_ip="203.0.113.3")
    stopped = cluster.run_task(public_ip="203.0.113.4")
    for task in (moved, stopped):
        app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    cluster.stop_task(stopped)  # its STOPPED event is lost
    cluster.move_public_ip(moved, "203.0.113.5")

    result = app_module.reconcile_task_dns({}, None)

    assert (result["created"], result["updated"], result["deleted"]) == (0, 1, 1)
    assert cluster.zone_records() == owned(app_module, moved, "203.0.113.5")


def test_records_it_does_not_own_are_never_touched(cluster, app_module):
    running = cluster.run_task(public_ip="203.0.113.6")
    cluster.put_record(hostname(running), "A", ["198.51.100.6"])  # hand-made at a task's name
    cluster.put_record(f"www.{DOMAIN_PREFIX}", "A", ["198.51.100.7"])  # hand-made, no task
    cluster.put_record(f"0123abcd.{DOMAIN_PREFIX}", "TXT", [ownership_marker("ffffffffffffffff")])
    cluster.put_record(f"0123abcd.{DOMAIN_PREFIX}", "A", ["198.51.100.8"])  # another deployment's
    cluster.put_record("api.example.com", "A", ["198.51.100.9"])  # outside the prefix
    before = cluster.zone_records()

    result = app_module.reconcile_task_dns({}, None)

    assert result["skipped_foreign"] == 3 and result["calls"] == 0  # task name, www, 0123abcd
    assert cluster.zone_records() == before


def test_dry_run_returns_the_plan_and_changes_nothing(cluster, app_module, aws_calls):
    task = cluster.run_task(public_ip="203.0.113.10")

    result = app_module.reconcile_task_dns({"dry_run": True}, None)

    assert result["dry_run"] is True and result["plan"]["create"] == [hostname(task)]
    assert cluster.zone_records() == {}
    assert ("route53", "ChangeResourceRecordSets") not in aws_calls


def test_second_run_changes_nothing(cluster, app_module, aws_calls):
    cluster.run_task(public_ip="203.0.113.11")
    app_module.reconcile_task_dns({}, None)
    aws_calls.clear()

    result = app_module.reconcile_task_dns({}, None)

    assert result["calls"] == 0 and ("route53", "ChangeResourceRecordSets") not in aws_calls


def test_many_tasks_and_records_are_read_page_by_page(cluster, app_module, aws_calls):
    tasks = [cluster.run_task(public_ip=f"198.18.{i // 250}.{i % 250 + 1}") for i in range(160)]

    result = app_module.reconcile_task_dns({}, None)

    assert result["created"] == 160
    # 160 tasks: two DescribeTasks to read them, two more to re-check the tasks whose records were written.
    assert aws_calls.count(("ecs", "DescribeTasks")) == 4
    records = cluster.zone_records()
    assert {name for name, record_type in records if record_type == "A"} == {hostname(t) for t in tasks}

    # 320 owned record sets now: more than one page of ListResourceRecordSets (300). A reader that
    # stopped after the first page would "create" the rest again.
    aws_calls.clear()
    again = app_module.reconcile_task_dns({}, None)
    assert (again["created"], again["updated"], again["deleted"], again["calls"]) == (0, 0, 0, 0)
    assert aws_calls.count(("route53", "ListResourceRecordSets")) >= 2


def once_after(operation, action):
    """Runs action the first time the app's ECS client has made that call."""
    from chalicelib.shared.aws_clients import client

    def hook(**_):
        client("ecs").meta.events.unregister(f"after-call.ecs.{operation}", hook)
        action()

    client("ecs").meta.events.register(f"after-call.ecs.{operation}", hook)


def test_task_started_and_published_while_reconciling_keeps_its_record(cluster, app_module):
    started = []

    def start_and_publish():
        task = cluster.run_task(public_ip="203.0.113.40")
        app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
        started.append(task)

    once_after("ListTasks", start_and_publish)  # not in the task list, maybe in the zone read

    app_module.reconcile_task_dns({}, None)

    assert cluster.zone_records() == owned(app_module, started[0], "203.0.113.40")


def test_task_stopped_and_cleaned_up_while_reconciling_gets_no_record_back(cluster, app_module):
    task = cluster.run_task(public_ip="203.0.113.41")

    def stop_and_clean_up():
        cluster.stop_task(task)
        app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)

    once_after("DescribeTasks", stop_and_clean_up)  # described as running; gone before the write

    app_module.reconcile_task_dns({}, None)

    assert cluster.zone_records() == {}


def test_reads_only_its_own_names_however_many_others_sort_after_them(cluster, app_module, aws_calls):
    running = cluster.run_task(public_ip="203.0.113.70")
    gone = cluster.run_task(public_ip="203.0.113.71")
    app_module.update_task_dns(cluster.event(gone, "RUNNING"), None)
    cluster.stop_task(gone)
    # 900 names of other people listed after ours (three pages), and a sibling whose name only
    # shares our prefix's first characters ("-" sorts before ".").
    others = [f"host{i}.eu-west-3.browser.example.com" for i in range(450)]
    others += [f"www{i}.zz.example.com" for i in range(450)] + ["eu-west-2-canary.browser.example.com"]
    cluster.route53.change_resource_record_sets(HostedZoneId=cluster.zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": "192.0.2.1"}]}}
        for name in others]})
    aws_calls.clear()

    result = app_module.reconcile_task_dns({}, None)

    assert (result["created"], result["deleted"]) == (1, 1)
    assert aws_calls.count(("route53", "ListResourceRecordSets")) == 1
    records = cluster.zone_records()
    assert records[(hostname(running), "A")] == ["203.0.113.70"] and (hostname(gone), "A") not in records
    assert all((name, "A") in records for name in others)


def test_names_deeper_than_one_label_under_the_prefix_are_never_planned(cluster, app_module):
    # Another deployment of the same cluster with a nested prefix owns these with the same marker;
    # IAM refuses this deployment any write there, so planning one would fail every sweep.
    nested = f"0123456789abcdef0123456789abcdef.nested.{DOMAIN_PREFIX}"
    cluster.put_record(nested, "TXT", marker())
    cluster.put_record(nested, "A", ["198.51.100.20"])
    before = cluster.zone_records()

    result = app_module.reconcile_task_dns({}, None)

    assert cluster.zone_records() == before and result["deleted"] == 0
