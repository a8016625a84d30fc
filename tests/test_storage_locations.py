"""`python -m infra` (make policies) refuses certificates, of one stage or two, that share where they
are stored: each run would overwrite the other's objects, and one stage's role could write the
other's."""

import copy
import json
import shutil
from pathlib import Path

import pytest

from infra.__main__ import main as infra_main
from infra.deployments import DeploymentConfigError, load_config
from infra.iam_policies import policy_files

PROJECT = Path(__file__).resolve().parent.parent


def certificates_of(config: dict, stage: str) -> list[dict]:
    return json.loads(config["stages"][stage]["environment_variables"]["CERTIFICATES"])


def with_certificates(config: dict, stage: str, items: list[dict]) -> dict:
    config = copy.deepcopy(config)
    config["stages"][stage]["environment_variables"]["CERTIFICATES"] = json.dumps(items)
    return config


def test_the_committed_stages_store_their_certificates_apart():
    policy_files(load_config())  # does not raise


def test_two_stages_storing_at_the_same_place_are_refused_naming_both():
    config = load_config()
    config = with_certificates(config, "dev", certificates_of(config, "prod"))

    with pytest.raises(DeploymentConfigError) as refused:
        policy_files(config)

    message = str(refused.value)
    assert "stage 'dev' CERTIFICATES[0]" in message and "stage 'prod' CERTIFICATES[0]" in message


def test_a_prefix_inside_another_is_refused_too_within_a_stage():
    config = load_config()
    item = certificates_of(config, "prod")[0]
    nested = {**item, "domains": ["other.example.com"], "certStoragePrefix": item["certStoragePrefix"] + "other/"}
    config = with_certificates(config, "prod", [item, nested])

    with pytest.raises(DeploymentConfigError, match=r"CERTIFICATES\[0\].*CERTIFICATES\[1\]"):
        policy_files(config)


def test_the_same_prefix_in_another_bucket_is_fine():
    config = load_config()
    moved = [{**certificates_of(config, "prod")[0], "certStorageBucketName": "another-bucket"}]
    policy_files(with_certificates(config, "dev", moved))


def test_make_policies_says_so_in_one_line_and_writes_nothing(tmp_path, capsys):
    project = tmp_path / "project"
    shutil.copytree(PROJECT / ".chalice", project / ".chalice")
    shutil.copytree(PROJECT / "infra", project / "infra", ignore=shutil.ignore_patterns("__pycache__"))
    config = load_config(project / ".chalice")
    clash = with_certificates(config, "dev", certificates_of(config, "prod"))
    (project / ".chalice" / "config.json").write_text(json.dumps(clash, indent=2))
    before = {p: p.read_text() for p in (project / ".chalice").glob("policy-*.json")}

    code = infra_main(["--project-dir", str(project)])

    assert code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "share a storage location" in line
    assert {p: p.read_text() for p in (project / ".chalice").glob("policy-*.json")} == before
