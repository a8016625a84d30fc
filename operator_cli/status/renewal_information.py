"""The CA's suggested renewal time (ACME Renewal Information), as the renewal function asks for it.

Asking needs no account: the renewal information is a plain GET (RFC 9773), so the client here
has no key and reads no secret. Like the function, a CA that offers none, or cannot be reached,
means "use the lifetime rule"; the reason is kept for the operator.
"""

from dataclasses import dataclass, field
from datetime import datetime

from acme import client

from chalicelib.certificates.issuer import USER_AGENT

TIMEOUT_SECONDS = 10


@dataclass
class RenewalInformation:
    directory_url: str
    timeout: float = TIMEOUT_SECONDS
    problems: list[str] = field(default_factory=list)  # why a lookup gave no answer
    _acme: client.ClientV2 | None = None

    def renewal_time(self, fullchain_pem: str) -> datetime | None:
        try:
            suggested, _next_check = self._client().renewal_time(fullchain_pem.encode())
            return suggested
        except Exception as error:  # noqa: BLE001 - as in the function: no answer means the lifetime rule
            self.problems.append(f"{type(error).__name__}: {error}")
            return None

    def _client(self) -> client.ClientV2:
        if self._acme is None:
            network = client.ClientNetwork(key=None, user_agent=USER_AGENT, timeout=self.timeout)
            self._acme = client.ClientV2(client.ClientV2.get_directory(self.directory_url, network), network)
        return self._acme
