"""`renew` as text. Pure functions of the run's answer; `--json` prints the answer itself."""

from collections.abc import Mapping
from typing import Any


def renewal_text(result: Mapping[str, Any]) -> str:
    lines = []
    for label, outcome in result.items():
        if not isinstance(outcome, Mapping):
            lines.append(f"{label}: {outcome}")
        elif outcome.get("outcome") == "issued":
            lines.append(f"{label}: issued, serial {outcome.get('serial')}, not after {outcome.get('not_after')}")
        elif outcome.get("outcome") == "not-due":
            lines.append(f"{label}: not due; renews at {outcome.get('renew_at')} (--force to renew now)")
        else:
            lines.append(f"{label}: {outcome.get('outcome')}" + (f": {outcome['error']}" if "error" in outcome else ""))
    return "\n".join(lines)
