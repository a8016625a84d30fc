"""Is a task's name ready: what the task should be answered with, and whether every name server
answers it. Pure functions of what was read.

Ready means every authoritative server answers the name with exactly the task's addresses: A its
public IPv4, AAAA its IPv6 addresses (none when it has none, so a stale AAAA is not ready either).
A name a client may be handed then resolves, wherever its resolver asks, to this task.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from operator_cli.wait.name_servers import QUERY_TYPES, Answer, ServerAnswers

# ECS is eventually consistent: DescribeTasks may not know a task for a moment after RunTask
# returned it. Past this, a task ECS does not know is one that will never be ready.
UNKNOWN_TASK_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class Addresses:
    """What the task's name should answer: public IPv4 (A) and IPv6 (AAAA)."""

    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()

    def for_type(self, record_type: str) -> tuple[str, ...]:
        return tuple(sorted(self.ipv4 if record_type == "A" else self.ipv6))

    def as_dict(self) -> dict[str, list[str]]:
        return {record_type: list(self.for_type(record_type)) for record_type in QUERY_TYPES}


@dataclass(frozen=True)
class TaskState:
    """What ECS and EC2 say of the task now."""

    phase: str  # "starting" (PROVISIONING to ACTIVATING), "running", or "stopping" (or stopped)
    last_status: str  # ECS's, for the messages
    has_network_interface: bool
    addresses: Addresses | None  # None: EC2 has not returned its network interface (yet)


@dataclass(frozen=True)
class NotYet:
    reason: str


@dataclass(frozen=True)
class NeverReady:
    reason: str


def wanted_addresses(state: TaskState | None, seconds_waited: float) -> Addresses | NotYet | NeverReady:
    """state: None when ECS does not know the task."""
    if state is None:
        if seconds_waited < UNKNOWN_TASK_GRACE_SECONDS:
            return NotYet("not known to ECS (yet)")
        return NeverReady("ECS does not know this task in the cluster (a typo, another cluster, or stopped over "
                          "an hour ago)")
    if state.phase == "stopping":
        return NeverReady(f"the task is stopping or stopped ({state.last_status}): its name is being removed")
    if not state.has_network_interface:
        if state.phase == "running":
            return NeverReady("the task has no network interface (awsvpc networking?): it never gets a name")
        return NotYet(f"{state.last_status or 'starting'}: no network interface yet")
    if state.addresses is None:
        return NotYet("its network interface is not visible in EC2 yet")
    if not (state.addresses.ipv4 or state.addresses.ipv6):
        if state.phase == "running":
            return NeverReady("the task has no public IP and no IPv6 address: it never gets a name (run it in a "
                              "public subnet with assignPublicIp ENABLED, or give it IPv6)")
        return NotYet(f"{state.last_status}: no public address yet")
    return state.addresses


@dataclass(frozen=True)
class ServerVerdict:
    server: str
    ready: bool
    answer: str  # what it answered, and what was wanted where it differs

    def as_dict(self) -> dict[str, Any]:
        return {"server": self.server, "ready": self.ready, "answer": self.answer}


def server_verdict(answers: ServerAnswers, wanted: Addresses) -> ServerVerdict:
    by_type = [(record_type, answers.by_type[record_type]) for record_type in QUERY_TYPES]
    problem = next((_problem(answer) for _, answer in by_type if _problem(answer)), None)
    if problem:
        return ServerVerdict(answers.server, False, problem)
    if any(answer.rcode == "NXDOMAIN" for _, answer in by_type):
        return ServerVerdict(answers.server, False, "NXDOMAIN")
    parts, ready = [], True
    for record_type, answer in by_type:
        have, want = tuple(sorted(answer.values)), wanted.for_type(record_type)
        if have == want:
            if have:
                parts.append(f"{record_type} {' '.join(have)}")
            continue
        ready = False
        parts.append(f"{record_type} {' '.join(have) or 'none'} (want {' '.join(want) or 'none'})")
    return ServerVerdict(answers.server, ready, ", ".join(parts) or "no addresses")


def _problem(answer: Answer) -> str | None:
    if answer.rcode is None:
        return answer.problem or "no answer"
    if answer.rcode not in ("NOERROR", "NXDOMAIN"):
        return answer.rcode
    if not answer.authoritative:
        return "not authoritative (AA flag clear): not a name server of the zone"
    return None


def verdicts(answers: Iterable[ServerAnswers], wanted: Addresses) -> tuple[ServerVerdict, ...]:
    return tuple(server_verdict(server_answers, wanted) for server_answers in answers)


def all_ready(server_verdicts: Sequence[ServerVerdict]) -> bool:
    return bool(server_verdicts) and all(verdict.ready for verdict in server_verdicts)


def report_line(server_verdicts: Iterable[ServerVerdict]) -> str:
    """One line, each server and what it answered: "ns-1 (192.0.2.1): NXDOMAIN; ns-2 (...): A ..."."""
    return "; ".join(f"{verdict.server}: {verdict.answer}" for verdict in server_verdicts)
