"""ACME adapter (certbot's `acme` library): account, order, DNS-01, finalize.

Reads top to bottom like the protocol, one log line per step. The ACME client trusts the CA
bundle requests is given (REQUESTS_CA_BUNDLE), so a local Pebble needs no special case.
Polling uses the injected sleep and clock, never the library's fixed one-second sleeps.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import josepy as jose
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.certificates.settings import CertificateSpec
from chalicelib.shared.logs import logger
from chalicelib.shared.waiting import Waiter, WaitTimedOut

USER_AGENT = "task-subdomains (+acme-python)"
# Each authorization and the finalization wait at most this long (less near the Lambda timeout).
ACME_WAIT_SECONDS = 300.0


class IssuanceError(RuntimeError):
    """The ACME server refused or failed the order; the message says where and what came back."""


@dataclass(frozen=True)
class IssuedCertificate:
    private_key_pem: str = field(repr=False)
    fullchain_pem: str
    # Challenge names whose values could not be removed: the next run removes them (the journal
    # of RecordedChallenges names them), but this run must not report a clean success.
    challenges_left: tuple[str, ...] = ()


class Challenges(Protocol):
    """Where DNS-01 values go: Route53Challenges, or RecordedChallenges around it."""

    def publish(self, values_by_name: dict[str, list[str]]) -> None: ...

    def remove(self, values_by_name: dict[str, list[str]]) -> None: ...


def new_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


class AccountKeyError(IssuanceError):
    """The stored account key cannot be used; the message names where it is, never what it holds."""


def account_jwk(key_material: str, parameter: str = "the ACME account key") -> tuple[jose.JWK, jose.JWASignature]:
    """The account key from a PEM (what we write) or a JWK JSON document (older deployments).

    Parse errors of josepy and cryptography can quote their input (josepy puts a whole JWK,
    private member "d" included, into UnrecognizedTypeError), and this error reaches the log, the
    failure notice and the raised error: it gets a fixed message, without the original chained.
    """
    text = key_material.strip()
    try:
        jwk = jose.JWK.json_loads(text) if text.startswith("{") else jose.JWK.load(text.encode())
    except Exception:  # noqa: BLE001 - whatever the library raised may carry the key itself
        raise AccountKeyError(f"{parameter} is neither a PEM private key nor a JWK that josepy can read "
                              "(RSA or EC P-256)") from None
    # josepy wraps the cryptography key, so ask the JWK class, then the curve it proxies.
    if isinstance(jwk, jose.JWKRSA):
        return jwk, jose.RS256
    if isinstance(jwk, jose.JWKEC) and jwk.key.curve.name == "secp256r1":
        return jwk, jose.ES256
    raise AccountKeyError(f"{parameter} must be an RSA or EC P-256 key")


class _PatientNetwork(client.ClientNetwork):
    """Retries a badNonce rejection more than once.

    The library retries once; servers may reject any nonce (Pebble rejects 5% by default), and two
    in a row over the dozen requests of an issuance is common enough to fail real runs.
    """

    BAD_NONCE_ATTEMPTS = 5

    def post(self, *args, **kwargs):
        for attempt in range(1, self.BAD_NONCE_ATTEMPTS + 1):
            try:
                return super().post(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == self.BAD_NONCE_ATTEMPTS:
                    raise
                logger.debug("ACME server rejected our nonce; retrying", attempt=attempt)


class AcmeIssuer:
    def __init__(self, directory_url: str, account_key: str, contact_email: str | None, waiter: Waiter,
                 poll_interval_seconds: float = 1.0, key_parameter: str = "the ACME account key"):
        jwk, alg = account_jwk(account_key, key_parameter)
        self._key = jwk
        self._waiter = waiter
        self._poll_interval_seconds = poll_interval_seconds
        self._net = _PatientNetwork(jwk, alg=alg, user_agent=USER_AGENT)
        self._client = client.ClientV2(client.ClientV2.get_directory(directory_url, self._net), self._net)
        self._contact_email = contact_email

    def register(self) -> str:
        """The account URL; creates the account, or finds the existing one for this key."""
        registration = messages.NewRegistration.from_data(
            email=self._contact_email, terms_of_service_agreed=True)
        try:
            account = self._client.new_account(registration)
            logger.info("Registered ACME account", account_url=account.uri)
            return account.uri
        except errors.ConflictError as existing:
            self._net.account = messages.RegistrationResource(uri=existing.location, body=messages.Registration())
            logger.info("Using existing ACME account", account_url=existing.location)
            return existing.location

    def renewal_time(self, fullchain_pem: str) -> datetime | None:
        """The ACME server's suggested renewal time (ARI), or None when it offers none."""
        suggested, _next_check = self._client.renewal_time(fullchain_pem.encode())
        return suggested

    def issue(self, spec: CertificateSpec, dns: Challenges) -> IssuedCertificate:
        private_key_pem = new_private_key_pem()
        csr_pem = crypto_util.make_csr(private_key_pem.encode(), list(spec.domains))
        order = self._client.new_order(csr_pem, profile=spec.profile)
        logger.info("ACME order created", domains=list(spec.domains), order_url=order.uri, profile=spec.profile)

        pending = [a for a in order.authorizations if a.body.status == messages.STATUS_PENDING]
        logger.info("Authorizations to solve", pending=[_authorized_name(a) for a in pending],
                    reused=len(order.authorizations) - len(pending))
        answers = [(authz, self._dns01(authz)) for authz in pending]
        values_by_name: dict[str, list[str]] = {}
        for authz, challenge in answers:
            name = challenge.chall.validation_domain_name(authz.body.identifier.value)
            values_by_name.setdefault(name, []).append(challenge.chall.validation(self._key))

        left: tuple[str, ...] = ()
        try:
            if values_by_name:
                dns.publish(values_by_name)
                logger.info("Challenge records in sync", names=sorted(values_by_name))
            for _authz, challenge in answers:
                self._client.answer_challenge(challenge, challenge.response(self._key))
            for authz, _ in answers:
                self._await_valid(authz)
            logger.info("Authorizations valid; finalizing", domains=list(spec.domains))
            fullchain = self._finalize(order)
        finally:
            if values_by_name:
                left = _clean_up(dns, values_by_name)
        logger.info("Certificate issued", domains=list(spec.domains))
        return IssuedCertificate(private_key_pem=private_key_pem, fullchain_pem=fullchain, challenges_left=left)

    @staticmethod
    def _dns01(authz: messages.AuthorizationResource) -> messages.ChallengeBody:
        for challenge in authz.body.challenges:
            if isinstance(challenge.chall, challenges.DNS01):
                return challenge
        raise IssuanceError(f"ACME server offers no dns-01 challenge for {authz.body.identifier.value}")

    def _await_valid(self, authz: messages.AuthorizationResource) -> None:
        name = _authorized_name(authz)

        def valid() -> tuple[bool, str]:
            nonlocal authz
            authz, _response = self._client.poll(authz)
            status = authz.body.status
            if status not in (messages.STATUS_VALID, messages.STATUS_PENDING):
                problems = [str(c.error) for c in authz.body.challenges if c.error is not None]
                raise IssuanceError(f"authorization for {name} is {status}: {'; '.join(problems) or 'no detail'}")
            return status == messages.STATUS_VALID, str(status)

        self._until(f"authorization for {name}", valid)

    def _finalize(self, order: messages.OrderResource) -> str:
        order = self._client.begin_finalization(order)
        looked = False

        def issued() -> tuple[bool, str]:
            nonlocal order, looked
            if looked:  # begin_finalization's answer is the first look
                order = order.update(body=messages.Order.from_json(self._post_as_get(order.uri).json()))
            looked = True
            body = order.body
            if body.status == messages.STATUS_INVALID:
                raise IssuanceError(f"order {order.uri} became invalid: {body.error}")
            return body.status == messages.STATUS_VALID and body.certificate is not None, str(body.status)

        self._until(f"order {order.uri}", issued)
        return self._post_as_get(order.body.certificate).text

    def _until(self, what: str, check) -> None:
        # Validation and issuance usually finish within a fraction of a second: the first looks
        # come soon, and a slow server is not hammered.
        try:
            self._waiter.until(what, check, timeout=ACME_WAIT_SECONDS, interval=self._poll_interval_seconds,
                               ramp_up=True)
        except WaitTimedOut as timeout:
            raise IssuanceError(str(timeout)) from None

    def _post_as_get(self, url: str):
        return self._net.post(url, None, new_nonce_url=self._client.directory["newNonce"])


def _authorized_name(authz: messages.AuthorizationResource) -> str:
    return ("*." if authz.body.wildcard else "") + authz.body.identifier.value


def _clean_up(dns: Challenges, values_by_name: dict[str, list[str]]) -> tuple[str, ...]:
    """The names whose values are still there. A cleanup failure is logged and never hides the
    error that got us here, nor fails an issuance that succeeded: the values stay in the
    challenge journal, and the next run removes them."""
    try:
        dns.remove(values_by_name)
        logger.info("Challenge records removed", names=sorted(values_by_name))
        return ()
    except Exception as error:  # noqa: BLE001 - whatever it is, the original outcome must win
        logger.warning("Could not remove challenge records; the next run removes them",
                       names=sorted(values_by_name), error=f"{type(error).__name__}: {error}")
        return tuple(sorted(values_by_name))
