"""The `task-subdomains` command line: options, exit codes, and errors as one line each.

Exit codes: 0 all is well; 1 what was asked about is not (a certificate missing or expiring
within 14 days, a failed check, a run that failed); 2 the command could not find out
(configuration, credentials, AWS refused).
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
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from chalicelib.certificates.renewal import Clocks, InvalidRequest, RenewalFailed
from chalicelib.shared.aws_clients import client as app_client
from chalicelib.shared.configuration import ConfigurationError
from chalicelib.shared.functions import RECONCILE_TASK_DNS, RENEW_CERTIFICATES
from chalicelib.shared.logs import logger
from operator_cli.ca_identity import fetch_directory
from operator_cli.checks import any_failed
from operator_cli.configuration import (
    OperatorConfig,
    StageConfigError,
    default_chalice_dir,
    load_operator_config,
)
from operator_cli.doctor import Doctor, describe_aws_error
from operator_cli.invoke import (
    InvocationFailed,
    invoke,
    invoke_async,
    lambda_invoke_client,
    reconcile_locally,
    renew_locally,
    renewal_payload,
)
from operator_cli.name_servers import NoNameServers
from operator_cli.render import checks_text, reconcile_text, renewal_text, status_text
from operator_cli.renewal_information import RenewalInformation
from operator_cli.status import read_status
from operator_cli.task_status import task_event_writer
from operator_cli.wait import DEFAULT_TIMEOUT_SECONDS, UnknownName, outcome_text, wait_for_task

EXIT_PROBLEM = 1
EXIT_CANNOT_TELL = 2


@dataclass(frozen=True)
class Runtime:
    """What the commands talk to; tests pass their own as click's `obj`."""

    client: Callable[[str], Any] = app_client
    lambda_client: Callable[[], Any] = lambda_invoke_client
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clocks: Clocks = Clocks()
    fetch_directory: Callable[[str], Any] = fetch_directory
    renewal_information: Callable[[str], RenewalInformation] = RenewalInformation
    chalice_dir: Path | None = None  # None: default_chalice_dir(the current directory)


@dataclass(frozen=True)
class Session:
    runtime: Runtime
    stage: str | None

    def config(self) -> OperatorConfig:
        chalice_dir = self.runtime.chalice_dir or default_chalice_dir(Path.cwd())
        return load_operator_config(self.stage, os.environ, chalice_dir)


class CannotTell(click.ClickException):
    exit_code = EXIT_CANNOT_TELL


class Failed(click.ClickException):
    exit_code = EXIT_PROBLEM


def reports_errors(command: Callable) -> Callable:
    """Turns the errors an operator can act on into one line that says what to do, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ConfigurationError, StageConfigError, InvalidRequest) as error:
            raise CannotTell(f"configuration: {error}") from None
        except NoCredentialsError:
            raise CannotTell("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                             "(the standard SDK settings)") from None
        except NoRegionError:
            raise CannotTell("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION)") from None
        except EndpointConnectionError as error:
            raise CannotTell(f"cannot reach AWS at {error.kwargs.get('endpoint_url')}: check the network and "
                             "AWS_ENDPOINT_URL (unset it for real AWS)") from None
        except (ClientError, BotoCoreError) as error:
            raise CannotTell(f"AWS refused: {describe_aws_error(error)}") from None
        except (InvocationFailed, RenewalFailed) as error:
            raise Failed(str(error)) from None

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
@click.pass_context
def main(ctx: click.Context, stage: str | None) -> None:
    """Operate task-subdomains: certificates, task records, and the set-up around them.

    AWS credentials, region and endpoint come from the standard SDK settings (AWS_PROFILE,
    AWS_REGION, AWS_ENDPOINT_URL, ...), as for the functions themselves.
    """
    runtime = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    ctx.obj = Session(runtime, stage)
    ctx.with_resource(app_logs_to_stderr())


@main.command()
@json_option
@click.pass_obj
@reports_errors
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
@reports_errors
def doctor(session: Session, fix: bool, as_json: bool) -> None:
    """Check the set-up: zones, CAA, negative caching, ACME account, bucket, deployed functions.

    One line per check: ok, warn or fail (skip: not checked, and why). Exits 1 on any fail.
    """
    runtime = session.runtime
    checks = Doctor(session.config(), runtime.client, runtime.fetch_directory).run(fix=fix)
    emit(as_json, {"ok": not any_failed(checks), "checks": [c.as_dict() for c in checks]}, checks_text(checks))
    if any_failed(checks):
        click.get_current_context().exit(EXIT_PROBLEM)


@main.command()
@click.option("--force", is_flag=True, help="Issue even when the certificate is not due.")
@click.option("--name", "names", metavar="DOMAIN", multiple=True,
              help="Only the certificate(s) containing this name (repeatable).")
@click.option("--local", is_flag=True, help="Run the renewal code here, with your credentials, not the function.")
@click.option("--async", "run_async", is_flag=True,
              help="Queue the invocation and return (follow the function's log for the outcome).")
@json_option
@click.pass_obj
@reports_errors
def renew(session: Session, force: bool, names: tuple[str, ...], local: bool, run_async: bool,
          as_json: bool) -> None:
    """Renew certificates that are due (or --force), and print the outcome.

    Invokes the deployed renew_certificates with {"force": ..., "names": [...]}.
    """
    config = session.config()
    settings = config.renewal()
    if names:
        settings = settings.restricted_to(names)  # a name no certificate has is refused here, before any call
    if local:
        # The run's metric line (Embedded Metric Format, printed) goes with its logs, to stderr.
        with redirect_stdout(sys.stderr):
            result = renew_locally(settings, force, session.runtime.clocks)
        emit(as_json, result, renewal_text(result))
        return
    function = _deployed(config, RENEW_CERTIFICATES, "renew")
    payload = renewal_payload(force, names)
    if run_async:
        code = invoke_async(session.runtime.lambda_client(), function, payload)
        emit(as_json, {"function": function, "status_code": code, "payload": payload},
             f"queued {function} with {json.dumps(payload)} (status {code}); follow it with "
             f"`aws logs tail /aws/lambda/{function} --follow`")
        return
    result = invoke(session.runtime.lambda_client(), function, payload)
    emit(as_json, result, renewal_text(result) if isinstance(result, dict) else str(result))


@main.command()
@click.option("--dry-run", is_flag=True, help="Only say what would change.")
@click.option("--local", is_flag=True, help="Run the reconcile code here, with your credentials, not the function.")
@json_option
@click.pass_obj
@reports_errors
def reconcile(session: Session, dry_run: bool, local: bool, as_json: bool) -> None:
    """Make the task records match the running tasks (what reconcile_task_dns does every 10 minutes)."""
    config = session.config()
    if local:
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
@reports_errors
def wait(session: Session, task: str, timeout: float, as_json: bool) -> None:
    """Wait until every name server of the zone answers the task's name with its addresses.

    TASK_ID|HOSTNAME: the task's id, its ARN, or <task id>.<DOMAIN_PREFIX>. The zone's name servers
    are asked directly, never a caching resolver, so waiting caches no "no such name" anywhere;
    TASK_SUBDOMAINS_NAMESERVERS=host:port,... asks those instead. Exits 0 when ready; 1 on timeout
    (saying what each server answered) or when the task will never be ready (stopped, unknown to ECS,
    no public address).
    """
    config = session.config()
    try:
        outcome = wait_for_task(task, config.task_dns(), config.task_dns_environment, session.runtime.client,
                                session.runtime.clocks.waiter, timeout)
    except (UnknownName, NoNameServers) as error:
        raise CannotTell(str(error)) from None
    if not outcome.ready and not as_json:
        raise Failed(outcome_text(outcome))  # one line: what each server answered, or why never
    emit(as_json, outcome.as_dict(), outcome_text(outcome))
    if not outcome.ready:
        click.get_current_context().exit(EXIT_PROBLEM)


def _deployed(config: OperatorConfig, function: str, command: str) -> str:
    name = config.lambda_name(function)
    if name is None:
        raise CannotTell(f"{command} invokes the deployed {function}, named after its stage: give --stage NAME, "
                         "or run the same code here with --local")
    return name
