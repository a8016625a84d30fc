"""`renew` as text: one line per certificate, what the run did to it and where it is stored, and,
when some failed, which. Pure functions; `--json` prints the function's answer itself."""

from collections.abc import Sequence

from operator_cli.renew.outcomes import FAILED, ISSUED, NOT_DUE, REPAIRED, CertificateOutcome


def renewal_text(outcomes: Sequence[CertificateOutcome], log_group: str | None = None) -> str:
    """log_group: the invoked function's, named when a certificate failed (its log says more)."""
    lines = [_certificate_line(outcome) for outcome in outcomes]
    if any(outcome.failed for outcome in outcomes):
        lines.append(f"{failure_headline(outcomes)}; each failure was logged and notified"
                     + (f" (its log: {log_group})" if log_group else ""))
    return "\n".join(lines)


def failure_headline(outcomes: Sequence[CertificateOutcome]) -> str:
    failed = [outcome.label for outcome in outcomes if outcome.failed]
    return f"renewal failed for {len(failed)} of {len(outcomes)} certificate(s): {'; '.join(failed)}"


def _certificate_line(outcome: CertificateOutcome) -> str:
    details = outcome.details
    where = f" in {outcome.stored_at}" if outcome.stored_at else ""
    if outcome.outcome == ISSUED:
        line = f"{outcome.label}: issued and stored{where}: serial {details.get('serial')}, " \
               f"not after {details.get('not_after')}"
    elif outcome.outcome == NOT_DUE:
        line = f"{outcome.label}: unchanged{where}: not due; renews at {details.get('renew_at')} " \
               "(--force to renew now)"
    elif outcome.outcome == REPAIRED:
        line = f"{outcome.label}: repaired{where} from {details.get('repaired_from')}: serial " \
               f"{details.get('serial')}, not after {details.get('not_after')}; renews at {details.get('renew_at')}"
    elif outcome.outcome == FAILED:
        line = f"{outcome.label}: FAILED" + (f" ({outcome.stored_at} not renewed)" if outcome.stored_at else "") \
               + f": {details.get('error')}"
    else:
        line = f"{outcome.label}: {outcome.outcome}" + (f": {details['error']}" if "error" in details else "")
    if details.get("challenges_left"):
        line += f"; challenge values left at {', '.join(details['challenges_left'])} (the next run removes them)"
    return line
