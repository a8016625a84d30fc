"""What `status` says about task records. The classification is a pure function.

It uses the writers' own notion of what a task's name should hold (`target_for`) and their own
ownership rule (`TxtOwnership`), so it shows what `reconcile_task_dns` would see: running tasks
with a record, running tasks without one (and why), owned records whose task no longer runs (the
next reconcile deletes them) and foreign records under the prefix (never touched).

Whatever a writer should have done and has not is a problem (`status` exits 1), and its message
names that writer: the function that handles task events in the stage's mode (`update_task_dns`
per event, `process_task_events` when the stage sets TASK_EVENTS_QUEUE_ARN), and
`reconcile_task_dns`, the backstop that repairs what it missed. A task still starting is not a
problem: nothing is owed to it yet.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.shared.functions import PROCESS_TASK_EVENTS, RECONCILE_TASK_DNS, UPDATE_TASK_DNS
from chalicelib.shared.records import RecordSet
from chalicelib.task_records.ownership import Ownership, TxtOwnership
from chalicelib.task_records.plan import ADDRESS_TYPES, Publish, target_for
from chalicelib.task_records.tasks import Task, TaskAddresses


@dataclass(frozen=True)
class TaskWithRecord:
    hostname: str
    addresses: tuple[str, ...]  # what the task has
    published: tuple[str, ...]  # what the zone says

    @property
    def in_sync(self) -> bool:
        return sorted(self.addresses) == sorted(self.published)


@dataclass(frozen=True)
class TaskWithoutRecord:
    task_arn: str
    hostname: str | None
    reason: str
    needs_attention: bool = True  # False only while the task is still starting


@dataclass(frozen=True)
class ForeignName:
    hostname: str
    types: tuple[str, ...]


@dataclass(frozen=True)
class TaskRecordsStatus:
    domain_prefix: str
    zone_id: str
    owner_id: str
    with_record: tuple[TaskWithRecord, ...] = ()
    without_record: tuple[TaskWithoutRecord, ...] = ()
    orphaned: tuple[str, ...] = ()  # our names with no running task that should have them
    foreign: tuple[ForeignName, ...] = ()
    writer: str = UPDATE_TASK_DNS  # the function that writes and removes records as tasks start and stop

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per name that is not as the running tasks want it, saying who should have acted."""
        backstop = f"{RECONCILE_TASK_DNS} (the backstop, every 10 minutes)"
        found = [f"{t.hostname}: its record holds {', '.join(t.published) or 'no address'}, the task has "
                 f"{', '.join(t.addresses)}: {self.writer} should have updated it; {backstop} corrects it"
                 for t in self.with_record if not t.in_sync]
        found += [f"{t.hostname or t.task_arn}: running without a record: {t.reason}"
                  for t in self.without_record if t.needs_attention]
        found += [f"{name}: owned record without a running task: {self.writer} should have removed it when the "
                  f"task stopped; {backstop} deletes it" for name in self.orphaned]
        return tuple(found)

    @property
    def needs_attention(self) -> bool:
        return bool(self.problems)

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain_prefix": self.domain_prefix, "zone_id": self.zone_id, "owner_id": self.owner_id,
            "running_with_record": [{"hostname": t.hostname, "addresses": list(t.addresses),
                                     "published": list(t.published), "in_sync": t.in_sync} for t in self.with_record],
            "running_without_record": [{"task_arn": t.task_arn, "hostname": t.hostname, "reason": t.reason}
                                       for t in self.without_record],
            "owned_without_running_task": list(self.orphaned),
            "foreign": [{"hostname": f.hostname, "types": list(f.types)} for f in self.foreign],
            "writer": self.writer, "needs_attention": self.needs_attention, "problems": list(self.problems),
        }


def task_records_status(tasks: Iterable[Task], addresses_by_eni: Mapping[str, TaskAddresses],
                        existing: Iterable[RecordSet], domain_prefix: str, zone_id: str,
                        owner_id: str, writer: str = UPDATE_TASK_DNS) -> TaskRecordsStatus:
    """tasks: as EcsTasks.running_tasks() lists them; those ECS no longer wants running are left out.
    writer: the stage's task-event function (`task_event_writer`)."""
    tasks = [task for task in tasks if task.desired_status == "RUNNING"]
    by_name: dict[str, list[RecordSet]] = defaultdict(list)
    for record_set in existing:
        by_name[record_set.name].append(record_set)
    registry = TxtOwnership(owner_id)
    ownership = {name: registry.of(sets).value for name, sets in by_name.items()}
    desired = {}
    for task in tasks:
        target, hostname = target_for(task, addresses_by_eni), task.hostname(domain_prefix)
        if hostname and isinstance(target, Publish):
            desired[hostname] = target.addresses

    with_record, without_record = [], []
    for task in sorted(tasks, key=lambda t: t.task_arn):
        hostname = task.hostname(domain_prefix)
        owner = ownership.get(hostname or "", Ownership.FREE.value)
        if hostname in desired and owner == "ours":
            with_record.append(TaskWithRecord(hostname, _addresses(desired[hostname]), _published(by_name[hostname])))
        else:
            without_record.append(TaskWithoutRecord(task.task_arn, hostname, _why_no_record(
                task, hostname, owner, hostname in desired, writer), needs_attention=task.is_running))
    orphaned = tuple(sorted(name for name, owner in ownership.items() if owner == "ours" and name not in desired))
    foreign = tuple(ForeignName(name, tuple(sorted({r.type for r in by_name[name]})))
                    for name, owner in sorted(ownership.items()) if owner == "foreign")
    return TaskRecordsStatus(domain_prefix, zone_id, owner_id, tuple(with_record), tuple(without_record),
                             orphaned, foreign, writer)


def task_event_writer(task_events_queue_arn: str | None) -> str:
    """The function that writes a stage's records as its tasks start and stop: buffered mode
    (TASK_EVENTS_QUEUE_ARN set) reads the events from the queue, per-event mode from the rule."""
    return PROCESS_TASK_EVENTS if task_events_queue_arn else UPDATE_TASK_DNS


def _why_no_record(task: Task, hostname: str | None, owner: str, has_address: bool, writer: str) -> str:
    if hostname is None:
        return "its task id is not one lower-case DNS label: no record is ever written for it"
    if not task.is_running:
        return f"{task.last_status or 'unknown state'}: its network interface has no address yet"
    eni_id = task.network_interface_id
    if not has_address:
        if eni_id is None:
            return "no network interface (awsvpc networking?)"
        return "no public IP: run it in a public subnet with assignPublicIp ENABLED, or give it IPv6"
    if owner == "foreign":
        return "the name holds records that are not ours: they are never overwritten"
    return (f"not published yet: {writer} should have written it when the task started running; "
            f"{RECONCILE_TASK_DNS} (the backstop, every 10 minutes) writes it")


def _addresses(addresses: TaskAddresses) -> tuple[str, ...]:
    return (*addresses.for_type("A"), *addresses.for_type("AAAA"))


def _published(record_sets: Iterable[RecordSet]) -> tuple[str, ...]:
    by_type = {r.type: sorted(r.values) for r in record_sets if r.type in ADDRESS_TYPES}
    return tuple(value for record_type in ADDRESS_TYPES for value in by_type.get(record_type, ()))
