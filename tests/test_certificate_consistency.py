"""The stored objects must describe one certificate: every mismatch is found, and named without secrets."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.certificates.consistency import storage_problems
from chalicelib.certificates.repair import best_pair, objects_to_rewrite, pairs_in
from chalicelib.certificates.store import certificate_facts, metadata_document

NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)


def issue(names=("t.example.com",), serial=1):
    """A key and a self-signed certificate for names, as PEM text."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(serial).not_valid_before(NOT_BEFORE).not_valid_after(NOT_BEFORE + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def stored(key_pem, fullchain_pem, bundle=None, metadata=None):
    """The four objects as the store writes them, each replaceable."""
    facts = certificate_facts(fullchain_pem)
    bundle = key_pem.rstrip("\n") + "\n" + fullchain_pem if bundle is None else bundle
    metadata = json.dumps(metadata_document(facts, NOT_BEFORE)) if metadata is None else metadata
    return fullchain_pem, key_pem.encode(), bundle.encode(), metadata.encode(), facts


def problems_of(fullchain, key, bundle, metadata, facts):
    return storage_problems(fullchain, key, bundle, metadata, facts)


def test_objects_written_together_agree():
    assert problems_of(*stored(*issue())) == ()


def test_new_key_beside_old_certificate_is_found():
    # A forced renewal whose cert.pem upload failed after key.pem was written.
    old_key, old_cert = issue(serial=1)
    new_key, _new_cert = issue(serial=2)
    fullchain, _key, bundle, metadata, facts = stored(old_key, old_cert)

    problems = problems_of(fullchain, new_key.encode(), bundle, metadata, facts)

    assert problems == ("key.pem does not belong to the certificate in cert.pem",)


def test_bundle_of_another_certificate_is_found():
    key, cert = issue(serial=1)
    other_key, other_cert = issue(serial=2)
    other_bundle = other_key.rstrip("\n") + "\n" + other_cert
    problems = problems_of(*stored(key, cert, bundle=other_bundle))
    assert problems == ("bundle.pem holds another certificate chain than cert.pem",
                        "the private key in bundle.pem does not belong to the certificate in cert.pem")


def test_metadata_of_another_certificate_is_found():
    key, cert = issue(serial=1)
    _other_key, other_cert = issue(serial=2)
    other_metadata = json.dumps(metadata_document(certificate_facts(other_cert), NOT_BEFORE))
    assert problems_of(*stored(key, cert, metadata=other_metadata)) == (
        "metadata.json describes another certificate than cert.pem",)


@pytest.mark.parametrize("which", ["key", "bundle", "metadata"])
def test_missing_objects_are_found(which):
    fullchain, key, bundle, metadata, facts = stored(*issue())
    objects = {"key": key, "bundle": bundle, "metadata": metadata, which: None}
    (problem,) = problems_of(fullchain, objects["key"], objects["bundle"], objects["metadata"], facts)
    assert "is missing" in problem


def test_unreadable_key_is_named_without_repeating_it():
    secret = "-----BEGIN PRIVATE KEY-----\nU0VDUkVULUtFWS1NQVRFUklBTA==\n-----END PRIVATE KEY-----\n"
    key, cert = issue()
    fullchain, _key, _bundle, metadata, facts = stored(key, cert)

    problems = problems_of(fullchain, secret.encode(), (secret + cert).encode(), metadata, facts)

    assert problems == ("key.pem holds no readable private key",
                        "bundle.pem does not start with a readable private key")
    assert not any("U0VDUkVU" in problem for problem in problems)


# Putting a matching pair back (chalicelib.certificates.repair): what is chosen, and what is rewritten.

def issued_at(start, names=("t.example.com",), serial=1, days=90):
    """A key and a self-signed certificate valid from `start` for `days`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(serial).not_valid_before(start).not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


def bundle_of(key_pem, cert_pem) -> bytes:
    return (key_pem.rstrip("\n") + "\n" + cert_pem).encode()


NOW = NOT_BEFORE + timedelta(days=10)


def test_pairs_are_found_in_bundles_and_across_key_and_certificate_objects():
    old_key, old_cert = issue(serial=1)
    new_key, new_cert = issue(serial=2)

    pairs = pairs_in(keys=[("key.pem", new_key.encode())], chains=[("cert.pem", old_cert.encode())],
                     bundles=[("bundle.pem", bundle_of(old_key, old_cert)), ("damaged", b"not a bundle")])

    assert [(p.source, p.facts.serial) for p in pairs] == [("bundle.pem", "1")]
    (across,) = pairs_in(keys=[("key.pem", old_key.encode()), ("key.pem version 2", new_key.encode())],
                         chains=[("cert.pem", new_cert.encode())], bundles=[])
    assert (across.source, across.facts.serial) == ("key.pem version 2 and cert.pem", "2")


def test_the_newest_unexpired_pair_with_the_configured_names_is_put_back():
    older = pairs_in([], [], [("older", bundle_of(*issued_at(NOT_BEFORE, serial=1)))])
    newer = pairs_in([], [], [("newer", bundle_of(*issued_at(NOT_BEFORE + timedelta(days=5), serial=2)))])
    expired = pairs_in([], [], [("expired", bundle_of(*issued_at(NOT_BEFORE - timedelta(days=1), days=5)))])
    other_names = pairs_in([], [], [("other", bundle_of(*issued_at(NOT_BEFORE + timedelta(days=9),
                                                                  names=("o.example.com",))))])

    assert best_pair(older + newer + expired, ["t.example.com"], NOW).source == "newer"
    assert best_pair(other_names + older, ["t.example.com"], NOW).source == "older"
    assert best_pair(other_names, ["t.example.com"], NOW).source == "other"  # better than a broken pair
    assert best_pair(expired, ["t.example.com"], NOW) is None
    assert best_pair(older + older, ["t.example.com"], NOW) is older[0]  # of equals, the first found


def test_only_the_objects_that_do_not_hold_the_pair_are_rewritten():
    old_key, old_cert = issue(serial=1)
    new_key, _new_cert = issue(serial=2)
    (pair,) = pairs_in([], [], [("bundle.pem", bundle_of(old_key, old_cert))])
    fullchain, _key, bundle, metadata, _facts = stored(old_key, old_cert)
    current = {"cert.pem": fullchain.encode(), "key.pem": new_key.encode(), "bundle.pem": bundle,
               "metadata.json": metadata}

    assert objects_to_rewrite(pair, current) == ("key.pem",)
    assert objects_to_rewrite(pair, {**current, "metadata.json": None, "bundle.pem": b"x"}) == (
        "key.pem", "bundle.pem", "metadata.json")
    assert objects_to_rewrite(pair, {"cert.pem": None, "key.pem": None, "bundle.pem": None, "metadata.json": None}) \
        == ("key.pem", "cert.pem", "bundle.pem", "metadata.json")


def test_a_pair_never_shows_its_key():
    key, cert = issue()
    (pair,) = pairs_in([], [], [("bundle.pem", bundle_of(key, cert))])
    body = "".join(key.splitlines()[1:-1])
    assert body[:40] not in repr(pair) and body[:40] not in str(pair)
