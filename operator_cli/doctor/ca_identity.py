"""Which domain a CAA record must name for the configured CA to issue.

Let's Encrypt (production and staging) checks for `letsencrypt.org`. Another CA may publish its
identities in its ACME directory (`meta.caaIdentities`, RFC 8555 section 7.1.1); when it does not,
or cannot be reached, CAA records that restrict issuance cannot be checked against it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LETS_ENCRYPT_HOSTS = frozenset({"acme-v02.api.letsencrypt.org", "acme-staging-v02.api.letsencrypt.org"})
LETS_ENCRYPT_IDENTITY = "letsencrypt.org"
DIRECTORY_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class CaIdentity:
    directory_url: str
    identities: tuple[str, ...] | None  # None: not known
    note: str = ""  # why not known

    @property
    def description(self) -> str:
        if self.identities:
            return f"the configured CA ({', '.join(self.identities)})"
        return f"the CA at {self.directory_url}"


def identities_from_directory(document: Any) -> tuple[str, ...]:
    meta = document.get("meta") if isinstance(document, Mapping) else None
    found = meta.get("caaIdentities") if isinstance(meta, Mapping) else None
    if not isinstance(found, list):
        return ()
    return tuple(identity.strip().lower() for identity in found if isinstance(identity, str) and identity.strip())


def ca_identity(directory_url: str, fetch_directory: Callable[[str], Any]) -> CaIdentity:
    """fetch_directory(url) returns the directory document; it is called only for CAs other than Let's Encrypt."""
    if urlsplit(directory_url).hostname in LETS_ENCRYPT_HOSTS:
        return CaIdentity(directory_url, (LETS_ENCRYPT_IDENTITY,))
    try:
        identities = identities_from_directory(fetch_directory(directory_url))
    except Exception as error:  # noqa: BLE001 - any failure means "not known", and says why
        return CaIdentity(directory_url, None, f"its directory could not be read ({type(error).__name__}: {error})")
    if not identities:
        return CaIdentity(directory_url, None, "its directory names no CAA identity (meta.caaIdentities)")
    return CaIdentity(directory_url, identities)


def fetch_directory(directory_url: str) -> Any:
    import requests  # the ACME client's HTTP library: it trusts REQUESTS_CA_BUNDLE like the function does

    response = requests.get(directory_url, timeout=DIRECTORY_TIMEOUT_SECONDS)
    response.raise_for_status()
    return response.json()
