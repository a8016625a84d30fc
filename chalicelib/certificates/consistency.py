"""Do the stored objects describe one certificate? Pure functions.

Tasks load either bundle.pem, or cert.pem and key.pem, and the next run decides from
metadata.json and cert.pem. The four are written one after another, so a run that fails
halfway, or two runs that overlap, can leave key.pem of one certificate beside cert.pem of
another: every TLS handshake of a task that loads them then fails (KEY_VALUES_MISMATCH). A run
that finds any mismatch puts a matching pair back (repair.py) or, when there is none, issues anew;
until then the metric reports 0 days for a pair tasks cannot use (`pair_problems`).

Key material is secret: every problem is a fixed sentence that names the object and never
repeats what was read, whatever the object holds.
"""

import json
import re
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from chalicelib.certificates.policy import CertificateFacts

CERT_KEY = "cert.pem"
PRIVATE_KEY_KEY = "key.pem"
BUNDLE_KEY = "bundle.pem"
METADATA_KEY = "metadata.json"

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def storage_problems(fullchain_pem: str, private_key_pem: bytes | None, bundle_pem: bytes | None,
                     metadata: bytes | None, facts: CertificateFacts) -> tuple[str, ...]:
    """Every way key.pem, bundle.pem and metadata.json disagree with cert.pem; empty when they agree.

    `facts` are cert.pem's own (the caller has parsed it already).
    """
    return pair_problems(fullchain_pem, private_key_pem, bundle_pem) + tuple(metadata_problems(metadata, facts))


def pair_problems(fullchain_pem: str, private_key_pem: bytes | None, bundle_pem: bytes | None) -> tuple[str, ...]:
    """What keeps a task from loading a matching key and chain: key.pem or bundle.pem against cert.pem.

    metadata.json is not among them: tasks never read it.
    """
    chain = chain_of(fullchain_pem.encode())
    if not chain:
        # The leaf parsed (the caller read its facts) but a later block did not.
        return (f"{CERT_KEY} holds an unreadable certificate chain",)
    return tuple(key_problems(private_key_pem, chain) + bundle_problems(bundle_pem, chain))


def key_problems(private_key_pem: bytes | None, chain: list[x509.Certificate]) -> list[str]:
    if private_key_pem is None:
        return [f"{PRIVATE_KEY_KEY} is missing"]
    key = _private_key(private_key_pem)
    if key is None:
        return [f"{PRIVATE_KEY_KEY} holds no readable private key"]
    if _public_bytes(key.public_key()) != _public_bytes(chain[0].public_key()):
        return [f"{PRIVATE_KEY_KEY} does not belong to the certificate in {CERT_KEY}"]
    return []


def bundle_problems(bundle_pem: bytes | None, chain: list[x509.Certificate]) -> list[str]:
    if bundle_pem is None:
        return [f"{BUNDLE_KEY} is missing"]
    key_pem, bundled_chain = bundle_parts(bundle_pem)
    key = _private_key(key_pem)
    if key is None:
        return [f"{BUNDLE_KEY} does not start with a readable private key"]
    problems = []
    if bundled_chain != chain:
        problems.append(f"{BUNDLE_KEY} holds another certificate chain than {CERT_KEY}")
    if _public_bytes(key.public_key()) != _public_bytes(chain[0].public_key()):
        problems.append(f"the private key in {BUNDLE_KEY} does not belong to the certificate in {CERT_KEY}")
    return problems


def metadata_problems(metadata: bytes | None, facts: CertificateFacts) -> list[str]:
    if metadata is None:
        return [f"{METADATA_KEY} is missing"]
    try:
        document = json.loads(metadata)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return [f"{METADATA_KEY} is not a JSON object"]
    described = (document.get("serial"), document.get("names"), _moment(document.get("notAfter")))
    if described != (facts.serial, list(facts.names), facts.not_after):
        return [f"{METADATA_KEY} describes another certificate than {CERT_KEY}"]
    return []


def bundle_parts(bundle_pem: bytes) -> tuple[bytes | None, list[x509.Certificate]]:
    """bundle.pem's first PEM block (the private key, as written) and the chain after it."""
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(bundle_pem)]
    if not blocks:
        return None, []
    return blocks[0], chain_of(b"\n".join(blocks[1:]))


def chain_of(pem: bytes) -> list[x509.Certificate]:
    """The certificates of a PEM chain, leaf first; empty when any block is unreadable."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def belongs_to(private_key_pem: bytes | None, chain: list[x509.Certificate]) -> bool:
    """Does this private key belong to the chain's leaf? False for anything unreadable."""
    key = _private_key(private_key_pem)
    return bool(chain) and key is not None and \
        _public_bytes(key.public_key()) == _public_bytes(chain[0].public_key())


def _private_key(pem: bytes | None):
    if pem is None:
        return None
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # The library's message could quote the input; the caller reports a fixed sentence.
        return None


def _public_bytes(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _moment(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
