"""Regenerate every file derived from .chalice/config.json (`make policies`).

python -m infra           write .chalice/policy-<stage>-<function>.json and infra/chalice-merge-<stage>.json
python -m infra --check   write nothing; exit 1 and name the files that are out of date
"""

import sys
from pathlib import Path

from infra.deployments import CHALICE_DIR, PROJECT_DIR, load_config
from infra.iam_policies import policy_files
from infra.merge_templates import INFRA_DIR, load_base_template, merge_template_files


def generated_files() -> dict[Path, str]:
    config = load_config()
    files = {CHALICE_DIR / name: content for name, content in policy_files(config).items()}
    files.update({INFRA_DIR / name: content
                  for name, content in merge_template_files(config, load_base_template()).items()})
    return files


def stale_files(files: dict[Path, str]) -> list[Path]:
    return [path for path, content in files.items() if not path.exists() or path.read_text() != content]


def main(argv: list[str]) -> int:
    files = generated_files()
    stale = stale_files(files)
    if "--check" in argv:
        for path in stale:
            print(f"out of date: {path.relative_to(PROJECT_DIR)} (run `make policies`)")
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path])
        print(f"wrote {path.relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
