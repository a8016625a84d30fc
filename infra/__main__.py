"""Regenerate every file derived from .chalice/config.json (`make policies`).

python -m infra                    write .chalice/policy-<stage>-<function>.json and infra/chalice-merge-<stage>.json
python -m infra --check            write nothing; exit 1 and name the files that are out of date
python -m infra --project-dir DIR  the same for the project in DIR (its .chalice/config.json and
                                   infra/supporting-resources.yaml) instead of this repository
"""

import argparse
import sys
from pathlib import Path

from chalicelib.shared.configuration import ConfigurationError
from infra.deployments import PROJECT_DIR, DeploymentConfigError, load_config
from infra.iam_policies import policy_files
from infra.merge_templates import BASE_TEMPLATE, load_base_template, merge_template_files


def generated_files(project_dir: Path = PROJECT_DIR) -> dict[Path, str]:
    chalice_dir, infra_dir = project_dir / ".chalice", project_dir / "infra"
    config = load_config(chalice_dir)
    files = {chalice_dir / name: content for name, content in policy_files(config).items()}
    base = load_base_template(infra_dir / BASE_TEMPLATE.name)
    files.update({infra_dir / name: content for name, content in merge_template_files(config, base).items()})
    return files


def stale_files(files: dict[Path, str]) -> list[Path]:
    return [path for path, content in files.items() if not path.exists() or path.read_text() != content]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    parser.add_argument("--project-dir", type=Path, default=PROJECT_DIR, help="the project (default: this one)")
    arguments = parser.parse_args(argv)
    project_dir = arguments.project_dir.resolve()
    try:
        files = generated_files(project_dir)
    except (DeploymentConfigError, ConfigurationError) as error:
        print(f"python -m infra: .chalice/config.json: {error}", file=sys.stderr)
        return 2
    stale = stale_files(files)
    if arguments.check:
        for path in stale:
            print(f"out of date: {path.relative_to(project_dir)} (run `make policies`)")
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"wrote {path.relative_to(project_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
