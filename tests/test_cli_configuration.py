"""Where the command's configuration comes from, and what a bad one looks like: one line, naming it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.deployments import CHALICE_DIR, load_config
from operator_cli.configuration import default_chalice_dir, load_operator_config
from tests.cli_support import run, set_up_deployment

TASK_DNS_BAD = [("CLUSTER_ARN", "users"), ("HOSTED_ZONE_ID", "not a zone"), ("DOMAIN_PREFIX", "not a name!")]
RENEWAL_BAD = [("CERTIFICATES", "[{not json"), ("WORKSPACE", "a/b")]
# Each command, with the bad values of the variables it reads.
COMMANDS = {("status",): TASK_DNS_BAD + RENEWAL_BAD, ("doctor",): TASK_DNS_BAD + RENEWAL_BAD,
            ("renew", "--local"): RENEWAL_BAD, ("reconcile", "--local", "--dry-run"): TASK_DNS_BAD}
CASES = [(command, variable, value) for command, bad in COMMANDS.items() for variable, value in bad]


@pytest.fixture
def configured(cluster, monkeypatch):
    set_up_deployment(cluster, monkeypatch, "letsencrypt-staging")


def assert_one_line_naming(result, variable: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: configuration:")
    assert result.output.count("\n") == 1, result.output
    assert variable in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command, variable, value", CASES,
                         ids=[f"{' '.join(command)}: {variable}" for command, variable, _ in CASES])
def test_a_bad_variable_is_one_line_naming_it(configured, monkeypatch, command, variable, value):
    monkeypatch.setenv(variable, value)

    assert_one_line_naming(run(*command), variable)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_missing_variable_is_one_line_naming_it(configured, monkeypatch, command):
    variable = "WORKSPACE" if command[0] == "renew" else "HOSTED_ZONE_ID"
    monkeypatch.delenv(variable)

    assert_one_line_naming(run(*command), variable)


def test_an_unknown_stage_is_one_line_listing_the_stages(configured):
    result = run("--stage", "nosuch", "status")

    assert_one_line_naming(result, "nosuch")
    assert all(stage in result.output for stage in load_config()["stages"])


def test_a_stage_supplies_the_variables_and_the_environment_overrides_them():
    stage = load_config()["stages"]["prod"]["environment_variables"]

    config = load_operator_config("prod", {"DOMAIN_PREFIX": "override.example.com"})

    assert config.task_dns().domain_prefix == "override.example.com"
    assert config.task_dns().cluster_arn == stage["CLUSTER_ARN"]
    assert config.renewal().workspace == stage["WORKSPACE"]
    assert [spec.domains for spec in config.renewal().certificates] == [
        tuple(item["domains"]) for item in json.loads(stage["CERTIFICATES"])]
    assert config.lambda_name("renew_certificates") == "task-subdomains-prod-renew_certificates"


def test_without_a_stage_only_the_environment_counts():
    config = load_operator_config(None, {"DOMAIN_PREFIX": "only.example.com"})

    assert config.task_dns_environment == {"DOMAIN_PREFIX": "only.example.com"}
    assert config.lambda_name("renew_certificates") is None


def test_the_console_script_is_installed_in_the_venv():
    # `make test` and `make demo` install the project (pyproject.toml) into .venv.
    script = Path(sys.executable).parent / "task-subdomains"
    assert script.exists(), f"{script} is missing: run `make test` (or `.venv/bin/pip install -e . --no-deps`)"

    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert all(command in result.stdout for command in ("status", "doctor", "renew", "reconcile"))


def test_the_stage_is_read_from_the_project_in_the_current_directory_first(tmp_path):
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text("{}")

    assert default_chalice_dir(tmp_path) == tmp_path / ".chalice"
    assert default_chalice_dir(tmp_path / "elsewhere") == CHALICE_DIR
