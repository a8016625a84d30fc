"""A fault sweep over the AWS requests of a scenario, the way FoundationDB's simulation and Jepsen
test themselves: run the scenario once cleanly and record its requests; then, for every request
position and each fault, run it again in a fresh emulated account with that one request faulted,
let the platform recover the way it does in AWS, and check the scenario's invariants.

A position is one API call of the app's own clients (`chalicelib.shared.aws_clients.client`): one
per botocore `before-call`, so each page of a paginator counts, a call's retry attempts do not.
Faults are injected at the HTTP layer through botocore's event hooks, so botocore's retry mode,
error parsing and everything the app does above the wire run as deployed:

- FAILS: every attempt of the request is answered with HTTP 500 InternalError (retryable), so
  botocore gives up after its attempts and raises.
- RESPONSE_LOST: the first attempt reaches the emulator and takes effect, then botocore sees the
  connection close and sends it again; the retry meets the effect of the first attempt.
- DIES_AFTER: the request completes, then the invocation dies (`InvocationDied`, a BaseException,
  so no `except Exception` of the app catches it) and makes no further AWS request, as a process
  Lambda has ended would not.

A scenario is setup (the world before the run), run (its invocations, each retried as the platform
retries it: `Run.invoke`), recover (what comes after: the next scheduled run, the reconciler) and
check (the invariants). Every divergence names the scenario, position, request, fault and
invariant, which is enough to run that one case again (`Divergence.reproduce`).
"""

import enum
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session
from botocore.retries.quota import RetryQuota
from botocore.retries.standard import RetryQuotaChecker

from chalicelib.shared import aws_clients
from tests.certificates import leaked_fragments, pem_body
from tests.fault_injection import error_response


class InvocationDied(BaseException):
    """Lambda ended the process (a timeout, a crash) right after a request took effect."""


class Fault(enum.Enum):
    FAILS = "fails"
    RESPONSE_LOST = "response-lost"
    DIES_AFTER = "dies-after"


FAULTS = tuple(Fault)


@dataclass(frozen=True)
class Request:
    service: str
    operation: str

    def __str__(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass(frozen=True)
class Violation:
    """An invariant that does not hold, and how: `when` says at which point of the scenario."""

    invariant: str
    detail: str
    when: str = "at the end"


@dataclass(frozen=True)
class Divergence:
    scenario: str
    position: int
    request: str
    fault: str
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.scenario} #{self.position} {self.request} {self.fault}: {self.invariant}: {self.detail}"

    @property
    def reproduce(self) -> str:
        return f"FAULT_SWEEP_ONLY={self.scenario}:{self.position}:{self.fault}"


# --- the wire --------------------------------------------------------------------------------

class _Body:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def _json_error(request, code: str) -> AWSResponse:
    body = json.dumps({"__type": code, "message": "injected"}).encode()
    return AWSResponse(request.url, 500, {"Content-Type": "application/x-amz-json-1.1"}, _Body(body))


def retryable_error(request, service: str, protocol: str) -> AWSResponse:
    """HTTP 500 InternalError in the service's own error format: botocore's standard mode retries
    any 500, and the app sees the same ClientError it would get from AWS once botocore gives up."""
    if protocol in ("json", "rest-json"):
        return _json_error(request, "InternalError")
    if protocol == "ec2":
        body = ("<Response><Errors><Error><Code>InternalError</Code><Message>injected</Message></Error>"
                "</Errors></Response>")
        return AWSResponse(request.url, 500, {"Content-Type": "text/xml"}, _Body(body.encode()))
    return error_response(request, 500, "InternalError", xml_root="" if service == "s3" else "ErrorResponse")


def fresh_retry_quota(aws_client) -> None:
    """botocore's standard mode keeps a retry quota per client (500, 14 a retry, given back only by
    successes). A run's FAILS spends 56 of it, so without this the runs after a few of those would
    no longer be retried at all, and the sweep would test the quota. Each run starts with a full
    one, as a new container's client does."""
    service = aws_client.meta.service_model.service_id.hyphenize()
    handlers = aws_client.meta.events._emitter._handlers.prefix_search(f"after-call.{service}.Any")
    checkers = [handler.__self__ for handler in handlers if isinstance(getattr(handler, "__self__", None),
                                                                       RetryQuotaChecker)]
    if not checkers:
        raise RuntimeError(f"no retry quota found on the {service} client: has botocore changed?")
    for checker in checkers:
        checker._quota = RetryQuota()


# Sends a request the way botocore would, for RESPONSE_LOST: the emulator applies it, the
# response is dropped. A session of its own, so the app's connection pool is not disturbed.
_FORWARD = URLLib3Session()


class Wire:
    """Counts the app's AWS requests on the clients of `services` and faults the one at `position`."""

    def __init__(self, services: Sequence[str], fault: Fault | None = None, position: int | None = None):
        self.services = tuple(services)
        self.fault = fault
        self.position = position
        self.requests: list[Request] = []
        self.fired: Request | None = None
        self.dead = False  # the invocation died: nothing more reaches AWS until the next one
        self._protocol = ""
        self._forwarded = False

    def revive(self) -> None:
        """The next invocation is a new process."""
        self.dead = False

    @contextmanager
    def attached(self) -> Iterator["Wire"]:
        hooks = (("before-call", self._before_call), ("before-send", self._before_send),
                 ("after-call", self._after_call))
        clients = [aws_clients.client(service) for service in self.services]
        for one in clients:
            fresh_retry_quota(one)
            for event, hook in hooks:
                one.meta.events.register_first(event, hook)
        try:
            yield self
        finally:
            for one in clients:
                for event, hook in hooks:
                    one.meta.events.unregister(event, hook)

    def _targeted(self) -> bool:
        # Positions only grow, so the fault fires for one call at most, whatever comes after.
        return self.fault is not None and len(self.requests) - 1 == self.position

    def _before_call(self, model, **_):
        if self.dead:
            raise InvocationDied("the process is gone")
        self.requests.append(Request(model.service_model.service_name, model.name))
        self._protocol = model.service_model.protocol
        if self._targeted():
            self.fired = self.requests[-1]

    def _before_send(self, request, **_):
        if not self._targeted():
            return None
        if self.fault is Fault.FAILS:
            return retryable_error(request, self.fired.service, self._protocol)
        if self.fault is Fault.RESPONSE_LOST and not self._forwarded:
            self._forwarded = True
            _FORWARD.send(request).content  # noqa: B018 - read it all: the emulator has answered
            raise ConnectionClosedError(endpoint_url=request.url)
        return None

    def _after_call(self, **_):
        if self._targeted() and self.fault is Fault.DIES_AFTER:
            self.dead = True
            raise InvocationDied(f"died after request #{self.position} ({self.fired})")


# --- a run -----------------------------------------------------------------------------------

@dataclass
class Run:
    """One execution of a scenario: its invocations as the platform makes them, what they returned
    and raised, and the violations found along the way."""

    wire: Wire
    invocations: list[str] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    def invoke(self, name: str, call: Callable[[], Any], retries: int) -> Any:
        """`call` as the platform calls it: once, and again up to `retries` times while it fails or
        dies (SQS delivering a batch again, Lambda retrying an asynchronous event). The result, or
        None when every attempt failed."""
        for attempt in range(1 + retries):
            label = f"{name} (attempt {attempt + 1})"
            try:
                result = call()
            except InvocationDied as died:
                self.wire.revive()
                self.errors.append(died)
                self.invocations.append(f"{label}: died")
                continue
            except Exception as error:  # noqa: BLE001 - a failed invocation: the platform retries it
                self.errors.append(error)
                self.invocations.append(f"{label}: {type(error).__name__}: {error}")
                continue
            self.results.append(result)
            self.invocations.append(f"{label}: ok")
            return result
        return None

    def expect(self, violations: Iterable[Violation], when: str) -> None:
        self.violations += [Violation(v.invariant, v.detail, when) for v in violations]


@dataclass(frozen=True)
class Scenario:
    """setup() builds the world in a fresh account and returns it; run(run, world) makes the
    invocations (with their retries); recover(run, world) is what the platform does after;
    check(world) returns the violations at the end; notices(world) and secrets(world) feed the
    key-material check (what was sent out, and the private keys that must never appear)."""

    name: str
    services: tuple[str, ...]
    setup: Callable[[], Any]
    run: Callable[[Run, Any], None]
    recover: Callable[[Run, Any], None]
    check: Callable[[Any], list[Violation]]
    notices: Callable[[Any], list[str]] = lambda world: []
    secrets: Callable[[Any], list[str]] = lambda world: []


class ScenarioBroken(AssertionError):
    """The scenario's clean run already fails an invariant, or uses a service it does not declare:
    the sweep would measure the scenario, not the faults."""


# --- output and key material ---------------------------------------------------------------

# Loggers of libraries the app runs that can see key material, read at DEBUG during a run.
# botocore stays where chalicelib.shared.logs caps it (INFO), as in Lambda.
_LIBRARY_LOGGERS = ("acme", "josepy")


class _Collect(logging.Handler):
    def __init__(self, lines: list[str], format_record: Callable[[logging.LogRecord], str], thread: int):
        super().__init__(logging.DEBUG)
        self._lines, self._format, self._thread = lines, format_record, thread

    def emit(self, record):
        # The emulator and the DNS server run in other threads of this process: not the app's lines.
        if record.thread == self._thread:
            self._lines.append(self._format(record))


@contextmanager
def captured_output() -> Iterator[list[str]]:
    """Every log line the app's process writes meanwhile (the app's JSON lines at DEBUG, and its
    libraries' records), and what it prints (the EMF metrics), as text."""
    from chalicelib.shared.logs import logger

    lines: list[str] = []
    thread = threading.get_ident()
    app_logger = logging.getLogger(logger.name)
    app_handler = _Collect(lines, logger.registered_formatter.format, thread)
    root_handler = _Collect(lines, logging.Formatter("%(name)s %(levelname)s %(message)s").format, thread)
    levels = {name: logging.getLogger(name).level for name in (logger.name, *_LIBRARY_LOGGERS)}
    printed, errors = StringIO(), StringIO()
    with ExitStack() as stack:
        for name in levels:
            logging.getLogger(name).setLevel(logging.DEBUG)
        app_logger.addHandler(app_handler)
        logging.getLogger().addHandler(root_handler)
        stack.enter_context(redirect_stdout(printed))
        stack.enter_context(redirect_stderr(errors))
        try:
            yield lines
        finally:
            app_logger.removeHandler(app_handler)
            logging.getLogger().removeHandler(root_handler)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
            lines += [printed.getvalue(), errors.getvalue()]


_PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)
# JWK private members as JSON keys or in a dict's repr.
_JWK_PRIVATE_MEMBER = re.compile(r"""["'](d|p|q|dp|dq|qi)["']\s*:\s*["']""")


def private_key_blocks(text: str) -> list[str]:
    return _PRIVATE_KEY_BLOCK.findall(text)


def error_text(error: BaseException) -> str:
    """An error as anyone could see it: its message and repr, and those of what it was raised from."""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts += [f"{type(error).__name__}: {error}", repr(error)]
        error = error.__cause__ or error.__context__
    return "\n".join(parts)


def key_material_found(everything: str, secret_pems: Iterable[str]) -> list[str]:
    """What of a private key is in the text: a PEM block header, a JWK private member, or a run of
    40 characters of a known key's body (re-wrapped or JSON-escaped) that is not its public half."""
    found = []
    if "PRIVATE KEY" in everything:
        found.append("a 'PRIVATE KEY' PEM header")
    if _JWK_PRIVATE_MEMBER.search(everything):
        found.append("a JWK private member")
    for pem in set(secret_pems):
        fragments = leaked_fragments(pem, everything)
        if fragments:
            # Where in the key's body, never what: the report must not spread the key either.
            found.append(f"{len(fragments)} fragment(s) of a private key, the first from character "
                         f"{pem_body(pem).find(fragments[0])} of its body")
    return found


# --- the sweep -------------------------------------------------------------------------------

def full_plan(positions: int) -> list[tuple[int, Fault]]:
    """Every position with every fault, position by position; each position starts with the next
    fault, so every Nth entry of the plan still goes through all the faults."""
    return [(position, FAULTS[(position + shift) % len(FAULTS)])
            for position in range(positions) for shift in range(len(FAULTS))]


def sample_plan(positions: int, runs: int, seed: str) -> list[tuple[int, Fault]]:
    """`runs` entries of the full plan spread evenly over it, from an offset the seed chooses."""
    plan = full_plan(positions)
    if runs >= len(plan):
        return plan
    offset = random.Random(seed).randrange(len(plan))
    picks = {plan[(offset + i * len(plan) // runs) % len(plan)] for i in range(runs)}
    return sorted(picks, key=lambda pick: (pick[0], pick[1].value))


@dataclass
class SweepReport:
    scenario: str
    requests: list[Request]
    runs: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    seconds: float = 0.0


class Sweep:
    """Runs scenarios, each run in a fresh account made by `fresh_account` (which must also drop
    the app's cached adapters; the clients stay, with their retry quota refilled)."""

    def __init__(self, fresh_account: Callable[[], None]):
        self._fresh_account = fresh_account

    def record(self, scenario: Scenario) -> list[Request]:
        """The requests of a clean run, which must satisfy every invariant."""
        # The scenario's runs share the app's clients (building them takes longer than a run), and
        # only the ones it hooks may exist: see _require_declared_services.
        aws_clients.client.cache_clear()
        run, end = self._execute(scenario, Wire(scenario.services))
        problems = [f"{v.invariant} ({v.when}): {v.detail}" for v in run.violations]
        if problems:
            raise ScenarioBroken(f"{scenario.name}: the clean run diverges: {problems}; {run.invocations}")
        return run.wire.requests[:end]

    def run_one(self, scenario: Scenario, position: int, fault: Fault, recorded: Sequence[Request]) -> list[Divergence]:
        run, _end = self._execute(scenario, Wire(scenario.services, fault, position))
        violations = list(run.violations)
        if run.wire.requests[:position + 1] != list(recorded[:position + 1]):
            violations.append(Violation("determinism", f"the requests before the fault differ from the clean run's: "
                                        f"{_first_difference(run.wire.requests, recorded)}"))
        request = str(recorded[position])
        return [Divergence(scenario.name, position, request, fault.value, v.invariant,
                           f"{v.detail} ({v.when}; invocations: {'; '.join(run.invocations)})")
                for v in violations]

    def sweep(self, scenario: Scenario, plan: Callable[[int], list[tuple[int, Fault]]]) -> SweepReport:
        started = time.monotonic()
        recorded = self.record(scenario)
        report = SweepReport(scenario.name, recorded)
        for position, fault in plan(len(recorded)):
            report.divergences += self.run_one(scenario, position, fault, recorded)
            report.runs += 1
        report.seconds = time.monotonic() - started
        return report

    def _execute(self, scenario: Scenario, wire: Wire) -> tuple[Run, int]:
        """setup, run, recover, check; also the index where the run's own requests end."""
        self._fresh_account()
        world = scenario.setup()
        run = Run(wire)
        with wire.attached(), captured_output() as output:
            scenario.run(run, world)
            end = len(wire.requests)
            scenario.recover(run, world)
        _require_declared_services(scenario)
        run.expect(scenario.check(world), "at the end")
        everything = "\n".join([*output, *scenario.notices(world), *map(error_text, run.errors),
                                json.dumps(run.results, default=str)])
        run.expect([Violation("no key material", what)
                    for what in key_material_found(everything, scenario.secrets(world))], "in logs, notices, "
                   "results or errors")
        return run, end


def _require_declared_services(scenario: Scenario) -> None:
    # record() dropped the app's clients; any client beyond the hooked ones was built by the app
    # during a run, and its requests went uncounted and unfaulted.
    built = aws_clients.client.cache_info().currsize
    if built > len(scenario.services):
        raise ScenarioBroken(f"{scenario.name}: the app built {built} AWS clients, the scenario hooks "
                             f"{len(scenario.services)} ({', '.join(scenario.services)})")


def _first_difference(seen: Sequence[Request], recorded: Sequence[Request]) -> str:
    for index, (one, other) in enumerate(zip(seen, recorded, strict=False)):
        if one != other:
            return f"#{index} was {one}, clean run {other}"
    return f"{len(seen)} requests made, the clean run made {len(recorded)}"


def summary(reports: Sequence[SweepReport]) -> str:
    runs = sum(report.runs for report in reports)
    divergences = [d for report in reports for d in report.divergences]
    lines = [f"{runs} faulted runs, {len(divergences)} divergences ({sum(r.seconds for r in reports):.0f} s)"]
    lines += [f"  {report.scenario}: {len(report.requests)} requests, {report.runs} faulted runs, "
              f"{len(report.divergences)} divergences ({report.seconds:.1f} s)" for report in reports]
    lines += [f"  {d}\n    reproduce: {d.reproduce}" for d in divergences]
    return "\n".join(lines)
