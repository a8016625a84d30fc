"""parliament (an IAM policy linter that knows every action, resource type and condition key) on
a function's policy, beside the project's own audit (policy_audit.py).

The one finding accepted: RESOURCE_STAR on ecs:ListTasks. ListTasks has no resource type (it lists
a cluster's tasks, and IAM has no ARN to name for that), so "*" is the only resource it accepts;
the statement is held to the stage's cluster by the `ecs:cluster` condition instead, which the
project's audit checks.
"""

import json
from collections.abc import Mapping
from typing import Any

from chalicelib.shared.functions import RECONCILE_TASK_DNS

ACCEPTED_FINDINGS = frozenset({(RECONCILE_TASK_DNS, "RESOURCE_STAR", ("ecs:ListTasks",))})


def lint_findings(function: str, policy: Mapping[str, Any]) -> set[tuple]:
    """parliament's findings on the policy, as (function, issue, detail); the accepted ones included."""
    # Imported here: parliament loads its whole IAM definition on import (about a second).
    from parliament import analyze_policy_string

    analyzed = analyze_policy_string(json.dumps(policy))
    return {(function, f.issue, tuple(f.detail) if isinstance(f.detail, list) else f.detail)
            for f in analyzed.findings}


def unaccepted_findings(function: str, policy: Mapping[str, Any]) -> list[str]:
    return sorted(f"{issue}: {detail}" for _, issue, detail in lint_findings(function, policy) - ACCEPTED_FINDINGS)
