"""`reconcile`: the deployed reconcile_task_dns invoked (invoke.py), or with --local the same code in
this process, and its answer as text.

A local run builds the function's writers from the same settings and adapters the handler uses,
with the operator's credentials: what the local stack uses, and a break-glass operator when the
function cannot run.
"""

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.task_records.composition import task_event_handlers
from chalicelib.task_records.settings import TaskDnsSettings


def reconcile_locally(settings: TaskDnsSettings, client: Callable[[str], Any], dry_run: bool) -> dict[str, Any]:
    return task_event_handlers(settings, client).reconcile_task_dns({"dry_run": dry_run})


def reconcile_text(result: Mapping[str, Any]) -> str:
    plan = result.get("plan", {})
    if result.get("dry_run"):
        lines = ["dry run: nothing changed; reconcile would"]
        for action, key in (("create", "created"), ("update", "updated"), ("delete", "deleted")):
            names = plan.get(action, [])
            lines.append(f"  {action} {result.get(key, len(names))}" + (f": {', '.join(names)}" if names else ""))
        lines.append(f"  leave {result.get('skipped_foreign', 0)} foreign name(s) alone")
        return "\n".join(lines)
    return (f"created {result.get('created', 0)}, updated {result.get('updated', 0)}, "
            f"deleted {result.get('deleted', 0)}, left {result.get('skipped_foreign', 0)} foreign name(s) alone, "
            f"in {result.get('calls', 0)} Route53 call(s)")
