"""python -m infra.deploy deploy|destroy --stage STAGE (what `make deploy` and `make destroy` run).

deploy   [--certificate-readers ARN,ARN]   everything the stage needs, in order, then doctor
destroy                                    the stage's functions and supporting stack; keeps the
                                           certificate bucket and the ACME account key
The region is the stage's CLUSTER_ARN's; credentials are the SDK's own (AWS_PROFILE, ...).
"""

import argparse
import signal
import sys
from pathlib import Path

from infra.deploy.stage import StageDeployment
from infra.deployments import PROJECT_DIR


def exit_on_termination(signum: int, _frame) -> None:
    """A terminal closed or a CI job cancelled: exit through the `finally` blocks, so the stage's
    lock is released (only SIGKILL leaves it behind)."""
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    for terminating in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(terminating, exit_on_termination)
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("deploy", "destroy"))
    parser.add_argument("--stage", required=True, help="a stage of .chalice/config.json")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="the project (default: this one)")
    parser.add_argument("--certificate-readers", default=None, metavar="ARN,ARN",
                        help="the task roles that read the certificate's key at boot (default: as deployed before; "
                             "none on a first deploy; an empty value removes them)")
    arguments = parser.parse_args(argv)
    deployment = StageDeployment(project_dir=arguments.project_dir.resolve(), stage=arguments.stage)
    if arguments.command == "deploy":
        return deployment.deploy(arguments.certificate_readers)
    return deployment.destroy()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
