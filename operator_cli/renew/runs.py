"""A renewal run: the payload that asks the deployed renew_certificates for one (invoked through
invoke.py), or, with --local, the function's own code in this process.

A local run builds the function's objects from the same settings and adapters the handler uses,
with the operator's credentials: what the local stack uses, and a break-glass operator when the
function cannot run.
"""

from collections.abc import Iterable
from typing import Any

from chalicelib.certificates.renewal import CertificateRenewal, Clocks, RenewalAdapters
from chalicelib.certificates.settings import RenewalSettings


def renewal_payload(force: bool, names: Iterable[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {"force": force}
    names = list(names)
    if names:
        payload["names"] = names
    return payload


def renew_locally(settings: RenewalSettings, force: bool, clocks: Clocks) -> dict[str, Any]:
    return CertificateRenewal(settings, RenewalAdapters.from_clients(settings), clocks).run(force=force)
