"""The DNS side's metrics (chalicelib.shared.metrics: EMF, per function), one datapoint each per
invocation, so an alarm can tell "nothing happened" from "the function stopped running".

- TaskRecordsPublished, TaskRecordsRemoved: names a writer created or updated, and removed.
- TaskEventsIgnored: events dropped as not ours or malformed (a sudden rise: a misrouted rule, or
  someone sending junk to the queue).
- ReconcileRepairs: names the sweep had to create, fix or delete: events were missed. Repairs in
  sweep after sweep mean the event path is broken (alarm: 3 consecutive sweeps).
- ReconcileCompleted: 1 per sweep that finished (alarm: none for 30 minutes, missing data breaching:
  the schedule stopped or every sweep fails).
"""

from chalicelib.shared.metrics import EmfMetrics

TASK_RECORDS_PUBLISHED = "TaskRecordsPublished"
TASK_RECORDS_REMOVED = "TaskRecordsRemoved"
TASK_EVENTS_IGNORED = "TaskEventsIgnored"
RECONCILE_REPAIRS = "ReconcileRepairs"
RECONCILE_COMPLETED = "ReconcileCompleted"


class TaskRecordMetrics(EmfMetrics):
    def written(self, published: int, removed: int) -> None:
        self.count(TASK_RECORDS_PUBLISHED, published)
        self.count(TASK_RECORDS_REMOVED, removed)

    def ignored(self, events: int) -> None:
        self.count(TASK_EVENTS_IGNORED, events)

    def reconciled(self, repairs: int) -> None:
        self.count(RECONCILE_REPAIRS, repairs)
        self.count(RECONCILE_COMPLETED, 1)
