"""Run the chalice, infra and cfn-lint CLIs on a throwaway copy of the project.

The copy keeps `chalice deploy` from writing .chalice/deployed/ into the repository, and lets a
test change the stage configuration (buffered mode) and regenerate the policies and merge
templates there (`python -m infra --project-dir <copy>`). Its .chalice/deployments/ (chalice's
package cache) links to a directory in pytest's cache: with automatic_layer the dependencies
(manylinux wheels from PyPI) are packaged into a layer keyed on requirements.txt alone, so they
are downloaded once, not on every change to the app.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
COPIED = ("app.py", "requirements.txt", "chalicelib", "infra", ".chalice/config.json", ".chalice/policy-*.json",
          # What `make deploy` needs besides: the Makefile, the files its venv stamp is keyed on,
          # and the operator command it ends with.
          "Makefile", "requirements-dev.txt", "pyproject.toml", "operator_cli")
# Variables the app reads: chalice must take them from the stage, never from the test process.
APP_VARIABLES = ("DOMAIN_PREFIX", "HOSTED_ZONE_ID", "CLUSTER_ARN", "WORKSPACE", "CERTIFICATES",
                 "NOTIFY_EMAIL", "ACME_DIRECTORY_URL", "TASK_EVENTS_QUEUE_ARN", "HOSTNAME_EVENTS_QUEUE_ARN",
                 "EVENT_BUS_NAME")


def package_cache(request) -> Path:
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if cache is None:
        return request.getfixturevalue("tmp_path_factory").mktemp("chalice-deployments")
    return cache.mkdir("chalice-deployments")


def copy_project(destination: Path, cache: Path) -> Path:
    for pattern in COPIED:
        for source in PROJECT_DIR.glob(pattern):
            target = destination / source.relative_to(PROJECT_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
    (destination / ".chalice" / "deployments").symlink_to(cache, target_is_directory=True)
    return destination


def set_stage_variables(project: Path, stage: str, **variables: str) -> dict:
    """Set environment variables at stage level in the copy's .chalice/config.json; the new config."""
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    config["stages"][stage]["environment_variables"].update(variables)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return config


def add_stage(project: Path, stage: str, like: str, **variables: str) -> dict:
    """A new stage in the copy's .chalice/config.json: `like`'s settings, its own policy files, and
    these stage-level variables; the new config."""
    path = project / ".chalice" / "config.json"
    config = json.loads(path.read_text())
    settings = json.loads(json.dumps(config["stages"][like]))
    settings["environment_variables"].update(variables)
    for function, function_settings in settings["lambda_functions"].items():
        function_settings["iam_policy_file"] = f"policy-{stage}-{function}.json"
    config["stages"][stage] = settings
    path.write_text(json.dumps(config, indent=2) + "\n")
    return config


def run_make(project: Path, *arguments: str, aws: Mapping[str, str]) -> subprocess.CompletedProcess:
    """`make` in the copy, with this checkout's virtual environment, which it must never install
    into: the copy's install stamp (named as the Makefile names it, from the copy's requirement
    files) is declared up to date with `-o`, so even a working tree whose requirements changed
    since `make test` installed them leaves the shared environment alone."""
    venv = BIN_DIR.parent
    keyed_on = b"".join((project / name).read_bytes() for name in ("requirements.txt", "requirements-dev.txt",
                                                                   "pyproject.toml"))
    stamp = f"{venv}/.installed-{hashlib.sha1(keyed_on).hexdigest()[:12]}"
    return _run(["make", "--no-print-directory", "-o", stamp, f"VENV={venv}", *arguments], cwd=project,
                env=chalice_environment(aws))


def run_operator_command(project: Path, arguments: list[str], aws: Mapping[str, str]) -> subprocess.CompletedProcess:
    """`task-subdomains` as installed, in the copy (it reads the copy's .chalice/config.json)."""
    return _run([str(BIN_DIR / "task-subdomains"), *arguments], cwd=project, env=chalice_environment(aws))


def run_infra(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    """`python -m infra` (`make policies`) for the copy: its configuration, its files."""
    return _run([sys.executable, "-m", "infra", "--project-dir", str(project), *arguments], cwd=project,
                env=chalice_environment({}))


def chalice_environment(aws: Mapping[str, str]) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith("AWS_") and name not in APP_VARIABLES}
    return {**inherited, **aws}


def run_chalice(project: Path, *arguments: str, aws: Mapping[str, str]) -> subprocess.CompletedProcess:
    return _run([str(BIN_DIR / "chalice"), *arguments], cwd=project, env=chalice_environment(aws))


def run_cfn_lint(template: Path) -> subprocess.CompletedProcess:
    return _run([str(BIN_DIR / "cfn-lint"), str(template)], cwd=PROJECT_DIR, env=dict(os.environ))


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def explain(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
