"""reconcile_task_dns: sweep what events missed.

Compares the cluster's running tasks with the owned records under DOMAIN_PREFIX, creates what is
missing, fixes wrong addresses, deletes records of tasks that no longer run, and never touches a
record it does not own. The plan is a pure function; applying it packs the changes into as few
ChangeResourceRecordSets calls as Route53's limits allow.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.logs import logger
from chalicelib.shared.route53 import (
    ChangePlan,
    RecordSet,
    Route53Zone,
    change_batches,
    changed_name,
    is_change_conflict,
)
from chalicelib.task_records.arns import hostname_for_task, task_id_from_arn
from chalicelib.task_records.ecs import EcsTasks, TaskStatus
from chalicelib.task_records.events import is_starting_or_running, network_interface_id
from chalicelib.task_records.network_interfaces import NetworkInterfaces
from chalicelib.task_records.records import TaskAddresses, plan_publish, plan_removal
from chalicelib.task_records.settings import TaskDnsSettings

# A batch of task names is written, read again on a conflict, and written again, this many times.
BATCH_WRITE_ATTEMPTS = 5


@dataclass(frozen=True)
class ReconcilePlan:
    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    skipped_foreign: tuple[str, ...] = ()
    changes_by_name: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)

    def excluding(self, names: Iterable[str]) -> "ReconcilePlan":
        skip = set(names)
        return ReconcilePlan(
            created=tuple(n for n in self.created if n not in skip),
            updated=tuple(n for n in self.updated if n not in skip),
            deleted=tuple(n for n in self.deleted if n not in skip),
            skipped_foreign=self.skipped_foreign,
            changes_by_name={n: c for n, c in self.changes_by_name.items() if n not in skip},
        )

    def including(self, other: "ReconcilePlan", names: set[str]) -> "ReconcilePlan":
        """This plan plus what `other` does to these names (the names of one applied change batch)."""
        def more(mine: tuple[str, ...], theirs: tuple[str, ...]) -> tuple[str, ...]:
            return (*mine, *(n for n in theirs if n in names and n not in mine))

        return ReconcilePlan(
            created=more(self.created, other.created), updated=more(self.updated, other.updated),
            deleted=more(self.deleted, other.deleted), skipped_foreign=self.skipped_foreign,
            changes_by_name={**self.changes_by_name,
                             **{n: c for n, c in other.changes_by_name.items() if n in names}},
        )

    def summary(self) -> dict[str, Any]:
        return {"created": len(self.created), "updated": len(self.updated), "deleted": len(self.deleted),
                "skipped_foreign": len(self.skipped_foreign)}

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "plan": {"create": list(self.created), "update": list(self.updated),
                                            "delete": list(self.deleted)}}


def is_dry_run(event: Any) -> bool:
    return isinstance(event, dict) and event.get("dry_run") is True


def desired_addresses(tasks: Iterable[TaskStatus], addresses_by_eni: Mapping[str, TaskAddresses],
                      domain_prefix: str) -> dict[str, TaskAddresses]:
    """hostname -> addresses for every task that is starting or running and has a public address."""
    desired = {}
    for task in tasks:
        if not is_starting_or_running(task.desired_status, task.last_status):
            continue
        task_id = task_id_from_arn(task.task_arn)
        hostname = hostname_for_task(task_id, domain_prefix) if task_id else None
        addresses = addresses_by_eni.get(network_interface_id(task.attachments) or "")
        if hostname and addresses:
            desired[hostname] = addresses
    return desired


def plan_reconcile(desired: Mapping[str, TaskAddresses], existing: Iterable[RecordSet],
                   owner_id: str) -> ReconcilePlan:
    by_name: dict[str, list[RecordSet]] = defaultdict(list)
    for record_set in existing:
        by_name[record_set.name].append(record_set)

    outcomes: dict[str, list[str]] = defaultdict(list)
    changes_by_name = {}
    for name in sorted(set(desired) | set(by_name)):
        plan = plan_for_name(name, by_name.get(name, []), desired.get(name), owner_id)
        outcomes[plan.outcome].append(name)
        if plan.changes:
            changes_by_name[name] = plan.changes
    return ReconcilePlan(
        created=tuple(outcomes["created"]), updated=tuple(outcomes["updated"]),
        deleted=tuple(outcomes["removed"]), skipped_foreign=tuple(outcomes["foreign"]),
        changes_by_name=changes_by_name,
    )


def plan_for_name(name: str, existing: Iterable[RecordSet], addresses: TaskAddresses | None,
                  owner_id: str) -> ChangePlan:
    if addresses:
        return plan_publish(name, existing, addresses, owner_id)
    return plan_removal(name, existing, owner_id)


class Reconciler:
    def __init__(self, settings: TaskDnsSettings, tasks: EcsTasks, interfaces: NetworkInterfaces,
                 zone: Route53Zone):
        self._settings = settings
        self._tasks = tasks
        self._interfaces = interfaces
        self._zone = zone

    def desired(self) -> dict[str, TaskAddresses]:
        tasks = self._tasks.running_tasks()
        eni_ids = [eni for eni in (network_interface_id(t.attachments) for t in tasks) if eni]
        addresses = self._interfaces.public_addresses_of(eni_ids)
        return desired_addresses(tasks, addresses, self._settings.domain_prefix)

    def run(self, dry_run: bool = False) -> dict[str, Any]:
        # The zone is read before the tasks are listed: a task that starts in between, and whose
        # record an event writes meanwhile, is then either in both views or in neither, never
        # "a record without a running task" that would be deleted.
        existing = self._zone.record_sets_under(self._settings.domain_prefix)
        desired = self.desired()
        plan = plan_reconcile(desired, existing, self._settings.record_owner_id)
        # ListTasks is eventually consistent: before deleting, ask ECS about exactly those tasks.
        plan = plan.excluding(self._names_of_tasks(plan.deleted, running=True))
        if dry_run:
            logger.info("Reconcile plan (dry run, nothing changed)", dry_run=True, **_log_keys(plan))
            return {"dry_run": True, **plan.as_dict()}
        calls = self._apply(plan, desired)
        logger.info("Reconciled task records", calls=calls, **_log_keys(plan))
        return {"dry_run": False, "calls": calls, **plan.as_dict()}

    def reconcile_tasks(self, hostnames: Iterable[str]) -> dict[str, Any]:
        """Converge the names of just these tasks, as their current state in ECS says.

        What buffered mode does with a batch of task events: whatever the events said, and in
        whatever order they came, ECS decides whether a task's name should point anywhere, so a
        stale or repeated event never publishes, and a redelivered batch converges to the same zone.
        Only these names are read and written: records of other tasks are not this batch's business.
        """
        names = sorted(set(hostnames))
        if not names:
            return {"calls": 0, "reads": 0, **ReconcilePlan().summary()}
        # The zone is read before ECS is asked, for the same reason as in run().
        existing = self._zone.record_sets_of(names)
        statuses = self._tasks.statuses_of([task_id_of(name) for name in names])
        tasks = list(statuses.values())
        eni_ids = [eni for eni in (network_interface_id(t.attachments) for t in tasks if _is_running(t)) if eni]
        addresses = self._interfaces.public_addresses_of(eni_ids) if eni_ids else {}
        desired = {name: found for name, found in desired_addresses(tasks, addresses, self._settings.domain_prefix)
                   .items() if name in set(names)}
        # A running task whose ENI the filter did not return yet (EC2 is eventually consistent)
        # keeps its records, as in run() and update_task_dns: only a task that is not running loses them.
        running = {name for name in names if _is_running(statuses.get(task_id_of(name)))}
        written, calls, reads = self._write_names(names, existing, desired, keep=running)
        self._remove_records_of_tasks_stopped_meanwhile(written)
        logger.info("Task records converged for a batch of events", tasks=len(names), calls=calls,
                    reads=reads, **_log_keys(written))
        return {"calls": calls, "reads": reads, **written.summary()}

    def _write_names(self, names: list[str], existing: list[RecordSet], desired: Mapping[str, TaskAddresses],
                     keep: set[str]) -> tuple[ReconcilePlan, int, int]:
        """Plan these names from what was read and write the plan; when another writer (the other
        consumer of the queue, an event, the reconciler) changed one of them in between, Route53
        rejects that batch, and the names are read and planned again together, not one by one:
        one read of the names costs a page or a few, a read per name costs one request each.

        Returns what the applied change batches did, over every attempt (a name written by an
        earlier batch plans as unchanged after a re-read, but was still written by this run and
        must be looked at again), the number of change calls and of reads of the names."""
        owner_id = self._settings.record_owner_id
        written = ReconcilePlan()
        calls, reads, attempt = 0, 1, 1
        while True:
            plan = plan_reconcile(desired, existing, owner_id)
            plan = plan.excluding(keep & set(plan.deleted))
            try:
                for batch in change_batches(plan.changes_by_name):
                    calls += 1
                    self._zone.change(batch, comment="task-subdomains task events")
                    written = written.including(plan, {changed_name(change) for change in batch})
                return replace(written, skipped_foreign=plan.skipped_foreign), calls, reads
            except ClientError as error:
                if not is_change_conflict(error) or attempt == BATCH_WRITE_ATTEMPTS:
                    raise
                logger.info("Zone changed under a batch; reading its names again", attempt=attempt,
                            tasks=len(names), error=str(error))
                existing = self._zone.record_sets_of(names)
                reads += 1
                attempt += 1

    def _apply(self, plan: ReconcilePlan, desired: Mapping[str, TaskAddresses]) -> int:
        """Writes the plan in as few calls as Route53 allows; the number of calls."""
        batches = change_batches(plan.changes_by_name)
        for batch in batches:
            apply_batch(self._zone, batch, desired, self._settings.record_owner_id)
        self._remove_records_of_tasks_stopped_meanwhile(plan)
        return len(batches)

    def _names_of_tasks(self, names: Iterable[str], running: bool) -> list[str]:
        """Those of these task names whose task is (running=True) or is not starting or running."""
        names = list(names)
        if not names:
            return []
        statuses = self._tasks.statuses_of([task_id_of(name) for name in names])
        return [name for name in names if _is_running(statuses.get(task_id_of(name))) == running]

    def _remove_records_of_tasks_stopped_meanwhile(self, plan: ReconcilePlan) -> None:
        # A task may have stopped, and its STOPPED event been handled, after we listed it and
        # before we wrote its record: look once more at the tasks we wrote for.
        owner_id = self._settings.record_owner_id
        for name in self._names_of_tasks([*plan.created, *plan.updated], running=False):
            logger.info("Task stopped while reconciling; removing its records", hostname=name)
            self._zone.converge(name, lambda existing, name=name: plan_removal(name, existing, owner_id),
                                comment=f"task-subdomains: {name}")


def apply_batch(zone: Route53Zone, batch: list[dict[str, Any]], desired: Mapping[str, TaskAddresses],
                owner_id: str) -> None:
    try:
        zone.change(batch, comment="task-subdomains reconcile")
    except ClientError as error:
        if not is_change_conflict(error):
            raise
        # An event changed one of these names since we read the zone, and Route53 rejected the
        # whole batch. Redo just these names one by one, each from a fresh read.
        names = sorted({changed_name(change) for change in batch})
        logger.info("Zone changed during reconcile; converging names one by one", names=len(names),
                    error=str(error))
        for name in names:
            zone.converge(name, lambda existing, name=name: plan_for_name(name, existing, desired.get(name), owner_id),
                          comment=f"task-subdomains: {name}")


def task_id_of(hostname: str) -> str:
    return hostname.split(".", 1)[0]


def _is_running(status: TaskStatus | None) -> bool:
    return status is not None and is_starting_or_running(status.desired_status, status.last_status)


def _log_keys(plan: ReconcilePlan) -> dict[str, int]:
    # Prefixed: "created" is a reserved LogRecord attribute.
    return {f"records_{key}": count for key, count in plan.summary().items()}
