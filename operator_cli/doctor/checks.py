"""What `doctor` reports: one line per check, its level and what to do."""

from collections.abc import Iterable
from dataclasses import dataclass

OK = "ok"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"  # not checked, with a note saying why (e.g. nothing deployed for the stage)
ERROR = "error"  # could not be checked: AWS refused or could not be asked (exit 2 unless something failed)
LEVELS = (OK, WARN, FAIL, SKIP, ERROR)


@dataclass(frozen=True)
class Check:
    level: str
    check: str  # a stable id for scripts: "zone", "caa", "negative-caching", ...
    subject: str  # what was checked: a zone, a name, a bucket, a function
    message: str  # what was found and, unless ok, what to do

    def __post_init__(self):
        if self.level not in LEVELS:
            raise ValueError(f"unknown check level {self.level!r}")

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "check": self.check, "subject": self.subject, "message": self.message}


def any_failed(checks: Iterable[Check]) -> bool:
    return any(check.level == FAIL for check in checks)


def checks_text(checks: Iterable[Check]) -> str:
    """One line per check, the levels in a column; `--json` prints each check's as_dict()."""
    return "\n".join(f"{check.level:<5} {check.check:<20} {check.subject}: {check.message}" for check in checks)
