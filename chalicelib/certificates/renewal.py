"""renew_certificates: for each configured certificate, issue or renew when due, store, notify.

One failing certificate does not stop the others; the run raises at the end if any failed, so
the failure shows in Lambda's error metric and alarms.
"""

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.certificates.account import AcmeAccountStore
from chalicelib.certificates.challenge_journal import ChallengeJournal, RecordedChallenges, remove_abandoned
from chalicelib.certificates.challenges import Route53Challenges
from chalicelib.certificates.issuer import AcmeIssuer, new_private_key_pem
from chalicelib.certificates.metrics import CertificateMetrics
from chalicelib.certificates.notifications import Notifier
from chalicelib.certificates.policy import renewal_decision
from chalicelib.certificates.repair import repair_stored
from chalicelib.certificates.settings import CertificateSpec, RenewalSettings
from chalicelib.certificates.store import CertificateStore, StoredCertificate
from chalicelib.shared.aws_clients import client
from chalicelib.shared.logs import logger
from chalicelib.shared.route53 import Route53Zone
from chalicelib.shared.waiting import Waiter

# The line of a failed run's message that carries every certificate's outcome, as JSON.
OUTCOMES_LINE = "outcomes: "


class RenewalFailed(RuntimeError):
    """At least one certificate could not be issued; each failure was logged and notified.

    The message's first line names the failed certificates. When the run got as far as the
    certificates, `outcomes` holds each one's, as a successful run returns them, and the message
    carries them too, on a second line (OUTCOMES_LINE): an invoked function's error is its message
    and nothing else, and `task-subdomains renew` reads from it which certificates were issued and
    stored beside the ones that failed. The errors in it are the failure notices' own.
    """

    def __init__(self, message: str, outcomes: Mapping[str, Any] | None = None):
        self.outcomes = dict(outcomes) if outcomes is not None else None
        if outcomes is not None:
            message = f"{message}\n{OUTCOMES_LINE}{json.dumps(outcomes)}"
        super().__init__(message)


def outcomes_in(message: str) -> dict[str, Any] | None:
    """The outcomes a RenewalFailed message carries; None when it carries none (or they are not
    readable: a function deployed before its failures carried them)."""
    for line in message.splitlines()[1:]:
        if line.startswith(OUTCOMES_LINE):
            try:
                outcomes = json.loads(line[len(OUTCOMES_LINE):])
            except ValueError:
                return None
            return outcomes if isinstance(outcomes, dict) else None
    return None


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

    def run_ends_by(self) -> datetime:
        """Wall-clock time after which this run cannot be running any more: Lambda's timeout, or,
        outside Lambda (`renew --local`), an hour, longer than every bounded wait of a run."""
        if math.isinf(self.stop_by):
            return self.now() + OUTSIDE_LAMBDA_RUN
        return self.now() + timedelta(seconds=self.stop_by + WRAP_UP_SECONDS - self.monotonic())


# Time kept back from Lambda's timeout for cleanup, notices and the metric.
WRAP_UP_SECONDS = 60.0
OUTSIDE_LAMBDA_RUN = timedelta(hours=1)


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
    journal: Callable[[CertificateSpec], ChallengeJournal]  # the challenge values it wrote and has not removed

    @classmethod
    def from_clients(cls, settings: RenewalSettings) -> "RenewalAdapters":
        return cls(
            store=CertificateStore(client("s3")),
            notifier=Notifier(client("sns")),
            accounts=AcmeAccountStore(client("ssm"), settings.account_key_parameter,
                                      settings.account_url_parameter),
            zone=lambda zone_id: Route53Zone(client("route53"), zone_id),
            journal=lambda spec: ChallengeJournal(client("s3"), spec),
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
        self._journal = adapters.journal
        self._unrepairable: set[str] = set()  # labels whose repair found no pair or failed in this run
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
                self._metrics.days_remaining(self._days_served_after_failure(spec))
        self._metrics.flush()
        if failed:
            raise RenewalFailed(f"renewal failed for: {'; '.join(failed)}", results)
        return results

    def _renew_if_due(self, spec: CertificateSpec, force: bool) -> dict[str, Any]:
        leftovers = self._remove_abandoned_challenges(spec)
        result = self._renew_stored_if_due(spec, force)
        if leftovers or result.get("challenges_left"):
            result["challenges_left"] = sorted({*leftovers, *result.get("challenges_left", ())})
        return result

    def _renew_stored_if_due(self, spec: CertificateSpec, force: bool) -> dict[str, Any]:
        stored = self._store.load(spec)
        repaired_from = None
        if stored is not None and stored.problems:
            stored, repaired_from = self._repaired(spec, stored)
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
            if repaired_from is None:
                return {"outcome": "not-due", "renew_at": renew_at}
            return {"outcome": "repaired", "repaired_from": repaired_from, "serial": stored.facts.serial,
                    "not_after": stored.facts.not_after.isoformat(), "renew_at": renew_at}
        logger.info("Certificate due", domains=list(spec.domains), reason=decision.reason)

        dns = RecordedChallenges(
            Route53Challenges(self._zone(spec.zone_id), self._clocks.waiter, self._clocks.dns_interval_seconds),
            self._journal(spec), until=self._clocks.run_ends_by())
        issued = self._registered_acme().issue(spec, dns)
        facts = self._store.save(spec, issued.private_key_pem, issued.fullchain_pem, self._clocks.now())
        logger.info("Certificate stored", domains=list(spec.domains), bucket=spec.bucket,
                    prefix=spec.prefix, serial=facts.serial, not_after=facts.not_after.isoformat())
        self._metrics.days_remaining(self._days_until(facts.not_after))
        self._notifier.success(spec, facts, challenges_left=issued.challenges_left)
        result = {"outcome": "issued", "serial": facts.serial, "not_after": facts.not_after.isoformat()}
        if issued.challenges_left:
            result["challenges_left"] = list(issued.challenges_left)
        return result

    def _repaired(self, spec: CertificateSpec, stored: StoredCertificate) -> tuple[StoredCertificate, str | None]:
        """A matching pair written back without the CA when one exists (chalicelib.certificates.repair);
        else what was stored, and the decision issues anew."""
        where = {"domains": list(spec.domains), "bucket": spec.bucket, "prefix": spec.prefix}
        logger.warning("Stored certificate objects do not match", problems=list(stored.problems), **where)
        try:
            repaired = repair_stored(self._store, spec, self._clocks.now())
        except Exception as error:  # noqa: BLE001 - a failed repair leaves things as they were; issuing still can
            logger.warning("Could not put a matching pair back; issuing anew",
                           error=f"{type(error).__name__}: {error}", **where)
            self._unrepairable.add(spec.label)
            return stored, None
        if repaired is None:
            self._unrepairable.add(spec.label)
            logger.warning("No matching key and certificate stored, nor in earlier versions; issuing anew", **where)
            return stored, None
        logger.warning("Stored certificate objects repaired", repaired_from=repaired.source,
                       rewritten=list(repaired.rewritten), serial=repaired.stored.facts.serial, **where)
        return repaired.stored, repaired.source

    def _remove_abandoned_challenges(self, spec: CertificateSpec) -> tuple[str, ...]:
        """Challenge values an earlier run recorded and did not remove (it died, or its cleanup
        failed) go now, whether or not anything is due; the names still left when that fails."""
        def challenges_in(zone_id: str) -> Route53Challenges:
            return Route53Challenges(self._zone(zone_id), self._clocks.waiter, self._clocks.dns_interval_seconds)

        try:
            return remove_abandoned(self._journal(spec), challenges_in, self._clocks.now()).left
        except Exception as error:  # noqa: BLE001 - leftovers never fail a certificate; the next run tries again
            logger.warning("Could not read the challenge journal; the next run tries again",
                           bucket=spec.bucket, prefix=spec.prefix, error=f"{type(error).__name__}: {error}")
            return ()

    def _days_until(self, moment: datetime) -> float:
        return (moment - self._clocks.now()).total_seconds() / 86400

    def _days_served_after_failure(self, spec: CertificateSpec) -> float:
        """What tasks get now: the stored certificate's days, after putting a matching pair back
        if the failure left the objects disagreeing; 0 when nothing is stored, or when a task
        would load a key that does not belong to its certificate, so the expiry alarm fires."""
        try:
            stored = self._store.load(spec)
            if stored is not None and stored.problems and spec.label not in self._unrepairable:
                stored, _source = self._repaired(spec, stored)
        except Exception:  # noqa: BLE001 - the failure is already being reported
            return 0.0
        if stored is None or not stored.pair_matches:
            return 0.0
        return max(0.0, self._days_until(stored.facts.not_after))

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
