"""S3 adapter: the issued certificate, under the item's certStoragePrefix.

Keys (README "Storage"): cert.pem (full chain, leaf first), key.pem (private key), bundle.pem
(key then full chain: one GET gives a matching pair), metadata.json (names, serial, validity).
Everything is written with server-side encryption. metadata.json goes last. A run that fails
halfway, or two runs that overlap, can leave objects of two certificates side by side: `load`
compares all four (chalicelib.certificates.consistency) and reports what disagrees, so the next
run puts a matching pair back (chalicelib.certificates.repair, through `read_objects`,
`previous_versions` and `restore`) or issues anew, and `save` reads them back so a run never
reports "stored" for a broken pair.

IAM: s3:GetObject and s3:PutObject on <bucket>/<prefix>*, and s3:ListBucket on the bucket:
without it S3 answers a missing cert.pem with 403 instead of 404, and the first run could not
tell "nothing stored yet" from "not allowed". For a repair from earlier versions,
s3:ListBucketVersions on the bucket and s3:GetObjectVersion on <bucket>/<prefix>*.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from chalicelib.certificates.consistency import (
    BUNDLE_KEY,
    CERT_KEY,
    METADATA_KEY,
    PRIVATE_KEY_KEY,
    pair_problems,
    storage_problems,
)
from chalicelib.certificates.policy import CertificateFacts
from chalicelib.certificates.settings import CertificateSpec
from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.logs import logger

# A second write of all four objects settles a run that overlapped another one's writes.
_STORE_ATTEMPTS = 2


class StorageInconsistent(RuntimeError):
    """What was just written does not read back as one certificate (a concurrent run?)."""


@dataclass(frozen=True)
class StoredCertificate:
    fullchain_pem: str
    facts: CertificateFacts
    # Why key.pem, bundle.pem or metadata.json do not match cert.pem (a run that failed halfway
    # through storing, or two that overlapped); the next run must store again.
    problems: tuple[str, ...] = ()
    # Whether key.pem and bundle.pem both belong to cert.pem, so whatever a task loads is a
    # matching pair (metadata.json may still disagree: tasks never read it).
    pair_matches: bool = True

    @property
    def complete(self) -> bool:
        return not self.problems


def certificate_facts(fullchain_pem: str) -> CertificateFacts:
    leaf = x509.load_pem_x509_certificate(fullchain_pem.encode())
    try:
        names = tuple(leaf.extensions.get_extension_for_oid(
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    return CertificateFacts(
        names=names,
        serial=format(leaf.serial_number, "x"),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )


def metadata_document(facts: CertificateFacts, issued_at: datetime) -> dict:
    return {
        "names": list(facts.names),
        "serial": facts.serial,
        "notBefore": facts.not_before.isoformat(),
        "notAfter": facts.not_after.isoformat(),
        "issuedAt": issued_at.astimezone(UTC).isoformat(),
        "files": {"fullchain": CERT_KEY, "privateKey": PRIVATE_KEY_KEY, "bundle": BUNDLE_KEY},
    }


class CertificateStore:
    def __init__(self, client):
        self._client = client

    def load(self, spec: CertificateSpec) -> StoredCertificate | None:
        certificate = self.load_certificate(spec)
        if certificate is None:
            return None
        key, bundle = self._get(spec, PRIVATE_KEY_KEY), self._get(spec, BUNDLE_KEY)
        problems = storage_problems(certificate.fullchain_pem, key, bundle, self._get(spec, METADATA_KEY),
                                    certificate.facts)
        return StoredCertificate(fullchain_pem=certificate.fullchain_pem, facts=certificate.facts, problems=problems,
                                 pair_matches=not pair_problems(certificate.fullchain_pem, key, bundle))

    def read_objects(self, spec: CertificateSpec) -> dict[str, bytes | None]:
        """The four objects as they are (None: missing), for a repair to choose from."""
        return {name: self._get(spec, name) for name in (PRIVATE_KEY_KEY, CERT_KEY, BUNDLE_KEY, METADATA_KEY)}

    def previous_versions(self, spec: CertificateSpec, name: str, limit: int) -> list[tuple[str, bytes]]:
        """(version id, body) of up to `limit` earlier versions of one object, newest first; none
        when the bucket keeps no versions."""
        key = spec.key(name)
        listing = self._client.list_object_versions(Bucket=spec.bucket, Prefix=key, MaxKeys=limit + 1)
        # The prefix matches longer keys too (key.pem.bak); S3 lists a key's versions newest first.
        earlier = [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key and not v["IsLatest"]]
        return [(version, self._client.get_object(Bucket=spec.bucket, Key=key, VersionId=version)["Body"].read())
                for version in earlier[:limit]]

    def load_certificate(self, spec: CertificateSpec) -> StoredCertificate | None:
        """cert.pem alone, the other objects not compared (its `problems` are empty, not checked).

        What a principal may read that the bucket policy keeps from key.pem and bundle.pem (the
        operator's `task-subdomains status`). None when there is no readable cert.pem.
        """
        body = self._get(spec, CERT_KEY)
        if body is None:
            return None
        fullchain = body.decode(errors="replace")
        try:
            facts = certificate_facts(fullchain)
        except ValueError as error:
            # A damaged object must not block the run that would replace it.
            logger.warning("Stored cert.pem is unreadable; issuing anew", bucket=spec.bucket,
                           key=spec.key(CERT_KEY), error=str(error))
            return None
        return StoredCertificate(fullchain_pem=fullchain, facts=facts)

    def _get(self, spec: CertificateSpec, name: str) -> bytes | None:
        try:
            return self._client.get_object(Bucket=spec.bucket, Key=spec.key(name))["Body"].read()
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return None
            raise

    def save(self, spec: CertificateSpec, private_key_pem: str, fullchain_pem: str,
             issued_at: datetime) -> CertificateFacts:
        """Writes the four objects and reads them back; the facts of what is stored in the end."""
        facts = certificate_facts(fullchain_pem)
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            self._write(spec, private_key_pem, fullchain_pem, facts, issued_at)
            # S3 reads after writes are consistent: a mismatch now means another run is writing
            # the same keys (overlapping invocations). Whole sets are fine, whoever wrote them.
            stored = self.load(spec)
            if stored is not None and stored.complete:
                if stored.facts.serial != facts.serial:
                    logger.info("Another run stored its certificate after ours; keeping it", bucket=spec.bucket,
                                prefix=spec.prefix, ours=facts.serial, stored=stored.facts.serial)
                return stored.facts
            problems = list(stored.problems) if stored else [f"{CERT_KEY} is missing or unreadable"]
            logger.warning("Stored objects do not match after writing; another run is writing too",
                           bucket=spec.bucket, prefix=spec.prefix, attempt=attempt, problems=problems)
        raise StorageInconsistent(f"s3://{spec.bucket}/{spec.prefix} still mixes objects of two certificates "
                                  f"after {_STORE_ATTEMPTS} writes: {'; '.join(problems)}; the next run issues anew")

    def restore(self, spec: CertificateSpec, private_key_pem: str, fullchain_pem: str,
                names: tuple[str, ...]) -> StoredCertificate:
        """Writes these objects of an earlier, matching pair and reads all four back.

        Only the objects that do not hold the pair are written: the fewer writes, the sooner
        tasks load a matching pair, and one object S3 refuses does not block the others.
        metadata.json, when rewritten, gives the certificate's notBefore as issuedAt.
        """
        facts = certificate_facts(fullchain_pem)
        self._write(spec, private_key_pem, fullchain_pem, facts, facts.not_before, names)
        stored = self.load(spec)
        if stored is None or not stored.complete or stored.facts.serial != facts.serial:
            problems = list(stored.problems) if stored else [f"{CERT_KEY} is missing or unreadable"]
            raise StorageInconsistent(f"s3://{spec.bucket}/{spec.prefix} does not read back as the certificate "
                                      f"put back: {'; '.join(problems) or 'another certificate is stored'}")
        return stored

    def _write(self, spec: CertificateSpec, private_key_pem: str, fullchain_pem: str, facts: CertificateFacts,
               issued_at: datetime, names: tuple[str, ...] = (PRIVATE_KEY_KEY, CERT_KEY, BUNDLE_KEY, METADATA_KEY)
               ) -> None:
        # In this order: bundle.pem after the pair it repeats, metadata.json (what the next run
        # decides from) last.
        bodies = {
            PRIVATE_KEY_KEY: (private_key_pem, "application/x-pem-file"),
            CERT_KEY: (fullchain_pem, "application/x-pem-file"),
            BUNDLE_KEY: (private_key_pem.rstrip("\n") + "\n" + fullchain_pem, "application/x-pem-file"),
            METADATA_KEY: (json.dumps(metadata_document(facts, issued_at), indent=2), "application/json"),
        }
        for name, (body, content_type) in bodies.items():
            if name in names:
                self._put(spec, name, body, content_type)

    def _put(self, spec: CertificateSpec, name: str, body: str, content_type: str) -> None:
        self._client.put_object(
            Bucket=spec.bucket, Key=spec.key(name), Body=body.encode(),
            ContentType=content_type, ServerSideEncryption="AES256",
        )
