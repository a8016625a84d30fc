"""renew_certificates: for each configured certificate, issue or renew when due, store, notify.

One failing certificate does not stop the others; the run raises at the end if any failed, so
the failure shows in Lambda's error metric and alarms.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.certificates.account import AcmeAccountStore
from chalicelib.certificates.challenges import Route53Challenges
from chalicelib.certificates.issuer import AcmeIssuer, new_private_key_pem
from chalicelib.certificates.metrics import CertificateMetrics
from chalicelib.certificates.notifications import Notifier
from chalicelib.certificates.policy import renewal_decision
from chalicelib.certificates.settings import CertificateSpec, RenewalSettings
from chalicelib.certificates.store import CertificateStore
from chalicelib.shared.aws_clients import client
from chalicelib.shared.logs import logger
from chalicelib.shared.route53 import Route53Zone
from chalicelib.shared.waiting import Waiter


class RenewalFailed(RuntimeError):
    """At least one certificate could not be issued; each failure was logged and notified."""


@dataclass(frozen=True)
class Clocks:
    """Everything time-related, injected so tests never really wait."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll_interval_seconds: float = 1.0
    dns_interval_seconds: float = 2.0
    # monotonic() value by which the invocation must stop waiting, so that cleanup, the failure
    # notice and the metric still happen before Lambda's timeout kills the process.
    stop_by: float = math.inf

    @property
    def waiter(self) -> Waiter:
        return Waiter(sleep=self.sleep, clock=self.monotonic, stop_by=self.stop_by)


# Time kept back from Lambda's timeout for cleanup, notices and the metric.
WRAP_UP_SECONDS = 60.0


def within_lambda_time(clocks: Clocks, context: Any) -> Clocks:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if remaining_ms is None:
        return clocks
    return replace(clocks, stop_by=clocks.monotonic() + remaining_ms() / 1000 - WRAP_UP_SECONDS)


def is_forced(event: Any) -> bool:
    """`{"force": true}` as the payload, or as the detail of a scheduled event's input."""
    if not isinstance(event, dict):
        return False
    detail = event.get("detail")
    return event.get("force") is True or (isinstance(detail, dict) and detail.get("force") is True)


class InvalidRequest(ValueError):
    """The invocation's payload asks for something malformed; the message shows the accepted form."""


def requested_names(event: Any) -> tuple[str, ...]:
    """`{"names": [...]}` (top level, or in a scheduled event's detail): renew only the certificates
    that contain these names. Empty when the payload names none: every certificate."""
    if not isinstance(event, dict):
        return ()
    detail = event.get("detail")
    names = event.get("names", detail.get("names") if isinstance(detail, dict) else None)
    if names is None:
        return ()
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise InvalidRequest('"names" must be a non-empty list of certificate names, '
                             'e.g. {"names": ["*.eu-west-2.browser.example.com"]}')
    return tuple(names)


@dataclass(frozen=True)
class RenewalAdapters:
    store: CertificateStore
    notifier: Notifier
    accounts: AcmeAccountStore
    zone: Callable[[str], Route53Zone]  # zone id -> the zone its challenge records go to

    @classmethod
    def from_clients(cls, settings: RenewalSettings) -> "RenewalAdapters":
        return cls(
            store=CertificateStore(client("s3")),
            notifier=Notifier(client("sns")),
            accounts=AcmeAccountStore(client("ssm"), settings.account_key_parameter,
                                      settings.account_url_parameter),
            zone=lambda zone_id: Route53Zone(client("route53"), zone_id),
        )


class CertificateRenewal:
    def __init__(self, settings: RenewalSettings, adapters: RenewalAdapters, clocks: Clocks = Clocks(),
                 new_account_key: Callable[[], str] = new_private_key_pem):
        self._settings = settings
        self._clocks = clocks
        self._metrics = CertificateMetrics()
        self._store = adapters.store
        self._notifier = adapters.notifier
        self._accounts = adapters.accounts
        self._zone = adapters.zone
        self._new_account_key = new_account_key
        self._issuer: AcmeIssuer | None = None
        self._registered = False

    def run(self, force: bool) -> dict[str, Any]:
        results: dict[str, Any] = {}
        failed = []
        for spec in self._settings.certificates:
            try:
                if self._clocks.monotonic() >= self._clocks.stop_by:
                    raise RenewalFailed("no time left in this invocation; the next run tries again")
                results[spec.label] = self._renew_if_due(spec, force)
            except Exception as error:  # noqa: BLE001 - isolate certificates from one another
                logger.exception("Certificate renewal failed", domains=list(spec.domains))
                self._notifier.failure(spec, error)
                results[spec.label] = {"outcome": "failed", "error": f"{type(error).__name__}: {error}"}
                failed.append(spec.label)
                self._metrics.days_remaining(self._days_left_after_failure(spec))
        self._metrics.flush()
        if failed:
            raise RenewalFailed(f"renewal failed for: {'; '.join(failed)}")
        return results

    def _renew_if_due(self, spec: CertificateSpec, force: bool) -> dict[str, Any]:
        stored = self._store.load(spec)
        ari_time = None
        if stored is not None and stored.complete and not force:
            ari_time = self._ari_renewal_time(stored.fullchain_pem)
        decision = renewal_decision(stored.facts if stored else None, spec.domains,
                                    self._clocks.now(), ari_time, force,
                                    storage_problems=stored.problems if stored else ())
        renew_at = decision.renew_at.isoformat() if decision.renew_at else None
        if not decision.due:
            logger.info("Certificate not due", domains=list(spec.domains), reason=decision.reason,
                        renew_at=renew_at)
            self._metrics.days_remaining(self._days_until(stored.facts.not_after))
            return {"outcome": "not-due", "renew_at": renew_at}
        if stored is not None and stored.problems:
            logger.warning("Stored certificate objects do not match; issuing anew", domains=list(spec.domains),
                           bucket=spec.bucket, prefix=spec.prefix, problems=list(stored.problems))
        logger.info("Certificate due", domains=list(spec.domains), reason=decision.reason)

        dns = Route53Challenges(self._zone(spec.zone_id), self._clocks.waiter, self._clocks.dns_interval_seconds)
        issued = self._registered_acme().issue(spec, dns)
        facts = self._store.save(spec, issued.private_key_pem, issued.fullchain_pem, self._clocks.now())
        logger.info("Certificate stored", domains=list(spec.domains), bucket=spec.bucket,
                    prefix=spec.prefix, serial=facts.serial, not_after=facts.not_after.isoformat())
        self._metrics.days_remaining(self._days_until(facts.not_after))
        self._notifier.success(spec, facts)
        return {"outcome": "issued", "serial": facts.serial, "not_after": facts.not_after.isoformat()}

    def _days_until(self, moment: datetime) -> float:
        return (moment - self._clocks.now()).total_seconds() / 86400

    def _days_left_after_failure(self, spec: CertificateSpec) -> float:
        # What tasks are still serving: the stored certificate, or nothing at all (0 days).
        try:
            stored = self._store.load(spec)
        except Exception:  # noqa: BLE001 - the failure is already being reported
            return 0.0
        return max(0.0, self._days_until(stored.facts.not_after)) if stored else 0.0

    def _ari_renewal_time(self, fullchain_pem: str) -> datetime | None:
        # A certificate that is not due must not fail because the CA, its renewal information or
        # SSM is out for a moment: without an answer, the lifetime rule decides.
        try:
            return self._acme().renewal_time(fullchain_pem)
        except Exception as error:  # noqa: BLE001 - any failure here means "no renewal information"
            logger.warning("ACME renewal information unavailable; using the lifetime rule",
                           error=f"{type(error).__name__}: {error}")
            return None

    def _acme(self) -> AcmeIssuer:
        if self._issuer is None:
            key = self._accounts.load_or_create_key(self._new_account_key)
            self._issuer = AcmeIssuer(self._settings.directory_url, key, self._settings.notify_email,
                                      self._clocks.waiter, self._clocks.poll_interval_seconds,
                                      key_parameter=f"SSM parameter {self._settings.account_key_parameter}")
        return self._issuer

    def _registered_acme(self) -> AcmeIssuer:
        # Registering (one signed request) is only needed to order; asking for renewal
        # information is not.
        issuer = self._acme()
        if not self._registered:
            self._accounts.save_account_url(issuer.register())
            self._registered = True
        return issuer


def renew_certificates(event: Any, clocks: Clocks = Clocks(), context: Any = None) -> dict[str, Any]:
    settings = RenewalSettings.from_environment()
    names = requested_names(event)
    if names:
        settings = settings.restricted_to(names)
    renewal = CertificateRenewal(settings, RenewalAdapters.from_clients(settings),
                                 within_lambda_time(clocks, context))
    return renewal.run(force=is_forced(event))
