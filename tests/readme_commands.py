"""The commands the README gives users: its fenced code blocks, read as a shell would."""

import re
import shlex
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def code_lines() -> list[str]:
    """Every line of the README's fenced code blocks (indented ones too), continuations joined."""
    lines = []
    for block in re.findall(r"^[ ]*```[a-z]*\n(.*?)^[ ]*```", README, flags=re.MULTILINE | re.DOTALL):
        lines += block.replace("\\\n", " ").splitlines()
    return lines


def cli_lines() -> list[str]:
    """The README's `task-subdomains` command lines."""
    return [line.strip() for line in code_lines() if re.match(r"\s*(\.venv/bin/)?task-subdomains ", line)]


def cli_arguments(line: str, stage: str | None = None) -> list[str]:
    """The line's arguments after the command, its stage replaced by `stage` when given."""
    arguments = shlex.split(line.split("#")[0])[1:]
    if stage is not None:
        arguments = [stage if previous == "--stage" else argument
                     for previous, argument in zip(["", *arguments[:-1]], arguments, strict=True)]
    return arguments
