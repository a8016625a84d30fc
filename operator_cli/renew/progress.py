"""What `renew` says on stderr while its run goes on, for a person watching a terminal: what it is
doing, that it takes minutes, and where its log is. Never to a script (stderr not a terminal) nor
under --json. Pure functions; cli.py prints them before the run starts, so they stay on screen while
it waits.
"""

from operator_cli.invoke import follow_log_command, log_group

TAKES_MINUTES = "this can take several minutes: DNS propagation and ACME validation"


def shows_progress(stderr_is_terminal: bool, as_json: bool) -> bool:
    return stderr_is_terminal and not as_json


def invoking_lines(function_name: str, region: str) -> list[str]:
    return [f"invoking {function_name} in {region} ({TAKES_MINUTES})…",
            f"its log: {log_group(function_name)}; follow it with: {follow_log_command(function_name, region)}"]


def local_lines(certificates: int) -> list[str]:
    # The renewal code offers no progress hook; its own log lines (JSON, to stderr) say each step.
    return [f"renewing {certificates} certificate(s) here, in this process, with your credentials ({TAKES_MINUTES})…",
            "the renewal code's log lines (JSON) follow as it goes"]
