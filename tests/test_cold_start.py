"""The DNS functions' cold start must not pay for the ACME stack."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def modules_after(code: str) -> set[str]:
    env = {**os.environ, "CLUSTER_ARN": "arn:aws:ecs:eu-west-2:123456789012:cluster/c",
           "DOMAIN_PREFIX": "t.example.com", "HOSTED_ZONE_ID": "Z1", "AWS_DEFAULT_REGION": "eu-west-2"}
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        cwd=PROJECT, env=env, capture_output=True, text=True, check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_importing_app_does_not_import_acme_or_josepy():
    imported = top_level(modules_after("import app"))
    assert "chalicelib" in imported  # the handlers' own modules did load
    assert not {"acme", "josepy"} & imported


def test_the_check_would_see_acme_if_app_imported_it():
    # Guards the test above against passing vacuously (e.g. acme not installed at all).
    assert {"acme", "josepy"} <= top_level(modules_after("import app, acme.client"))
