"""The README is for users: its size, its order, and commands that run as written.

Its make commands are Makefile targets the tests run (`make deploy`/`make destroy` in
test_make_deploy.py, `make test` in CI, `make demo` in test_demo.py); its `task-subdomains` command
lines are parsed by the command's own parser, so a renamed option or command fails here.
"""

import re
import shlex
from pathlib import Path

import click
import pytest

from operator_cli.cli import main
from tests.readme_commands import README, cli_arguments, cli_lines, code_lines

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ["Quick start", "Deploy", "Verify", "Operate", "Configure", "Troubleshoot", "Tear down"]


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return {match for line in makefile.splitlines()
            for match in re.findall(r"^([a-z][a-z-]*):", line)}


def test_readme_is_at_most_20_kb():
    assert len(README.encode()) <= 20_000


def test_readme_sections_come_in_the_users_order():
    headings = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert headings == SECTIONS


def test_readme_opens_with_the_two_set_up_commands():
    first_block = README.split("```", 2)[1]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]


def test_every_make_command_in_the_readme_is_a_target():
    commands = [line.split("#")[0].strip() for line in code_lines() if line.strip().startswith("make ")]
    assert {"make demo", "make test", "make deploy STAGE=prod", "make destroy STAGE=prod"} <= set(commands)
    for command in commands:
        assert shlex.split(command)[1] in make_targets(), command


# click 8.2 keeps the subcommand's name in protected_args (deprecated, still there until click 9).
@pytest.mark.filterwarnings("ignore:'protected_args' is deprecated:DeprecationWarning")
@pytest.mark.parametrize("line", cli_lines())
def test_every_task_subdomains_command_in_the_readme_parses(line):
    context = main.make_context("task-subdomains", cli_arguments(line))
    name, command, rest = main.resolve_command(context, context.protected_args + context.args)
    command.make_context(name, rest, parent=context)  # raises click.UsageError on a wrong option


@pytest.mark.filterwarnings("ignore:'protected_args' is deprecated:DeprecationWarning")
def test_the_parse_check_refuses_a_wrong_option():
    context = main.make_context("task-subdomains", ["--stage", "prod", "renew", "--forced"])
    name, command, rest = main.resolve_command(context, context.protected_args + context.args)
    with pytest.raises(click.UsageError):
        command.make_context(name, rest, parent=context)


def test_no_placeholder_in_a_readme_command_is_a_shell_redirect():
    # `--flag <value>` pasted into a shell reads a file named "value": never in a command line.
    for line in code_lines():
        assert not re.search(r"(^|\s)<[^>]+>", line), line
