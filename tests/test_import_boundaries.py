"""The layout's rules, read from the import statements themselves.

- chalicelib/shared is the core: it imports neither subsystem.
- chalicelib/task_records (the DNS functions) never imports the certificate side or the ACME
  stack (acme, josepy): the DNS functions' cold start stays small, and a change on the
  certificate side cannot break task records.
- app.py imports the certificate side only inside the renewal handler, never at module level.
- operator_cli: a command's subpackage (doctor/, status/, renew/, wait/) imports no other
  command's; the modules they share stay at the top and import no command, but for cli.py (the
  click commands) and errors.py (every command's errors, mapped to exit codes in one place).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHALICELIB = ROOT / "chalicelib"
OPERATOR_CLI = ROOT / "operator_cli"
ACME_STACK = ("acme", "josepy")


def imported_modules(path: Path, module_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def within(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def modules_of(package: str) -> list[Path]:
    return sorted((CHALICELIB / package).glob("*.py"))


@pytest.mark.parametrize("path", modules_of("task_records"), ids=lambda p: p.name)
def test_task_records_never_import_the_certificate_side_or_the_acme_stack(path):
    forbidden = {m for m in imported_modules(path) if within(m, "chalicelib.certificates", *ACME_STACK)}
    assert forbidden == set()


@pytest.mark.parametrize("path", modules_of("shared"), ids=lambda p: p.name)
def test_the_shared_core_imports_neither_subsystem(path):
    forbidden = {m for m in imported_modules(path)
                 if within(m, "chalicelib.certificates", "chalicelib.task_records", *ACME_STACK)}
    assert forbidden == set()


def test_app_imports_the_certificate_side_only_inside_the_renewal_handler():
    module_level = imported_modules(ROOT / "app.py", module_level_only=True)
    assert not {m for m in module_level if within(m, "chalicelib.certificates", *ACME_STACK)}
    assert "chalicelib.certificates.renewal" in imported_modules(ROOT / "app.py")


def test_the_tree_has_two_subsystems_and_a_core_one_level_deep():
    packages = {p.name for p in CHALICELIB.iterdir() if (p / "__init__.py").exists()}
    assert packages == {"shared", "task_records", "certificates"}
    assert [p.name for p in CHALICELIB.glob("*.py")] == ["__init__.py"]
    assert not any((CHALICELIB / package / sub / "__init__.py").exists()
                   for package in packages for sub in (p.name for p in (CHALICELIB / package).iterdir()))


def test_the_rule_sees_a_forbidden_import(tmp_path):
    offender = tmp_path / "offender.py"
    offender.write_text("def f():\n    from chalicelib.certificates.issuer import AcmeIssuer\n    import josepy\n")
    assert {m for m in imported_modules(offender) if within(m, "chalicelib.certificates", *ACME_STACK)} == {
        "chalicelib.certificates.issuer", "josepy"}


def operator_commands() -> dict[str, str]:
    """Each command's own modules, as the package prefix they are imported by: its subpackage, or
    a top-level module of the command's own (reconcile.py)."""
    commands = {p.name: f"operator_cli.{p.name}" for p in OPERATOR_CLI.iterdir() if (p / "__init__.py").exists()}
    return commands | {"reconcile": "operator_cli.reconcile"}


@pytest.mark.parametrize("path", sorted(OPERATOR_CLI.glob("*/*.py")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_commands_subpackage_imports_no_other_command(path):
    others = [prefix for command, prefix in operator_commands().items() if command != path.parent.name]
    assert {m for m in imported_modules(path) if within(m, *others)} == set()


@pytest.mark.parametrize("path", sorted(set(OPERATOR_CLI.glob("*.py")) - {OPERATOR_CLI / "cli.py",
                                                                       OPERATOR_CLI / "errors.py"}),
                         ids=lambda p: p.name)
def test_the_shared_operator_modules_import_no_command(path):
    commands = [prefix for command, prefix in operator_commands().items() if command != path.stem]
    assert {m for m in imported_modules(path) if within(m, *commands)} == set()


def test_the_operator_command_has_a_subpackage_per_command_with_several_modules():
    assert set(operator_commands()) == {"doctor", "status", "renew", "wait", "reconcile"}
