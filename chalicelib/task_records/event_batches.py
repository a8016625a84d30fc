"""process_task_events: buffered mode, a batch of task events from the SQS queue at a time.

A burst of task starts arrives as thousands of events; handled one by one they cost at least
two Route53 requests per task, against an account-wide budget of 10 a second shared with every
other tool. Here a batch is coalesced to the set of tasks it mentions, ECS is asked for their
current state (DescribeTasks, 100 at a time), and their names are converged together: one read
of the names, and as few change batches as Route53's limits allow (Reconciler.reconcile_tasks).

Records are validated like update_task_dns's events; a bad one is logged and dropped, never
fails the batch. A transient AWS failure raises: SQS delivers the whole batch again, and since
only the tasks' current state decides, the redelivery converges to the same zone.
"""

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.shared.logs import logger
from chalicelib.task_records.event_handler import report_ignored
from chalicelib.task_records.events import IgnoreEvent, PublishRecords, RemoveRecords, plan_task_event
from chalicelib.task_records.reconcile import Reconciler
from chalicelib.task_records.settings import TaskDnsSettings

# How Lambda feeds the queue to process_task_events (app.py); chosen in README "Buffered mode".
# Lambda also stops a batch at 6 MB of payload, about 2,000 task events.
BUFFERED_BATCH_SIZE = 10_000
BUFFERED_BATCHING_WINDOW_SECONDS = 2
BUFFERED_MAXIMUM_CONCURRENCY = 2


def plan_bodies(bodies: Iterable[Any], settings: TaskDnsSettings) -> tuple[set[str], list[IgnoreEvent]]:
    """The task names a batch of SQS message bodies touches, and the events it ignores. Pure."""
    names: set[str] = set()
    ignored: list[IgnoreEvent] = []
    for body in bodies:
        plan = plan_task_event(_parsed(body), settings)
        if isinstance(plan, PublishRecords | RemoveRecords):
            names.add(plan.hostname)
        else:
            ignored.append(plan)
    return names, ignored


def _parsed(body: Any) -> Any:
    if not isinstance(body, str):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None  # plan_task_event reports it: "event is not a JSON object"


class TaskEventBatches:
    def __init__(self, settings: TaskDnsSettings, reconciler: Reconciler):
        self._settings = settings
        self._reconciler = reconciler

    def handle(self, bodies: Iterable[Any]) -> dict[str, Any]:
        bodies = list(bodies)
        names, ignored = plan_bodies(bodies, self._settings)
        for plan in ignored:
            report_ignored(plan)
        result = self._reconciler.reconcile_tasks(names)
        malformed = sum(plan.malformed for plan in ignored)
        logger.info("Task event batch handled", events=len(bodies), tasks=len(names),
                    ignored=len(ignored) - malformed, malformed=malformed)
        return {"events": len(bodies), "tasks": len(names), "ignored": len(ignored) - malformed,
                "malformed": malformed, **result}
