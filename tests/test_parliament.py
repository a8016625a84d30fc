"""Every IAM policy `make policies` can generate, checked by parliament (an IAM linter that knows
every action, resource type and condition key), beside the project's own audit.

The one finding that stays (infra/policy_lint.py says why): RESOURCE_STAR on ecs:ListTasks.
Anything else parliament reports fails here, and `make deploy` refuses to deploy it.
"""

import copy
import json

import pytest
from parliament import analyze_policy_string

from chalicelib.shared.functions import HOSTNAME_EVENTS_QUEUE_VARIABLE, TASK_EVENTS_QUEUE_VARIABLE
from infra.deployments import function_deployments, load_config, stage_names
from infra.iam_policies import policy_document
from infra.policy_lint import ACCEPTED_FINDINGS, lint_findings, unaccepted_findings


def variants() -> list:
    """Each stage as committed, in buffered mode, and with hostname events, every function of each."""
    found = []
    base = load_config()
    for stage in stage_names(base):
        environment = base["stages"][stage]["environment_variables"]
        region, account = environment["CLUSTER_ARN"].split(":")[3:5]
        queue = f"arn:aws:sqs:{region}:{account}:task-subdomains-{stage}"
        for mode, extra in (("committed", {}), ("buffered", {TASK_EVENTS_QUEUE_VARIABLE: f"{queue}-task-events"}),
                            ("hostname-events", {HOSTNAME_EVENTS_QUEUE_VARIABLE: f"{queue}-hostnames"})):
            config = copy.deepcopy(base)
            config["stages"][stage]["environment_variables"].update(extra)
            found += [pytest.param(d, id=f"{stage}-{mode}-{d.function}") for d in function_deployments(config, stage)]
    return found


@pytest.mark.parametrize("deployment", variants())
def test_parliament_finds_nothing_but_the_one_accepted_finding(deployment):
    findings = lint_findings(deployment.function, policy_document(deployment))
    assert findings - ACCEPTED_FINDINGS == set()
    assert unaccepted_findings(deployment.function, policy_document(deployment)) == []


def test_only_listing_a_clusters_tasks_is_accepted_on_every_resource():
    assert {("reconcile_task_dns", "RESOURCE_STAR", ("ecs:ListTasks",))} == ACCEPTED_FINDINGS


def test_parliament_does_report_a_policy_that_grants_too_much():
    # The control: the same linter on a deliberately wide policy finds something.
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}
    assert analyze_policy_string(json.dumps(wide)).findings
    assert unaccepted_findings("reconcile_task_dns", wide)
