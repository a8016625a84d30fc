"""`pip install .` from a clone gives a working `task-subdomains`, without make.

The wheel is built from this checkout (no network: the venv's setuptools, no build isolation),
unpacked, and every module of the command imported from it alone, outside the checkout: a
subpackage left out of pyproject.toml's list fails here, not on a user's machine.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
import operator_cli
assert operator_cli.__file__.startswith(sys.argv[1]), operator_cli.__file__
for module in pkgutil.walk_packages(operator_cli.__path__, "operator_cli."):
    if not module.name.endswith(".__main__"):  # it runs the command
        importlib.import_module(module.name)
from operator_cli.cli import main
sys.argv = ["task-subdomains", "--version"]
main()
"""


def test_the_wheel_holds_everything_the_command_imports(tmp_path):
    # Built from a copy of the clone's sources: setuptools builds in the source tree (build/).
    source = tmp_path / "clone"
    source.mkdir()
    for name in ("pyproject.toml", "operator_cli", "chalicelib", "infra"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                           if (ROOT / name).is_dir() else {}))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "--wheel-dir", str(tmp_path / "dist"), str(source)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("task_subdomains-*.whl")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
        entry_points = archive.read(next(n for n in archive.namelist() if n.endswith("entry_points.txt"))).decode()
    assert "task-subdomains = operator_cli.cli:main" in entry_points

    # -S: site-packages only as a plain path, so the checkout's editable install (a .pth file and
    # the finder it adds) cannot supply a module the wheel lacks.
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    run = subprocess.run([sys.executable, "-S", "-c", IMPORT_EVERY_MODULE, str(unpacked)], cwd=tmp_path,
                         env={"PYTHONPATH": f"{unpacked}:{site_packages}", "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "task-subdomains, version 0.1.0"
