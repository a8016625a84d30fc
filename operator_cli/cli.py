"""The `task-subdomains` command line: options, exit codes, and errors as one line each.

Exit codes (errors.py maps every error to one): 0 all is well; 1 what was asked about is not (a
certificate missing or expiring within 14 days, a task record, a failed check, a run that failed);
2 the command could not find out (configuration, no credentials, no region, access denied, not
deployed). Under --json an error is a JSON document too: {"error": ..., "exit_code": ...}; a
renewal that failed for some certificates adds "outcomes", the function's answer for each.
"""

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chalicelib.certificates.renewal import Clocks, RenewalFailed
from chalicelib.certificates.settings import RenewalSettings
from chalicelib.shared.aws_clients import client as app_client
from chalicelib.shared.functions import RECONCILE_TASK_DNS, RENEW_CERTIFICATES
from chalicelib.shared.logs import logger
from operator_cli.aws_settings import applied, choose_region, require_credentials, sdk_region
from operator_cli.configuration import OperatorConfig, default_chalice_dir, load_operator_config
from operator_cli.doctor.ca_identity import fetch_directory
from operator_cli.doctor.checks import checks_text
from operator_cli.doctor.doctor import Doctor
from operator_cli.errors import (
    EXIT_PROBLEM,
    CannotTell,
    ProblemFound,
    checks_exit_code,
    exit_code_and_message,
    renewal_exit_code,
)
from operator_cli.invoke import (
    InvocationFailed,
    follow_log_command,
    invoke,
    invoke_async,
    lambda_invoke_client,
    log_group,
)
from operator_cli.reconcile import reconcile_locally, reconcile_text
from operator_cli.renew.outcomes import certificate_outcomes, failed_run_answer
from operator_cli.renew.progress import invoking_lines, local_lines, shows_progress
from operator_cli.renew.render import failure_headline, renewal_text
from operator_cli.renew.runs import renew_locally, renewal_payload
from operator_cli.status.render import status_text
from operator_cli.status.renewal_information import RenewalInformation
from operator_cli.status.status import read_status
from operator_cli.status.task_status import task_event_writer
from operator_cli.wait.wait import DEFAULT_TIMEOUT_SECONDS, outcome_text, wait_for_task


@dataclass(frozen=True)
class Runtime:
    """What the commands talk to; tests pass their own as click's `obj`."""

    client: Callable[[str], Any] = app_client
    lambda_client: Callable[[], Any] = lambda_invoke_client
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clocks: Clocks = Clocks()
    fetch_directory: Callable[[str], Any] = fetch_directory
    renewal_information: Callable[[str], RenewalInformation] = RenewalInformation
    # Is someone watching stderr (renew's progress lines), or a script? Tests force either.
    stderr_is_terminal: Callable[[], bool] = field(default=lambda: sys.stderr.isatty())
    chalice_dir: Path | None = None  # None: default_chalice_dir(the current directory)


@dataclass
class Session:
    runtime: Runtime
    stage: str | None
    region: str | None = None  # --region
    profile: str | None = None  # --profile
    _config: OperatorConfig | None = None

    def config(self) -> OperatorConfig:
        if self._config is None:
            chalice_dir = self.runtime.chalice_dir or default_chalice_dir(Path.cwd())
            self._config = load_operator_config(self.stage, os.environ, chalice_dir)
        return self._config

    @contextmanager
    def aws(self) -> Iterator[None]:
        """Region and credentials by the one rule (aws_settings.py), in force while the command runs."""
        cluster_arn = self.config().task_dns_environment.get("CLUSTER_ARN")
        choice = choose_region(self.region, os.environ, sdk_region(self.profile), cluster_arn)
        with applied(choice.region, self.profile):
            require_credentials()
            yield


def runs_command(command: Callable) -> Callable:
    """Runs a command with the stage's region and credentials, and turns the errors an operator can
    act on into one line that says what to do (a JSON document under --json), not a traceback."""

    @functools.wraps(command)
    def wrapper(session: Session, *args, **kwargs):
        try:
            with session.aws():
                return command(session, *args, **kwargs)
        except Exception as error:  # exit_code_and_message decides which; the others are re-raised
            found = exit_code_and_message(error)
            if found is None:
                raise
            code, message = found
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": message, "exit_code": code}, indent=2))
                click.get_current_context().exit(code)
            exception = click.ClickException(message)
            exception.exit_code = code
            raise exception from None

    return wrapper


@contextmanager
def app_logs_to_stderr() -> Iterator[None]:
    """The app's JSON log lines go to stderr while a command runs, so stdout carries only its answer
    (`--json` stays parseable)."""
    handler = getattr(logger, "registered_handler", None)
    previous = handler.setStream(sys.stderr) if hasattr(handler, "setStream") else None
    try:
        yield
    finally:
        if previous is not None:
            handler.setStream(previous)


def emit(as_json: bool, document: Any, text: str) -> None:
    click.echo(json.dumps(document, indent=2, default=str) if as_json else text)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="task-subdomains", prog_name="task-subdomains")
@click.option("--stage", metavar="NAME", help="Read this stage's variables from .chalice/config.json (of the current "
              "directory, else of this checkout); variables set in the environment override them. Without it: the "
              "environment alone.")
@click.option("--region", metavar="REGION", help="The AWS region. Default: AWS_REGION, else the SDK's own setting "
              "(AWS_DEFAULT_REGION, the profile's region), else the region of the stage's CLUSTER_ARN.")
@click.option("--profile", metavar="NAME", help="The AWS profile (of the SDK's config files); wins over credentials "
              "set in the environment.")
@click.pass_context
def main(ctx: click.Context, stage: str | None, region: str | None, profile: str | None) -> None:
    """Operate task-subdomains: certificates, task records, and the set-up around them.

    AWS credentials and endpoint come from the standard SDK settings (AWS_PROFILE,
    AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...), as for the functions themselves; the region from
    --region, AWS_REGION, the SDK's settings, else the stage's CLUSTER_ARN.
    """
    runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    ctx.obj = Session(runtime, stage, region, profile)
    ctx.with_resource(app_logs_to_stderr())


@main.command()
@json_option
@click.pass_obj
@runs_command
def status(session: Session, as_json: bool) -> None:
    """Certificates (serial, expiry, when due, where stored) and task records.

    Exits 1 when a certificate is missing, unusable, or expires within 14 days, or a task record is not
    as the running tasks want it (a running task without its record, a record of a task that no
    longer runs): the message names the function that should have written or removed it.
    """
    config = session.config()
    runtime = session.runtime
    report = read_status(config.task_dns(), config.renewal(), runtime.client, runtime.now(),
                         runtime.renewal_information, task_event_writer(config.task_events_queue_arn))
    emit(as_json, report.as_dict(), status_text(report))
    if report.needs_attention:
        click.get_current_context().exit(EXIT_PROBLEM)


@main.command()
@click.option("--fix", is_flag=True, help="Lower the zone's negative-caching TTL (SOA TTL and minimum) to 60 s.")
@json_option
@click.pass_obj
@runs_command
def doctor(session: Session, fix: bool, as_json: bool) -> None:
    """Check the set-up: zones, CAA, negative caching, ACME account, bucket, deployed functions.

    One line per check: ok, warn or fail (skip: not checked, and why; error: could not check). Exits 1
    on any fail, else 2 on any error.
    """
    runtime = session.runtime
    checks = Doctor(session.config(), runtime.client, runtime.fetch_directory).run(fix=fix)
    code = checks_exit_code(checks)
    emit(as_json, {"ok": code == 0, "exit_code": code, "checks": [c.as_dict() for c in checks]}, checks_text(checks))
    if code:
        click.get_current_context().exit(code)


@main.command()
@click.option("--force", is_flag=True, help="Issue even when the certificate is not due.")
@click.option("--name", "names", metavar="DOMAIN", multiple=True,
              help="Only the certificate(s) containing this name (repeatable).")
@click.option("--local", is_flag=True, help="Run the renewal code here, with your credentials, not the function.")
@click.option("--async", "run_async", is_flag=True,
              help="Queue the invocation and return (follow the function's log for the outcome).")
@json_option
@click.pass_obj
@runs_command
def renew(session: Session, force: bool, names: tuple[str, ...], local: bool, run_async: bool,
          as_json: bool) -> None:
    """Renew certificates that are due (or --force), and print the outcome.

    Invokes the deployed renew_certificates with {"force": ..., "names": [...]}. On a terminal, says
    what it is doing while it waits and where to follow the function's log. One line per
    certificate: issued and stored, unchanged (not due), or failed with its error; exits 1 when one
    failed, naming those issued and stored beside it.
    """
    config = session.config()
    settings = config.renewal()
    if names:
        settings = settings.restricted_to(names)  # a name no certificate has is refused here, before any call
    progress = shows_progress(session.runtime.stderr_is_terminal(), as_json)
    if local:
        if progress:
            _say(local_lines(len(settings.certificates)))

        def run_here() -> dict[str, Any]:
            # The run's metric line (Embedded Metric Format, printed) goes with its logs, to stderr.
            with redirect_stdout(sys.stderr):
                return renew_locally(settings, force, session.runtime.clocks)

        _print_renewal(run_here, as_json, settings, function_log=None)
        return
    function = _deployed(config, RENEW_CERTIFICATES, "renew")
    payload = renewal_payload(force, names)
    lambda_client = session.runtime.lambda_client()
    region = lambda_client.meta.region_name  # the function's, and so its log's
    if run_async:
        code = invoke_async(lambda_client, function, payload)
        emit(as_json, {"function": function, "status_code": code, "payload": payload},
             f"queued {function} with {json.dumps(payload)} (status {code}); follow it with "
             f"`{follow_log_command(function, region)}`")
        return
    if progress:
        _say(invoking_lines(function, region))
    _print_renewal(lambda: invoke(lambda_client, function, payload), as_json, settings, log_group(function))


def _print_renewal(run: Callable[[], Any], as_json: bool, settings: RenewalSettings, function_log: str | None) -> None:
    """Runs the renewal and prints its answer: per certificate, or, when it failed for some, what it
    did to each one; exits 1 when one failed (errors.py decides)."""
    try:
        answer = run()
    except (RenewalFailed, InvocationFailed) as error:
        answer = failed_run_answer(error)
        if answer is None:
            raise  # it failed before its certificates: the error alone says it, as for any command
    if not isinstance(answer, dict):
        emit(as_json, answer, str(answer))
        return
    outcomes = certificate_outcomes(answer, settings)
    code = renewal_exit_code(outcomes)
    document = {"error": failure_headline(outcomes), "exit_code": code, "outcomes": answer} if code else answer
    emit(as_json, document, renewal_text(outcomes, function_log))
    if code:
        click.get_current_context().exit(code)


def _say(lines: list[str]) -> None:
    for line in lines:
        click.echo(line, err=True)


@main.command()
@click.option("--dry-run", is_flag=True, help="Only say what would change.")
@click.option("--local", is_flag=True, help="Run the reconcile code here, with your credentials, not the function.")
@json_option
@click.pass_obj
@runs_command
def reconcile(session: Session, dry_run: bool, local: bool, as_json: bool) -> None:
    """Make the task records match the running tasks (what reconcile_task_dns does every 10 minutes)."""
    config = session.config()
    if local:
        # The run's metric lines (Embedded Metric Format, printed) go with its logs, to stderr.
        with redirect_stdout(sys.stderr):
            result = reconcile_locally(config.task_dns(), session.runtime.client, dry_run)
    else:
        config.task_dns()  # the same configuration errors as --local, before anything is invoked
        result = invoke(session.runtime.lambda_client(), _deployed(config, RECONCILE_TASK_DNS, "reconcile"),
                        {"dry_run": dry_run})
    emit(as_json, result, reconcile_text(result) if isinstance(result, dict) else str(result))


@main.command()
@click.argument("task", metavar="TASK_ID|HOSTNAME")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT_SECONDS, show_default=True,
              metavar="SECONDS", help="Give up after this long (exit 1).")
@json_option
@click.pass_obj
@runs_command
def wait(session: Session, task: str, timeout: float, as_json: bool) -> None:
    """Wait until every name server of the zone answers the task's name with its addresses.

    TASK_ID|HOSTNAME: the task's id, its ARN, or <task id>.<DOMAIN_PREFIX>. The zone's name servers
    are asked directly, never a caching resolver, so waiting caches no "no such name" anywhere;
    TASK_SUBDOMAINS_NAMESERVERS=host:port,... asks those instead. Exits 0 when ready; 1 on timeout
    (saying what each server answered) or when the task will never be ready (stopped, unknown to ECS,
    no public address).
    """
    config = session.config()
    outcome = wait_for_task(task, config.task_dns(), config.task_dns_environment, session.runtime.client,
                            session.runtime.clocks.waiter, timeout)
    if not outcome.ready and not as_json:
        raise ProblemFound(outcome_text(outcome))  # one line: what each server answered, or why never
    emit(as_json, outcome.as_dict(), outcome_text(outcome))
    if not outcome.ready:
        click.get_current_context().exit(EXIT_PROBLEM)


def _deployed(config: OperatorConfig, function: str, command: str) -> str:
    name = config.lambda_name(function)
    if name is None:
        raise CannotTell(f"{command} invokes the deployed {function}, named after its stage: give --stage NAME, "
                         "or run the same code here with --local")
    return name
