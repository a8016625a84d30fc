"""The one write path for task records: every writer (update_task_dns, process_task_events,
reconcile_task_dns) converges names here.

1. Read the names (before asking ECS: a task that starts in between, and whose record an event
   writes meanwhile, is then in both views or in neither, never "a record without a running
   task" that would be deleted).
2. Ask ECS for the tasks' current state and EC2 for their ENIs' addresses: the event only said
   which task to look at.
3. Plan (chalicelib.task_records.plan, pure) and write through `Route53Zone.converge`: as few
   change batches as Route53's limits allow, compare-and-swap, and on a conflict the names not
   yet written are read and planned again (bounded) — the only conflict retry in the code.
4. Look once more at the tasks it published: one that stopped, and whose stop event was handled,
   while it wrote loses its records again, so no record outlives its task.
5. Leave a readiness check per accepted change batch on the hostname events queue, if the stage
   has one (chalicelib.task_records.readiness).

Results count what the zone holds at the end: a name published and then removed by step 4 counts
as neither.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.logs import logger
from chalicelib.shared.records import RecordSet
from chalicelib.shared.route53 import Converged, Route53Zone, SubmittedBatch
from chalicelib.task_records.arns import hostname_for_task, task_arn_in
from chalicelib.task_records.ecs import EcsTasks
from chalicelib.task_records.network_interfaces import NetworkInterfaces
from chalicelib.task_records.ownership import TxtOwnership
from chalicelib.task_records.plan import NamePlan, Outcome, Remove, Target, calculate, plan_name, target_for
from chalicelib.task_records.readiness import ReadinessQueue, checks_for_batch
from chalicelib.task_records.settings import TaskDnsSettings
from chalicelib.task_records.tasks import Task

PUBLISHED = (Outcome.CREATED, Outcome.UPDATED)
# Outcomes of a task's name that someone reading the log of its event will want explained.
_EXPLAINED = {
    Outcome.REMOVED: "Task is no longer running (or ECS no longer knows it); its records were removed",
    Outcome.ABSENT: "Task is no longer running (or ECS does not know it); nothing to publish",
    Outcome.FOREIGN: "Records at the task's name are not ours; leaving them alone",
    Outcome.NO_PUBLIC_IP: "Network interface has no public IP; nothing to publish",
    Outcome.NO_INTERFACE: "Network interface not found (gone, or not visible to EC2 yet); nothing to publish",
}


@dataclass(frozen=True)
class SyncResult:
    """What one run of the write path did, by name, and what it cost."""

    outcomes: Mapping[str, Outcome]
    calls: int  # ChangeResourceRecordSets requests
    reads: int  # reads of the names (a request or a few each)
    change_ids: tuple[str, ...] = ()

    def names_with(self, *outcomes: Outcome) -> list[str]:
        return sorted(name for name, outcome in self.outcomes.items() if outcome in outcomes)

    def summary(self) -> dict[str, int]:
        return {"created": len(self.names_with(Outcome.CREATED)), "updated": len(self.names_with(Outcome.UPDATED)),
                "deleted": len(self.names_with(Outcome.REMOVED)),
                "skipped_foreign": len(self.names_with(Outcome.FOREIGN))}

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "calls": self.calls, "reads": self.reads, "change_ids": list(self.change_ids),
                "plan": {"create": self.names_with(Outcome.CREATED), "update": self.names_with(Outcome.UPDATED),
                         "delete": self.names_with(Outcome.REMOVED)}}


class TaskRecords:
    def __init__(self, settings: TaskDnsSettings, tasks: EcsTasks, interfaces: NetworkInterfaces,
                 zone: Route53Zone, readiness: ReadinessQueue | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._settings = settings
        self._tasks = tasks
        self._interfaces = interfaces
        self._zone = zone
        self._readiness = readiness
        self._now = now
        self._ownership = TxtOwnership(settings.record_owner_id)

    @property
    def settings(self) -> TaskDnsSettings:
        return self._settings

    # --- the writers' entry points ---

    def sync_tasks(self, hostnames: Iterable[str]) -> SyncResult:
        """Converge the names of these tasks (from events, one or a batch) to their current state."""
        names = sorted(set(hostnames))
        if not names:
            return SyncResult({}, calls=0, reads=0)
        existing = self._zone.record_sets_of(names)
        tasks = self._tasks.statuses_of(task_id_of(name) for name in names)
        result = self._write(self._targets({name: tasks.get(task_id_of(name)) for name in names}),
                             existing, reads=1, tasks=tasks)
        for outcome, message in _EXPLAINED.items():
            if names_with := result.names_with(outcome):
                log = logger.warning if outcome is Outcome.FOREIGN else logger.info
                log(message, hostnames=names_with[:20], count=len(names_with))
        return result

    def reconcile(self, dry_run: bool = False) -> SyncResult:
        """Every name under DOMAIN_PREFIX and every running task of the cluster; with dry_run, the
        plan alone."""
        existing = self._zone.record_sets_under(self._settings.domain_prefix)
        tasks = {task.task_id: task for task in self._tasks.running_tasks()
                 if task.task_id and task.hostname(self._settings.domain_prefix)}
        # Only task-shaped names (<one label>.DOMAIN_PREFIX) are a task's; a deeper name (another
        # deployment's nested prefix, a challenge record) is never planned.
        prefix = self._settings.domain_prefix
        existing = [r for r in existing if hostname_for_task(task_id_of(r.name), prefix) == r.name]
        owned = {r.name for r in existing if self._ownership.is_marker(r)}
        # ListTasks is eventually consistent: a name whose task it did not list is asked about
        # by id before its records may go.
        unlisted = [task_id_of(name) for name in owned if task_id_of(name) not in tasks]
        tasks.update(self._tasks.statuses_of(unlisted) if unlisted else {})
        names = ({task.hostname(self._settings.domain_prefix) for task in tasks.values() if task.is_running}
                 | {r.name for r in existing})
        targets = self._targets({name: tasks.get(task_id_of(name)) for name in names})
        if dry_run:
            plan = calculate(targets, existing, self._ownership)
            return SyncResult({name: p.outcome for name, p in plan.names.items()}, calls=0, reads=1)
        return self._write(targets, existing, reads=1, tasks=tasks)

    # --- the path ---

    def _targets(self, tasks_by_name: Mapping[str, Task | None]) -> dict[str, Target]:
        running = [task for task in tasks_by_name.values() if task is not None and task.is_running]
        eni_ids = [eni for eni in (task.network_interface_id for task in running) if eni]
        addresses = self._interfaces.public_addresses_of(eni_ids) if eni_ids else {}
        return {name: target_for(task, addresses) for name, task in tasks_by_name.items()}

    def _write(self, targets: Mapping[str, Target], existing: list[RecordSet], reads: int,
               tasks: Mapping[str, Task]) -> SyncResult:
        batches: list[SubmittedBatch] = []
        try:
            written = self._converge(targets, existing, batches)
            outcomes = {name: plan.outcome for name, plan in written.plans.items()}
            reads += written.reads

            # The task may have stopped, and its stop event been handled, while we wrote.
            published = [name for name in outcomes if outcomes[name] in PUBLISHED]
            stopped = self._not_running(published)
            if stopped:
                logger.info("Tasks stopped while their records were written; removing them", tasks=len(stopped))
                removal = self._converge(dict.fromkeys(stopped, Remove()), None, batches)
                reads += removal.reads
                for name, plan in removal.plans.items():
                    # What the zone holds now: a name this run created and removed again has nothing.
                    outcomes[name] = Outcome.ABSENT if outcomes[name] is Outcome.CREATED else plan.outcome
        finally:
            # Even when a later step fails (Lambda or SQS then retries it, and the retry finds these
            # names unchanged), the batches Route53 accepted get their readiness checks.
            self._leave_readiness_checks(batches, tasks)
        result = SyncResult(outcomes, calls=len([b for b in batches if b.change_id]), reads=reads,
                            change_ids=tuple(b.change_id for b in batches if b.change_id))
        self._log(result)
        return result

    def _converge(self, targets: Mapping[str, Target], existing: list[RecordSet] | None,
                  batches: list[SubmittedBatch]) -> Converged:
        """Writes through the zone's one converge loop; the batches Route53 accepted are added to
        `batches`, also when it fails part way."""
        ownership = self._ownership

        def decide(name: str, found: list[RecordSet]) -> NamePlan:
            return plan_name(name, found, targets[name], ownership)

        try:
            written = self._zone.converge(targets, decide, comment="task-subdomains task records",
                                          existing=existing)
        except ClientError as error:
            batches += getattr(error, "converged", Converged({}, (), 0)).batches
            raise
        batches += written.batches
        return written

    def _not_running(self, names: list[str]) -> list[str]:
        if not names:
            return []
        tasks = self._tasks.statuses_of(task_id_of(name) for name in names)
        return [name for name in names
                if (task := tasks.get(task_id_of(name))) is None or not task.is_running]

    def _leave_readiness_checks(self, batches: list[SubmittedBatch], tasks: Mapping[str, Task]) -> None:
        if self._readiness is None or not batches:
            return
        written_at = self._now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
        cluster = self._settings.cluster_arn
        checks = []
        for batch in batches:
            arns = {name: (tasks[task_id_of(name)].task_arn if task_id_of(name) in tasks
                           else task_arn_in(cluster, task_id_of(name))) for name in batch.plans}
            checks += checks_for_batch(batch.change_id, batch.plans, arns, cluster, written_at)
        sent = self._readiness.send(checks)
        logger.debug("Readiness checks left", checks=sent, change_batches=len(batches))

    def _log(self, result: SyncResult) -> None:
        # Prefixed: "created" is a reserved LogRecord attribute.
        logger.info("Task records converged", calls=result.calls, reads=result.reads,
                    **{f"records_{key}": count for key, count in result.summary().items()})


def task_id_of(hostname: str) -> str:
    return hostname.split(".", 1)[0]

