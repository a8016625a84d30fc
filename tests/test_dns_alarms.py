"""The DNS side's alarms read exactly the metrics reconcile_task_dns emits, per stage, and say so
when the signal stops arriving."""

import json

import pytest

from chalicelib.shared.functions import RECONCILE_TASK_DNS
from chalicelib.task_records.metrics import TaskRecordMetrics
from infra.deployments import function_deployments, stage_names
from tests.test_infra import CONFIG, merge_template, resolve


def emitted_by_the_sweep(function_name, monkeypatch, capsys) -> dict:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function_name)  # as Lambda sets it
    metrics = TaskRecordMetrics()
    metrics.reconciled(repairs=2)
    metrics.flush()
    (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    return document


@pytest.mark.parametrize("stage", stage_names(CONFIG))
@pytest.mark.parametrize("alarm_name, metric", [("ReconcileNotCompletedAlarm", "ReconcileCompleted"),
                                                ("ReconcileRepairsAlarm", "ReconcileRepairs")])
def test_each_stage_alarms_on_its_own_sweeps(stage, alarm_name, metric, monkeypatch, capsys):
    reconcile = next(d for d in function_deployments(CONFIG, stage) if d.function == RECONCILE_TASK_DNS)
    document = emitted_by_the_sweep(reconcile.lambda_name, monkeypatch, capsys)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (dimension_set,) = directive["Dimensions"]

    merge = merge_template(stage)
    alarm = resolve(merge["Resources"][alarm_name]["Properties"], merge)

    assert (alarm["Namespace"], alarm["MetricName"]) == (directive["Namespace"], metric)
    assert metric in {m["Name"] for m in directive["Metrics"]}
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {name: document[name] for name in dimension_set}
    assert alarm["AlarmActions"] == ["<NotificationTopic>"]  # the stage's topic, resolved


def test_a_sweep_that_stops_arriving_alarms_and_repairs_alarm_only_when_they_persist():
    merge = merge_template("prod")
    not_completed = merge["Resources"]["ReconcileNotCompletedAlarm"]["Properties"]
    repairs = merge["Resources"]["ReconcileRepairsAlarm"]["Properties"]

    # Nothing in 30 minutes (the sweep runs every 10) is the failure itself.
    assert not_completed["TreatMissingData"] == "breaching"
    assert not_completed["Period"] * not_completed["EvaluationPeriods"] == 1800
    assert (not_completed["ComparisonOperator"], not_completed["Threshold"]) == ("LessThanThreshold", 1)
    # Three consecutive sweeps with repairs; no repairs (or no sweep: the other alarm) is quiet.
    assert (repairs["Period"], repairs["EvaluationPeriods"], repairs["DatapointsToAlarm"]) == (600, 3, 3)
    assert repairs["TreatMissingData"] == "notBreaching"
