"""`python -m operator_cli` is `task-subdomains`."""

from operator_cli.cli import main

main(prog_name="task-subdomains")
