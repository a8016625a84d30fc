"""What the three writers do with what Lambda hands them: events read (chalicelib.task_records.events),
names converged (chalicelib.task_records.sync), results and log lines shaped for each.

update_task_dns takes one event from the per-event rule; process_task_events, in buffered mode,
a batch of them from the SQS queue: a burst of task starts arrives as thousands of events, and
handled one by one they cost at least two Route53 requests per task against an account-wide
budget of 10 a second shared with every other tool. A batch is coalesced to the set of tasks it
mentions and converged together: one read of the names and as few change batches as Route53's
limits allow. reconcile_task_dns sweeps what events missed.

A bad event is logged and dropped, never fails its batch. A transient AWS failure raises: Lambda
retries the event, SQS delivers the batch again, and since only the tasks' current state
decides, the retry converges to the same zone.
"""

from collections.abc import Iterable
from typing import Any

from chalicelib.shared.logs import logger
from chalicelib.task_records.events import IgnoredEvent, TaskEvent, read_event, read_queued_event
from chalicelib.task_records.metrics import TaskRecordMetrics
from chalicelib.task_records.sync import SyncResult, TaskRecords

# How Lambda feeds the queue to process_task_events (app.py); chosen in docs/internals.md
# "Buffered mode". Lambda also stops a batch at 6 MB of payload, about 2,000 task events.
BUFFERED_BATCH_SIZE = 10_000
BUFFERED_BATCHING_WINDOW_SECONDS = 2
BUFFERED_MAXIMUM_CONCURRENCY = 2


def is_dry_run(event: Any) -> bool:
    return isinstance(event, dict) and event.get("dry_run") is True


def report_ignored(ignored: IgnoredEvent, **keys: Any) -> dict[str, Any]:
    log = logger.warning if ignored.malformed else logger.info
    log("Event ignored", reason=ignored.reason, **keys, **ignored.context)
    return {"outcome": "malformed" if ignored.malformed else "ignored", "reason": ignored.reason}


class TaskEventHandlers:
    def __init__(self, records: TaskRecords, metrics: TaskRecordMetrics):
        self._records = records
        self._metrics = metrics

    def update_task_dns(self, event: Any) -> dict[str, Any]:
        read = read_event(event, self._records.settings)
        if isinstance(read, IgnoredEvent):
            self._metrics.ignored(1)
            self._metrics.flush()
            return report_ignored(read)
        result = self._written(self._records.sync_tasks([read.hostname]))
        handled = {"outcome": str(result.outcomes[read.hostname]), "task_id": read.task_id,
                   "hostname": read.hostname, "change_ids": list(result.change_ids)}
        logger.info("Task event handled", **handled)
        return handled

    def process_task_events(self, messages: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """messages: (message id, body) of each SQS record."""
        events = ignored = malformed = 0
        names: set[str] = set()
        for message_id, body in messages:
            events += 1
            read = read_queued_event(body, self._records.settings)
            if isinstance(read, TaskEvent):
                names.add(read.hostname)
                continue
            report_ignored(read, message_id=message_id)
            malformed += read.malformed
            ignored += not read.malformed
        self._metrics.ignored(ignored + malformed)
        result = self._written(self._records.sync_tasks(names))
        logger.info("Task event batch handled", events=events, tasks=len(names), ignored=ignored,
                    malformed=malformed)
        return {"events": events, "tasks": len(names), "ignored": ignored, "malformed": malformed,
                **result.summary(), "calls": result.calls, "reads": result.reads,
                "change_ids": list(result.change_ids)}

    def reconcile_task_dns(self, event: Any) -> dict[str, Any]:
        dry_run = is_dry_run(event)
        result = self._records.reconcile(dry_run=dry_run)
        if not dry_run:
            counts = result.summary()
            self._written(result, flush=False)
            self._metrics.reconciled(counts["created"] + counts["updated"] + counts["deleted"])
            self._metrics.flush()
        return {"dry_run": dry_run, **result.as_dict()}

    def _written(self, result: SyncResult, flush: bool = True) -> SyncResult:
        counts = result.summary()
        self._metrics.written(published=counts["created"] + counts["updated"], removed=counts["deleted"])
        if flush:
            self._metrics.flush()
        return result
