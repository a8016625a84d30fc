"""`task-subdomains reconcile`: the reconciler's own code, run here (--local) or invoked."""

import json

import boto3
from botocore.stub import ANY, Stubber

from chalicelib.task_records.ownership import ownership_marker
from chalicelib.task_records.settings import TaskDnsSettings
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.cli import Runtime
from tests.cli_support import run
from tests.test_cli_renew import answer


def drifted_zone(cluster):
    """A running task without a record, and a record whose task is gone."""
    task = cluster.run_task(public_ip="203.0.113.20")
    orphan = f"gone0001.{DOMAIN_PREFIX}"
    cluster.put_record(orphan, "TXT", [ownership_marker(TaskDnsSettings.from_environment().record_owner_id)])
    cluster.put_record(orphan, "A", ["203.0.113.99"])
    return cluster.hostname(task), orphan


def test_a_dry_run_changes_nothing_and_shows_the_plan(cluster):
    missing, orphan = drifted_zone(cluster)
    before = cluster.zone_records()

    text = run("reconcile", "--local", "--dry-run")
    as_json = run("reconcile", "--local", "--dry-run", "--json")

    assert cluster.zone_records() == before
    assert (text.exit_code, as_json.exit_code) == (0, 0), text.output
    result = json.loads(as_json.stdout)
    assert (result["dry_run"], result["plan"]["create"], result["plan"]["delete"]) == (True, [missing], [orphan])
    assert "nothing changed" in text.stdout and missing in text.stdout and orphan in text.stdout


def test_a_local_run_makes_the_zone_match_the_tasks(cluster):
    missing, orphan = drifted_zone(cluster)

    result = run("reconcile", "--local", "--json")

    assert result.exit_code == 0, result.output
    assert (json.loads(result.stdout)["created"], json.loads(result.stdout)["deleted"]) == (1, 1)
    records = cluster.zone_records()
    assert records[(missing, "A")] == ["203.0.113.20"]
    assert not any(name == orphan for name, _ in records)


def test_reconcile_invokes_the_stages_function_with_dry_run(cluster):
    client = boto3.client("lambda")
    sent = []
    client.meta.events.register("before-parameter-build.lambda.Invoke", lambda params, **_: sent.append(dict(params)))
    stub = Stubber(client)
    plan = {"dry_run": True, "created": 0, "updated": 0, "deleted": 0, "skipped_foreign": 0,
            "plan": {"create": [], "update": [], "delete": []}}
    stub.add_response("invoke", answer(plan), expected_params={
        "FunctionName": "task-subdomains-dev-reconcile_task_dns", "InvocationType": "RequestResponse", "Payload": ANY})
    with stub:
        result = run("--stage", "dev", "reconcile", "--dry-run", "--json",
                     runtime=Runtime(lambda_client=lambda: client))

    assert result.exit_code == 0, result.output
    assert json.loads(sent[0]["Payload"]) == {"dry_run": True}
    assert json.loads(result.stdout) == plan
