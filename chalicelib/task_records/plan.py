"""What the zone should hold at each task name, and the changes that get it there. Pure.

The planner of every writer (external-dns's `plan.Calculate`): given what was read at a name and
what the task's current state asks of it (a Target), it decides the changes and names the
outcome. Changes are provider-neutral (chalicelib.shared.records); ownership is asked of
chalicelib.task_records.ownership.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chalicelib.shared.records import Action, Change, RecordSet, by_name, record_set
from chalicelib.task_records.ownership import Ownership, TxtOwnership
from chalicelib.task_records.tasks import Task, TaskAddresses

RECORD_TTL = 60
ADDRESS_TYPES = ("A", "AAAA")


class Outcome(enum.StrEnum):
    CREATED = "created"          # the name was free and now holds our marker and addresses
    UPDATED = "updated"          # our name now holds the task's current addresses
    UNCHANGED = "unchanged"      # our name already held them
    REMOVED = "removed"          # our records at the name were deleted
    ABSENT = "absent"            # nothing to remove
    FOREIGN = "foreign"          # not ours: left alone
    NO_INTERFACE = "no-interface"  # running, but EC2 does not (yet) return its ENI: left as is
    NO_PUBLIC_IP = "no-public-ip"  # running, but its ENI has no public address: left as is


# What the zone should hold at a task's name.
@dataclass(frozen=True)
class Publish:
    addresses: TaskAddresses


@dataclass(frozen=True)
class Remove:
    pass


@dataclass(frozen=True)
class Leave:
    """A running task whose address is not known: its records (if any) stay as they are."""

    outcome: Outcome


Target = Publish | Remove | Leave


def target_for(task: Task | None, addresses_by_eni: Mapping[str, TaskAddresses]) -> Target:
    """What a task's current state asks of its name. None: ECS no longer knows the task."""
    if task is None or not task.is_running:
        return Remove()
    addresses = addresses_by_eni.get(task.network_interface_id or "")
    if addresses is None:
        # EC2 is eventually consistent, and a task whose ENI is still being attached has none:
        # only a task that is not running loses its records.
        return Leave(Outcome.NO_INTERFACE)
    if not addresses:
        return Leave(Outcome.NO_PUBLIC_IP)
    return Publish(addresses)


@dataclass(frozen=True)
class NamePlan:
    """The decision for one name: the outcome, the changes, and the addresses the name holds
    once they are applied (published) or held before (removed)."""

    name: str
    outcome: Outcome
    changes: tuple[Change, ...] = ()
    addresses: TaskAddresses = field(default_factory=TaskAddresses)


def plan_name(name: str, existing: Iterable[RecordSet], target: Target, ownership: TxtOwnership) -> NamePlan:
    existing = [r for r in existing if r.name == name]
    owner = ownership.of(existing)
    if isinstance(target, Leave):
        return NamePlan(name, target.outcome)
    if owner is Ownership.FOREIGN:
        return NamePlan(name, Outcome.FOREIGN)
    if isinstance(target, Remove):
        return _removal(name, existing, owner, ownership)
    return _publication(name, existing, owner, target.addresses, ownership)


def _publication(name: str, existing: list[RecordSet], owner: Ownership, addresses: TaskAddresses,
                 ownership: TxtOwnership) -> NamePlan:
    if owner is Ownership.FREE:
        changes = [ownership.claim(name)] + [
            Change(Action.CREATE, record_set(name, record_type, RECORD_TTL, addresses.for_type(record_type)))
            for record_type in ADDRESS_TYPES if addresses.for_type(record_type)]
        return NamePlan(name, Outcome.CREATED, tuple(changes), addresses)
    current = {r.type: r for r in existing if r.type in ADDRESS_TYPES}
    changes = []
    for record_type in ADDRESS_TYPES:
        wanted = addresses.for_type(record_type)
        have = current.get(record_type)
        if wanted and (have is None or tuple(sorted(have.values)) != wanted or have.ttl != RECORD_TTL):
            changes.append(Change(Action.UPSERT, record_set(name, record_type, RECORD_TTL, wanted)))
        elif not wanted and have is not None:
            changes.append(Change(Action.DELETE, have))
    if not changes:
        return NamePlan(name, Outcome.UNCHANGED, (), addresses)
    # An UPSERT checks nothing: if the name's records were removed since we read them (the task
    # stopped, its stop event was handled), it would bring the addresses back without the marker,
    # a record no writer would ever own, and so remove, again. The marker deleted as read and
    # created again in the same batch makes Route53 refuse the batch unless the name is still ours.
    marker = next(r for r in existing if ownership.is_marker(r))
    guard = (Change(Action.DELETE, marker), ownership.claim(name))
    return NamePlan(name, Outcome.UPDATED, guard + tuple(changes), addresses)


def _removal(name: str, existing: list[RecordSet], owner: Ownership, ownership: TxtOwnership) -> NamePlan:
    if owner is Ownership.FREE:
        return NamePlan(name, Outcome.ABSENT)
    # Only what we write goes; anything else someone added at our name stays.
    ours = [r for r in existing if r.type in ADDRESS_TYPES or ownership.is_marker(r)]
    held = {t: tuple(v for r in existing if r.type == t for v in r.values) for t in ADDRESS_TYPES}
    return NamePlan(name, Outcome.REMOVED, tuple(Change(Action.DELETE, r) for r in ours),
                    TaskAddresses(ipv4=held["A"], ipv6=held["AAAA"]))


@dataclass(frozen=True)
class Plan:
    """The decisions for a set of names, by name."""

    names: Mapping[str, NamePlan]

    def with_outcome(self, *outcomes: Outcome) -> tuple[str, ...]:
        return tuple(name for name, plan in sorted(self.names.items()) if plan.outcome in outcomes)

    @property
    def changes_by_name(self) -> dict[str, tuple[Change, ...]]:
        return {name: plan.changes for name, plan in self.names.items() if plan.changes}


def calculate(targets: Mapping[str, Target], existing: Iterable[RecordSet], ownership: TxtOwnership) -> Plan:
    """external-dns's Calculate: every name with a target, decided from what was read at it."""
    found = by_name(existing)
    return Plan({name: plan_name(name, found.get(name, []), target, ownership)
                 for name, target in sorted(targets.items())})
