"""What `status` says about one configured certificate. The classification is a pure function.

"When it becomes due" is the renewal function's own rule (chalicelib.certificates.policy): the
CA's renewal information (ARI) when it offers some, else a share of the lifetime.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.certificates.consistency import BUNDLE_KEY, CERT_KEY, METADATA_KEY, PRIVATE_KEY_KEY
from chalicelib.certificates.policy import renewal_decision
from chalicelib.certificates.settings import CertificateSpec
from chalicelib.certificates.store import CertificateStore, StoredCertificate
from chalicelib.shared.aws_clients import error_code

# The expiry alarm's threshold (README "Operate"): below it, someone has to act.
EXPIRY_ATTENTION = timedelta(days=14)
# States that make `status` exit 1: tasks are (or will soon be) without a usable certificate.
ATTENTION_STATES = frozenset({"missing", "unusable", "expired", "expiring"})


@dataclass(frozen=True)
class CertificateStatus:
    domains: tuple[str, ...]
    location: str  # s3://bucket/prefix
    state: str  # ok, names-differ, expiring, expired, unusable, missing
    due: bool
    due_reason: str
    renew_at: datetime | None = None
    renew_rule: str | None = None  # where renew_at comes from
    names: tuple[str, ...] = ()  # of the stored certificate
    serial: str | None = None
    not_after: datetime | None = None
    days_left: float | None = None
    problems: tuple[str, ...] = ()
    objects_compared: bool = True  # False when key.pem and bundle.pem were not ours to read

    @property
    def needs_attention(self) -> bool:
        return self.state in ATTENTION_STATES

    def as_dict(self) -> dict[str, Any]:
        return {
            "domains": list(self.domains), "location": self.location, "state": self.state,
            "needs_attention": self.needs_attention, "due": self.due, "due_reason": self.due_reason,
            "renew_at": _iso(self.renew_at), "renew_rule": self.renew_rule, "names": list(self.names),
            "serial": self.serial, "not_after": _iso(self.not_after),
            "days_left": None if self.days_left is None else round(self.days_left, 2),
            "problems": list(self.problems), "objects_compared": self.objects_compared,
        }


def storage_location(spec: CertificateSpec) -> str:
    return f"s3://{spec.bucket}/{spec.prefix}"


def certificate_status(spec: CertificateSpec, stored: StoredCertificate | None, now: datetime,
                       ari_renewal_time: datetime | None, objects_compared: bool = True) -> CertificateStatus:
    decision = renewal_decision(stored.facts if stored else None, spec.domains, now, ari_renewal_time, force=False,
                                storage_problems=stored.problems if stored else ())
    location = storage_location(spec)
    if stored is None:
        return CertificateStatus(spec.domains, location, "missing", decision.due, decision.reason)
    facts = stored.facts
    left = facts.not_after - now
    if stored.problems:
        state = "unusable"
    elif left <= timedelta(0):
        state = "expired"
    elif left <= EXPIRY_ATTENTION:
        state = "expiring"
    elif set(facts.names) != set(spec.domains):
        state = "names-differ"
    else:
        state = "ok"
    rule = None
    if decision.renew_at is not None:
        rule = "ACME renewal information" if ari_renewal_time is not None else "share of the lifetime left"
    return CertificateStatus(
        spec.domains, location, state, decision.due, decision.reason, decision.renew_at, rule, facts.names,
        facts.serial, facts.not_after, left.total_seconds() / 86400, stored.problems, objects_compared)


def read_stored(store: CertificateStore, spec: CertificateSpec) -> tuple[StoredCertificate | None, bool]:
    """The stored certificate, and whether all four objects were compared.

    The bucket policy lets only the renewal role and the task roles read key.pem and bundle.pem
    (README "Storage"): an operator gets AccessDenied there, and then sees cert.pem alone.
    """
    try:
        return store.load(spec), True
    except ClientError as error:
        if error_code(error) not in ("AccessDenied", "403"):
            raise
    return store.load_certificate(spec), False


def read_certificate_status(spec: CertificateSpec, store: CertificateStore, now: datetime,
                            ari_renewal_time: Callable[[str], datetime | None]) -> CertificateStatus:
    """ari_renewal_time(fullchain_pem): the CA's suggestion, None when it offers none or cannot be asked."""
    stored, compared = read_stored(store, spec)
    ari = ari_renewal_time(stored.fullchain_pem) if stored is not None and stored.complete else None
    return certificate_status(spec, stored, now, ari, objects_compared=compared)


STORED_OBJECTS = (CERT_KEY, PRIVATE_KEY_KEY, BUNDLE_KEY, METADATA_KEY)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
