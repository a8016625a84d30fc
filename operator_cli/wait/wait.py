"""`wait`: until every authoritative name server answers a task's name with the task's addresses.

For orchestrators and end-to-end tests that must not hand out a task's name before it resolves:
a client that looks the name up too early gets NXDOMAIN, and its resolver caches that for the
zone's negative-caching time. So the name servers are asked directly (name_servers.py), never
through a resolver, and waiting never plants that answer anywhere.

Each look reads the task's addresses afresh (ECS, then EC2: they are what `update_task_dns`
publishes, and they can change) and asks every server for A and AAAA. A task that will never get
a name (stopped, unknown to ECS, no public address) ends the wait at once.

IAM: ecs:DescribeTasks, ec2:DescribeNetworkInterfaces; route53:GetHostedZone unless
TASK_SUBDOMAINS_NAMESERVERS lists the servers.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.shared.waiting import Waiter, WaitTimedOut
from chalicelib.task_records.arns import hostname_for_task, task_belongs_to_cluster, task_id_from_arn
from chalicelib.task_records.settings import TaskDnsSettings
from operator_cli.wait.name_servers import ServerAnswers, ask_all, name_servers
from operator_cli.wait.readiness import (
    Addresses,
    NeverReady,
    NotYet,
    ServerVerdict,
    TaskState,
    all_ready,
    report_line,
    verdicts,
    wanted_addresses,
)
from operator_cli.wait.task_lookup import EcsTaskLookup

DEFAULT_TIMEOUT_SECONDS = 120
# Route53 answers from every server within about a minute of a change; each look costs a
# DescribeTasks and a DescribeNetworkInterfaces, counted against the account's limits with the
# functions' own calls. The first looks come sooner (ramp-up): a record is often there already.
POLL_INTERVAL_SECONDS = 2.0

TaskLookup = Callable[[str], TaskState | None]
AskServers = Callable[[str], Sequence[ServerAnswers]]


class UnknownName(ValueError):
    """What was given is not a task id, task ARN or task hostname of this deployment."""


def task_of(target: str, settings: TaskDnsSettings) -> tuple[str, str]:
    """(task id, hostname) for a task id, a task ARN of the cluster, or a hostname under DOMAIN_PREFIX."""
    target = target.strip()
    if target.startswith("arn:"):
        if not task_belongs_to_cluster(target, settings.cluster_arn):
            raise UnknownName(f"{target} is not a task ARN of CLUSTER_ARN {settings.cluster_arn}")
        task_id = task_id_from_arn(target) or ""
    elif "." in target:
        name = target.rstrip(".").lower()
        task_id, _, rest = name.partition(".")
        if rest != settings.domain_prefix:
            raise UnknownName(f"{target} is not a task's name: task names are <task id>.{settings.domain_prefix} "
                              "(DOMAIN_PREFIX)")
    else:
        task_id = target
    hostname = hostname_for_task(task_id, settings.domain_prefix)
    if hostname is None:
        raise UnknownName(f"{target!r} is not a task id (lower case, as in the task's ARN: 32 hex digits), "
                          f"a task ARN, or <task id>.{settings.domain_prefix}")
    return task_id, hostname


@dataclass(frozen=True)
class WaitOutcome:
    task_id: str
    hostname: str
    outcome: str  # "ready", "timed out", "never ready"
    seconds_waited: float
    wanted: Addresses | None = None  # the task's addresses at the last look, once it had any
    servers: tuple[ServerVerdict, ...] = ()  # what each server answered at the last look
    reason: str | None = None  # why not ready: the task's state, or what the servers answered

    @property
    def ready(self) -> bool:
        return self.outcome == "ready"

    def as_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "hostname": self.hostname, "ready": self.ready, "outcome": self.outcome,
                "seconds_waited": round(self.seconds_waited, 1), "reason": self.reason,
                "wanted": self.wanted.as_dict() if self.wanted else None,
                "servers": [verdict.as_dict() for verdict in self.servers]}


class _Never(Exception):
    """The task will never be ready: ends the wait (Waiter.until lets a check's exception through)."""


def wait_until_ready(task_id: str, hostname: str, lookup: TaskLookup, ask: AskServers, waiter: Waiter,
                     timeout: float = DEFAULT_TIMEOUT_SECONDS) -> WaitOutcome:
    started = waiter.clock()
    last = WaitOutcome(task_id, hostname, "timed out", 0.0, reason="not looked at yet")

    def look() -> tuple[bool, str]:
        nonlocal last
        wanted = wanted_addresses(lookup(task_id), waiter.clock() - started)
        if isinstance(wanted, NeverReady):
            raise _Never(wanted.reason)
        if isinstance(wanted, NotYet):
            last = WaitOutcome(task_id, hostname, "timed out", 0.0, reason=f"the task: {wanted.reason}")
            return False, last.reason
        servers = verdicts(ask(hostname), wanted)
        ready = all_ready(servers)
        last = WaitOutcome(task_id, hostname, "ready" if ready else "timed out", 0.0, wanted, servers,
                           None if ready else report_line(servers))
        return ready, last.reason or ""

    try:
        waiter.until(hostname, look, timeout, POLL_INTERVAL_SECONDS, ramp_up=True)
    except WaitTimedOut:
        pass
    except _Never as never:
        last = WaitOutcome(task_id, hostname, "never ready", 0.0, reason=str(never))
    return replace(last, seconds_waited=waiter.clock() - started)


def outcome_text(outcome: WaitOutcome) -> str:
    """Ready: a line, then what each server answered. Not ready: one line saying why, each server
    and its answer ("ns-1 (192.0.2.1): NXDOMAIN; ns-2 (...): A 203.0.113.5 (want 203.0.113.9)")."""
    if outcome.outcome == "never ready":
        return f"{outcome.hostname}: will never be ready: {outcome.reason}"
    if not outcome.ready:
        return f"{outcome.hostname}: not ready after {outcome.seconds_waited:.0f} s: {outcome.reason}"
    return "\n".join([f"{outcome.hostname}: ready after {outcome.seconds_waited:.0f} s",
                      *(f"  {verdict.server}: {verdict.answer}" for verdict in outcome.servers)])


def wait_for_task(target: str, settings: TaskDnsSettings, environ: Mapping[str, str], client: Callable[[str], Any],
                  waiter: Waiter, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> WaitOutcome:
    """The command: what it needs to know comes first (the name, the servers), so a mistake there
    is reported before anything is waited for."""
    task_id, hostname = task_of(target, settings)
    servers = name_servers(environ, lambda: client("route53"), settings.hosted_zone_id)
    lookup = EcsTaskLookup(client("ecs"), client("ec2"), settings.cluster_arn)
    return wait_until_ready(task_id, hostname, lookup, lambda name: ask_all(servers, name), waiter, timeout)
