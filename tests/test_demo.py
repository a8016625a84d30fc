"""`make demo` is the product's main job: it must pass end to end on the local stack."""

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_demo_passes_end_to_end():
    run = subprocess.run([sys.executable, "-m", "embedded_stack.demo"], cwd=PROJECT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    for evidence in ("certificate verified", "A  127.0.0.2", "A  127.0.0.4", "NXDOMAIN", "Demo passed"):
        assert evidence in run.stdout
