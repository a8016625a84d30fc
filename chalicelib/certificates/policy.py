"""When a certificate is due. Pure functions."""

from dataclasses import dataclass
from datetime import datetime, timedelta

SHORT_LIVED = timedelta(days=10)


@dataclass(frozen=True)
class CertificateFacts:
    names: tuple[str, ...]
    serial: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class RenewalDecision:
    due: bool
    reason: str
    renew_at: datetime | None = None


def lifetime_renewal_time(not_before: datetime, not_after: datetime) -> datetime:
    """Renew with 1/3 of the lifetime left; 1/2 for short-lived (< 10 days) certificates.

    Let's Encrypt's own advice; short-lived certificates get the larger margin because a failed
    renewal has fewer days to be noticed and retried.
    """
    lifetime = not_after - not_before
    remaining_share = 2 if lifetime < SHORT_LIVED else 3
    return not_after - lifetime / remaining_share


def renewal_decision(stored: CertificateFacts | None, wanted_names: tuple[str, ...], now: datetime,
                     ari_renewal_time: datetime | None, force: bool,
                     storage_problems: tuple[str, ...] = ()) -> RenewalDecision:
    if force:
        return RenewalDecision(True, "forced")
    if stored is None:
        return RenewalDecision(True, "no certificate stored")
    if storage_problems:
        # A run failed halfway through storing, or two runs overlapped: tasks may be loading a
        # key that does not belong to their certificate, so waiting for the due date is no option.
        return RenewalDecision(True, f"stored objects do not match: {'; '.join(storage_problems)}")
    if set(stored.names) != set(wanted_names):
        return RenewalDecision(True, "configured names differ from the stored certificate's")
    if stored.not_after <= now:
        return RenewalDecision(True, "stored certificate has expired", stored.not_after)
    if ari_renewal_time is not None:
        if ari_renewal_time <= now:
            return RenewalDecision(True, "ACME renewal information says renew now", ari_renewal_time)
        return RenewalDecision(False, "ACME renewal information window not reached", ari_renewal_time)
    renew_at = lifetime_renewal_time(stored.not_before, stored.not_after)
    if renew_at <= now:
        return RenewalDecision(True, "less than the renewal share of its lifetime remains", renew_at)
    return RenewalDecision(False, "more than the renewal share of its lifetime remains", renew_at)
