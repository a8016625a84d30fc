"""Putting a matching key and certificate back, without the CA.

The four objects are written one after another, so a run that fails halfway through storing
leaves a key beside a certificate it does not belong to, and tasks that load them fail every
handshake. Issuing anew needs the CA, which may be what failed. A matching pair usually still
exists: bundle.pem (written after key.pem and cert.pem, so a run that failed on either left the
previous pair in it), key.pem and cert.pem themselves (a run that failed on bundle.pem), or the
objects' previous versions (the bucket is versioned). Writing one back needs only S3; the usual
rules then decide whether to renew.

The choice is a pure function of what was read (`pairs_in`, `best_pair`, `objects_to_rewrite`);
`repair_stored` reads, chooses and writes through the store.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chalicelib.certificates.consistency import (
    BUNDLE_KEY,
    CERT_KEY,
    METADATA_KEY,
    PRIVATE_KEY_KEY,
    belongs_to,
    bundle_parts,
    bundle_problems,
    chain_of,
    key_problems,
    metadata_problems,
)
from chalicelib.certificates.policy import CertificateFacts
from chalicelib.certificates.settings import CertificateSpec
from chalicelib.certificates.store import CertificateStore, StoredCertificate, certificate_facts

# Previous versions read per object when the current objects hold no matching pair. A renewal
# writes each object once; a handful reaches back past any run that failed since.
VERSIONS_TO_READ = 5
# Objects as S3 returns them: where each body came from ("bundle.pem", "key.pem version <id>") and the body.
Labelled = tuple[str, bytes]


@dataclass(frozen=True)
class Pair:
    """A private key and the chain whose leaf it belongs to; `source` says where they were found."""

    private_key_pem: str
    fullchain_pem: str
    facts: CertificateFacts
    source: str

    def __repr__(self) -> str:  # never the key, whoever prints it
        return f"Pair(serial={self.facts.serial!r}, source={self.source!r})"


def pairs_in(keys: Sequence[Labelled], chains: Sequence[Labelled], bundles: Sequence[Labelled]) -> list[Pair]:
    """Every matching key and chain among these objects, in the order given (bundles first, as
    each holds a pair that was written together), unreadable bodies skipped."""
    found = []
    for source, body in bundles:
        key_pem, chain = bundle_parts(body)
        if belongs_to(key_pem, chain):
            found.append(_pair(key_pem, chain, source))
    for chain_source, chain_body in chains:
        chain = chain_of(chain_body)
        for key_source, key_pem in keys:
            if belongs_to(key_pem, chain):
                found.append(_pair(key_pem, chain, f"{key_source} and {chain_source}"))
    return found


def best_pair(pairs: Iterable[Pair], wanted_names: Iterable[str], now: datetime) -> Pair | None:
    """The pair to put back: unexpired, with the configured names if any has them, the newest;
    of equals, the first found. None when no pair is worth serving."""
    wanted = set(wanted_names)
    usable = [pair for pair in pairs if pair.facts.not_after > now]
    if not usable:
        return None
    # max keeps the first of equal keys: the current objects before earlier versions.
    return max(usable, key=lambda pair: (set(pair.facts.names) == wanted, pair.facts.not_before))


def objects_to_rewrite(pair: Pair, current: Mapping[str, bytes | None]) -> tuple[str, ...]:
    """The objects that do not already hold this pair, in the order the store writes them."""
    chain = chain_of(pair.fullchain_pem.encode())
    wrong = {
        PRIVATE_KEY_KEY: bool(key_problems(current.get(PRIVATE_KEY_KEY), chain)),
        CERT_KEY: chain_of(current.get(CERT_KEY) or b"") != chain,
        BUNDLE_KEY: bool(bundle_problems(current.get(BUNDLE_KEY), chain)),
        METADATA_KEY: bool(metadata_problems(current.get(METADATA_KEY), pair.facts)),
    }
    return tuple(name for name in (PRIVATE_KEY_KEY, CERT_KEY, BUNDLE_KEY, METADATA_KEY) if wrong[name])


@dataclass(frozen=True)
class Repaired:
    stored: StoredCertificate
    source: str
    rewritten: tuple[str, ...]


def repair_stored(store: CertificateStore, spec: CertificateSpec, now: datetime) -> Repaired | None:
    """Writes back the best matching pair found in the current objects, else in their previous
    versions; None when there is none. Only the objects that differ are written."""
    current = store.read_objects(spec)
    labelled = {name: [(name, body)] if body is not None else [] for name, body in current.items()}
    pair = best_pair(pairs_in(labelled[PRIVATE_KEY_KEY], labelled[CERT_KEY], labelled[BUNDLE_KEY]),
                     spec.domains, now)
    if pair is None:
        earlier = {name: [(f"{name} version {version}", body)
                          for version, body in store.previous_versions(spec, name, VERSIONS_TO_READ)]
                   for name in (PRIVATE_KEY_KEY, CERT_KEY, BUNDLE_KEY)}
        pair = best_pair(pairs_in(labelled[PRIVATE_KEY_KEY] + earlier[PRIVATE_KEY_KEY],
                                  labelled[CERT_KEY] + earlier[CERT_KEY],
                                  labelled[BUNDLE_KEY] + earlier[BUNDLE_KEY]), spec.domains, now)
    if pair is None:
        return None
    rewrite = objects_to_rewrite(pair, current)
    stored = store.restore(spec, pair.private_key_pem, pair.fullchain_pem, rewrite)
    return Repaired(stored, pair.source, rewrite)


def _pair(key_pem: bytes, chain: list[x509.Certificate], source: str) -> Pair:
    fullchain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in chain)
    return Pair(key_pem.decode().rstrip("\n") + "\n", fullchain, certificate_facts(fullchain), source)
