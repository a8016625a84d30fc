"""The renewal function's configuration: WORKSPACE, CERTIFICATES, NOTIFY_EMAIL, ACME_DIRECTORY_URL.

Parsed at first use; every error names the variable (and the item) and says what is wrong.
"""

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.shared.configuration import ZONE_ID, ConfigurationError, required_variable
from chalicelib.shared.dns_names import is_valid_dns_name

LETSENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
_DIRECTORY_ALIASES = {"letsencrypt": LETSENCRYPT_PRODUCTION, "letsencrypt-staging": LETSENCRYPT_STAGING}

_WORKSPACE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_PROFILE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class CertificateSpec:
    domains: tuple[str, ...]
    zone_id: str
    bucket: str
    prefix: str
    success_topic_arn: str | None = None
    failure_topic_arn: str | None = None
    profile: str | None = None

    @property
    def label(self) -> str:
        return ", ".join(self.domains)

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


@dataclass(frozen=True)
class RenewalSettings:
    workspace: str
    certificates: tuple[CertificateSpec, ...]
    directory_url: str
    notify_email: str | None = None

    @property
    def account_key_parameter(self) -> str:
        return f"/{self.workspace}/LETSENCRYPT_ACCOUNT_KEY"

    @property
    def account_url_parameter(self) -> str:
        return f"/{self.workspace}/LETSENCRYPT_ACCOUNT_URL"

    def restricted_to(self, names: Iterable[str]) -> "RenewalSettings":
        """Only the certificates that contain one of these names (`{"names": [...]}`, `renew --name`).

        Every name must belong to a configured certificate: a typo renews nothing, loudly.
        """
        wanted = {name.strip().lower().rstrip(".") for name in names}
        configured = {domain for spec in self.certificates for domain in spec.domains}
        unknown = sorted(wanted - configured)
        if unknown:
            raise ConfigurationError(
                f"no item of CERTIFICATES contains {', '.join(unknown)} (configured: "
                f"{'; '.join(spec.label for spec in self.certificates)})")
        return replace(self, certificates=tuple(spec for spec in self.certificates if wanted & set(spec.domains)))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> "RenewalSettings":
        workspace = required_variable(environ, "WORKSPACE").strip("/")
        if not _WORKSPACE.fullmatch(workspace):
            raise ConfigurationError(
                f"WORKSPACE={workspace!r} must be letters, digits, '_', '.', '-' (an SSM path segment)"
            )
        directory = environ.get("ACME_DIRECTORY_URL", "").strip() or LETSENCRYPT_PRODUCTION
        directory = _DIRECTORY_ALIASES.get(directory, directory)
        if not directory.startswith("https://"):
            raise ConfigurationError(
                f"ACME_DIRECTORY_URL={directory!r} must be an https:// URL or 'letsencrypt-staging'"
            )
        email = environ.get("NOTIFY_EMAIL", "").strip() or None
        if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            raise ConfigurationError(f"NOTIFY_EMAIL={email!r} is not an email address")
        return cls(
            workspace=workspace,
            certificates=parse_certificates(required_variable(environ, "CERTIFICATES")),
            directory_url=directory,
            notify_email=email,
        )


def parse_certificates(text: str) -> tuple[CertificateSpec, ...]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"CERTIFICATES is not valid JSON: {error}") from error
    if not isinstance(items, list) or not items:
        raise ConfigurationError("CERTIFICATES must be a non-empty JSON list of certificate objects")
    specs = tuple(_certificate(index, item) for index, item in enumerate(items))
    _refuse_shared_storage(specs)
    return specs


def _refuse_shared_storage(specs: tuple[CertificateSpec, ...]) -> None:
    # Two certificates at one location overwrite each other on every run: each finds the other's
    # names stored, so both are reissued every time (burning the CA's duplicate-certificate limit)
    # and tasks load whichever was written last.
    first_at: dict[tuple[str, str], int] = {}
    for index, spec in enumerate(specs):
        location = (spec.bucket, spec.prefix)
        if location in first_at:
            raise ConfigurationError(
                f"CERTIFICATES[{first_at[location]}] and CERTIFICATES[{index}] are both stored at "
                f"s3://{spec.bucket}/{spec.prefix}; give each certificate its own certStoragePrefix")
        first_at[location] = index


def _certificate(index: int, item: Any) -> CertificateSpec:
    where = f"CERTIFICATES[{index}]"
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where} must be an object")
    domains = item.get("domains")
    if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
        raise ConfigurationError(f"{where}.domains must be a non-empty list of names")
    normalized = tuple(dict.fromkeys(d.strip().lower().rstrip(".") for d in domains))
    for domain in normalized:
        if not is_valid_dns_name(domain.removeprefix("*.")):
            raise ConfigurationError(f"{where}.domains: {domain!r} is not a DNS name (or *.name)")
    zone_id = _field(item, where, "zoneId", ZONE_ID, "a Route53 hosted zone id", strip="/hostedzone/")
    bucket = _field(item, where, "certStorageBucketName", _BUCKET, "an S3 bucket name")
    prefix = item.get("certStoragePrefix", "")
    if not isinstance(prefix, str) or prefix.startswith("/") or ".." in prefix:
        raise ConfigurationError(f"{where}.certStoragePrefix must be a relative key prefix such as 'certs/'")
    return CertificateSpec(
        domains=normalized,
        zone_id=zone_id,
        bucket=bucket,
        prefix=f"{prefix.rstrip('/')}/" if prefix else "",
        success_topic_arn=_field(item, where, "successSnsTopicArn", _TOPIC_ARN, "an SNS topic ARN", optional=True),
        failure_topic_arn=_field(item, where, "failureSnsTopicArn", _TOPIC_ARN, "an SNS topic ARN", optional=True),
        profile=_field(item, where, "profile", _PROFILE, "an ACME profile name", optional=True),
    )


def _field(item: dict, where: str, name: str, pattern: re.Pattern, what: str,
           optional: bool = False, strip: str = "") -> str | None:
    value = item.get(name)
    if value in (None, "") and optional:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value.removeprefix(strip)):
        raise ConfigurationError(f"{where}.{name}={value!r} is not {what}")
    return value.removeprefix(strip)
