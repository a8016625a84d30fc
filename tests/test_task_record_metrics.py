"""The DNS side's metrics, as CloudWatch would ingest them from the log (EMF), per function."""

import json

import pytest

from embedded_stack.fargate import DOMAIN_PREFIX


def emitted(out: str) -> list[dict[str, float]]:
    """{metric: value} of each EMF document printed (one datapoint per metric per invocation)."""
    documents = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    return [{m["Name"]: one(doc[m["Name"]]) for directive in doc["_aws"]["CloudWatchMetrics"]
             for m in directive["Metrics"]} for doc in documents]


def one(value):
    (single,) = value if isinstance(value, list) else [value]
    return single


@pytest.fixture
def function_name(monkeypatch):
    name = "task-subdomains-dev-update_task_dns"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", name)  # as Lambda sets it
    return name


def test_each_event_reports_what_it_published_removed_or_ignored(cluster, app_module, function_name, capsys):
    task = cluster.run_task(public_ip="203.0.113.150")
    capsys.readouterr()

    app_module.update_task_dns(cluster.event(task, "PENDING"), None)
    cluster.stop_task(task)
    app_module.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)
    app_module.update_task_dns({"source": "aws.ecs", "detail-type": "ECS Task State Change"}, None)

    out = capsys.readouterr().out
    assert emitted(out) == [{"TaskRecordsPublished": 1, "TaskRecordsRemoved": 0},
                            {"TaskRecordsPublished": 0, "TaskRecordsRemoved": 1},
                            {"TaskEventsIgnored": 1}]
    document = json.loads(next(line for line in out.splitlines() if '"_aws"' in line))
    assert (document["FunctionName"], document["service"]) == (function_name, "task-subdomains")
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TaskSubdomains"


def test_a_sweep_reports_its_repairs_and_that_it_completed(cluster, app_module, function_name, capsys):
    missed = cluster.run_task(public_ip="203.0.113.151")  # its events were lost
    cluster.put_record(f"www.{DOMAIN_PREFIX}", "A", ["198.51.100.9"])  # not ours: no repair
    capsys.readouterr()

    app_module.reconcile_task_dns({"dry_run": True}, None)  # a plan only: no sweep happened
    assert emitted(capsys.readouterr().out) == []

    app_module.reconcile_task_dns({}, None)
    app_module.reconcile_task_dns({}, None)

    first, second = emitted(capsys.readouterr().out)
    assert (first["ReconcileRepairs"], first["ReconcileCompleted"], first["TaskRecordsPublished"]) == (1, 1, 1)
    assert (second["ReconcileRepairs"], second["ReconcileCompleted"]) == (0, 1)
    assert cluster.zone_records()[(f"{missed['taskArn'].rsplit('/', 1)[1]}.{DOMAIN_PREFIX}", "A")] == [
        "203.0.113.151"]
