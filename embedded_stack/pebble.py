"""Pebble, Let's Encrypt's test ACME CA (Debian package `pebble`), on loopback.

It validates DNS-01 for real, against the embedded DNS server given by port. Its own HTTPS
listener gets a throwaway CA made here, so the ACME client can trust it by file
(REQUESTS_CA_BUNDLE) without touching the system store.
"""

import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEBBLE = "/usr/bin/pebble"
ADDRESS = "127.0.0.1"
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Pebble:
    directory_url: str
    management_url: str
    listener_ca_path: str

    def root_pem(self) -> str:
        """The root that issues this run's certificates (Pebble makes a new one every start)."""
        return self._management_get("/roots/0")

    def intermediate_pem(self) -> str:
        return self._management_get("/intermediates/0")

    def _management_get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=self.listener_ca_path)
        with urllib.request.urlopen(self.management_url + path, context=context, timeout=10) as response:
            return response.read().decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    )


def _write_listener_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for 127.0.0.1/localhost signed by it; returns (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("task-subdomains embedded stack listener CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        ), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost")).issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address(ADDRESS)), x509.DNSName("localhost"),
        ]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths = directory / "listener-ca.pem", directory / "listener-cert.pem", directory / "listener-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(leaf_key))
    return paths


def _free_ports(count: int) -> list[int]:
    # Held open together so the ports are distinct; Pebble binds them right after they close.
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((ADDRESS, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _wait_until_ready(process: subprocess.Popen, pebble: Pebble, output: Path) -> None:
    context = ssl.create_default_context(cafile=pebble.listener_ca_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pebble exited with {process.returncode}:\n{output.read_text()}")
        try:
            with urllib.request.urlopen(pebble.directory_url, context=context, timeout=1) as response:
                response.read()
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"pebble did not serve {pebble.directory_url} within {START_TIMEOUT_SECONDS}s:\n"
                    f"{output.read_text()}"
                ) from None
            time.sleep(_POLL_SECONDS)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running_pebble(dns_port: int, extra_env: dict[str, str] | None = None) -> Iterator[Pebble]:
    """Pebble resolving through 127.0.0.1:dns_port; extra_env adds PEBBLE_* switches
    (e.g. PEBBLE_AUTHZREUSE, PEBBLE_WFE_NONCEREJECT)."""
    directory = Path(tempfile.mkdtemp(prefix="pebble-"))
    try:
        ca_path, cert_path, key_path = _write_listener_certificates(directory)
        acme_port, management_port, http_port, tls_port = _free_ports(4)
        config_path = directory / "pebble-config.json"
        config_path.write_text(json.dumps({"pebble": {
            "listenAddress": f"{ADDRESS}:{acme_port}",
            "managementListenAddress": f"{ADDRESS}:{management_port}",
            "certificate": str(cert_path),
            "privateKey": str(key_path),
            # Where the VA would connect for HTTP-01 and TLS-ALPN-01. Only DNS-01 is used here;
            # free ports, so a stray validation of another type fails fast instead of hitting a
            # real service.
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}))
        pebble = Pebble(
            directory_url=f"https://{ADDRESS}:{acme_port}/dir",
            management_url=f"https://{ADDRESS}:{management_port}",
            listener_ca_path=str(ca_path),
        )
        output = directory / "pebble.log"
        # Without NOSLEEP the VA waits up to 5 s at random before each validation.
        environment = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", **(extra_env or {})}
        with output.open("wb") as log:
            # A file, not a pipe: Pebble logs every request, and an undrained pipe would block it.
            process = subprocess.Popen(
                [PEBBLE, "-config", str(config_path), "-dnsserver", f"{ADDRESS}:{dns_port}", "-strict"],
                stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=directory,
            )
        try:
            _wait_until_ready(process, pebble, output)
            yield pebble
        finally:
            _stop(process)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
