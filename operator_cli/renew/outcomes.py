"""What a renewal run did to each certificate. Pure functions.

renew_certificates answers {label: {"outcome": ..., ...}}, one entry per certificate, its label
its names joined by ", ". A run in which one failed raises RenewalFailed instead, once the others
are done; its message carries the same entries (chalicelib.certificates.renewal.outcomes_in), so
the summary is the same for a local run's exception and for an invoked function's error, which
Lambda hands back as its type and message alone.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.certificates.renewal import RenewalFailed, outcomes_in
from chalicelib.certificates.settings import RenewalSettings
from operator_cli.invoke import InvocationFailed

ISSUED = "issued"
NOT_DUE = "not-due"
REPAIRED = "repaired"
FAILED = "failed"


@dataclass(frozen=True)
class CertificateOutcome:
    label: str  # the certificate's names, as the function keys its answer
    stored_at: str | None  # s3://bucket/prefix as configured here; None when no certificate here has the label
    outcome: str  # issued, not-due, repaired, failed (or what a newer function says)
    details: Mapping[str, Any]  # the function's own fields: serial, not_after, renew_at, repaired_from, error

    @property
    def failed(self) -> bool:
        return self.outcome == FAILED


def certificate_outcomes(answer: Mapping[str, Any], settings: RenewalSettings) -> list[CertificateOutcome]:
    """The run's answer per certificate, in the answer's order (the configuration's), each with
    where it is stored."""
    stored_at = {spec.label: f"s3://{spec.bucket}/{spec.prefix}" for spec in settings.certificates}
    outcomes = []
    for label, entry in answer.items():
        details = entry if isinstance(entry, Mapping) else {"outcome": str(entry)}
        outcomes.append(CertificateOutcome(label, stored_at.get(label), str(details.get("outcome")), details))
    return outcomes


def failed_run_answer(error: BaseException) -> dict[str, Any] | None:
    """Every certificate's entry when the error is a renewal run that failed for some of them, here
    (RenewalFailed) or invoked (the function's RenewalFailed, as Lambda returned it); None for any
    other error, or for a run that failed before its certificates (or a function deployed before
    its failures carried them): that error is then the whole story."""
    if isinstance(error, RenewalFailed):
        return error.outcomes
    if isinstance(error, InvocationFailed) and error.error_type == RenewalFailed.__name__:
        return outcomes_in(error.error_message or "")
    return None
