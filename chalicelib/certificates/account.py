"""SSM adapter: the ACME account key and URL under /{WORKSPACE}/.

The key is created once and atomically: PutParameter without Overwrite fails for the second of
two concurrent first runs, which then reads back the winner's key, so both end on one account.
A plain String parameter, as older deployments wrote, is read as well.

IAM: ssm:GetParameter, ssm:PutParameter on the two parameters. No KMS grant: the SecureString
uses SSM's AWS-managed key (aws/ssm), whose key policy already lets the account's principals use
it through SSM.
"""

from collections.abc import Callable

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.shared.logs import logger


class AcmeAccountStore:
    def __init__(self, client, key_parameter: str, url_parameter: str):
        self._client = client
        self._key_parameter = key_parameter
        self._url_parameter = url_parameter

    def load_or_create_key(self, generate_key_pem: Callable[[], str]) -> str:
        existing = self._get(self._key_parameter)
        if existing is not None:
            return existing
        candidate = generate_key_pem()
        try:
            self._client.put_parameter(
                Name=self._key_parameter, Value=candidate, Type="SecureString", Overwrite=False,
                Description="ACME account private key (task-subdomains)",
            )
            logger.info("Created ACME account key", parameter=self._key_parameter)
            return candidate
        except ClientError as error:
            if error_code(error) != "ParameterAlreadyExists":
                raise
        logger.info("Another run created the ACME account key first; using it",
                    parameter=self._key_parameter)
        winner = self._get(self._key_parameter)
        if winner is None:
            raise RuntimeError(f"{self._key_parameter} exists but could not be read back")
        return winner

    def account_url(self) -> str | None:
        return self._get(self._url_parameter)

    def save_account_url(self, url: str) -> None:
        if self.account_url() == url:
            return
        self._client.put_parameter(Name=self._url_parameter, Value=url, Type="String", Overwrite=True)
        logger.info("Saved ACME account URL", parameter=self._url_parameter, account_url=url)

    def _get(self, name: str) -> str | None:
        try:
            return self._client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except ClientError as error:
            if error_code(error) == "ParameterNotFound":
                return None
            raise
