"""Exit codes, and the one place errors become them. Pure functions.

0: all is well. 1: a problem was found (a certificate, a task record, a failed check, a failed
run). 2: the command cannot tell: configuration, no credentials, no region, access denied, not
deployed, AWS unreachable or refusing. Every command maps an error through `exit_code_and_message`,
and doctor's checks through the same function, so one AWS error means one exit code everywhere.
Doctor's checks, and a renewal's per-certificate outcomes, become one exit code here too.
"""

from collections.abc import Iterable

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from chalicelib.certificates.renewal import InvalidRequest, RenewalFailed
from chalicelib.shared.configuration import ConfigurationError
from operator_cli.aws_settings import AwsSettingsError
from operator_cli.configuration import StageConfigError
from operator_cli.doctor.checks import ERROR, FAIL, Check
from operator_cli.invoke import InvocationFailed, NotDeployed
from operator_cli.renew.outcomes import CertificateOutcome
from operator_cli.wait.name_servers import NoNameServers
from operator_cli.wait.wait import UnknownName

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_CANNOT_TELL = 2

ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                                 "AuthorizationError"})
# The credentials themselves were refused: expired, revoked, or of no account.
REFUSED_CREDENTIAL_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                                      "UnrecognizedClientException", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                                      "InvalidSignatureException"})


class CannotTell(Exception):
    """Raised by the commands themselves when they cannot find out; exit 2."""


class ProblemFound(Exception):
    """Raised by the commands themselves when what was asked about is not well; exit 1."""


def exit_code_and_message(error: BaseException) -> tuple[int, str] | None:
    """The exit code and the one line to print for an error the operator can act on; None for any
    other (a bug: its traceback is what helps)."""
    if isinstance(error, ConfigurationError | StageConfigError | InvalidRequest):
        return EXIT_CANNOT_TELL, f"configuration: {error}"
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return EXIT_CANNOT_TELL, ("no AWS credentials: give --profile, or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY (the standard SDK settings)")
    if isinstance(error, NoRegionError):
        return EXIT_CANNOT_TELL, "no AWS region: give --region, set AWS_REGION, or set CLUSTER_ARN"
    if isinstance(error, ProfileNotFound):
        return EXIT_CANNOT_TELL, f"no AWS profile {error.kwargs.get('profile')!r} in the SDK's config files"
    if isinstance(error, EndpointConnectionError):
        return EXIT_CANNOT_TELL, (f"cannot reach AWS at {error.kwargs.get('endpoint_url')}: check the network and "
                                  "AWS_ENDPOINT_URL (unset it for real AWS)")
    if isinstance(error, ClientError | BotoCoreError):
        return EXIT_CANNOT_TELL, describe_aws_error(error)
    if isinstance(error, AwsSettingsError | NotDeployed | UnknownName | NoNameServers | CannotTell):
        return EXIT_CANNOT_TELL, str(error)
    if isinstance(error, InvocationFailed | RenewalFailed | ProblemFound):
        return EXIT_PROBLEM, str(error)
    return None


def describe_aws_error(error: ClientError | BotoCoreError) -> str:
    if not isinstance(error, ClientError):
        return f"AWS refused: {type(error).__name__}: {error}"
    details = error.response.get("Error", {})
    code = details.get("Code", "error")
    operation = getattr(error, "operation_name", "the request")
    what = f"{operation}: {code}: {details.get('Message', '')}".rstrip(": ")
    if code in ACCESS_DENIED_CODES:
        return f"access denied: {what} (these credentials may not; docs/operating.md lists what the command needs)"
    if code in REFUSED_CREDENTIAL_CODES:
        return f"AWS refused the credentials: {what} (expired or not of this account? renew them)"
    return f"AWS refused: {what}"


def check_for_error(check: str, subject: str, error: BaseException) -> Check:
    """A doctor check that could not be made: level `error`, and the same words as any command's."""
    found = exit_code_and_message(error)
    if found is None:
        raise error
    code, message = found
    return Check(FAIL if code == EXIT_PROBLEM else ERROR, check, subject, f"could not check: {message}")


def checks_exit_code(checks: Iterable[Check]) -> int:
    """1 when a check failed (a problem found stays found, whatever could not be checked beside it);
    else 2 when a check could not be made; else 0."""
    levels = {check.level for check in checks}
    if FAIL in levels:
        return EXIT_PROBLEM
    return EXIT_CANNOT_TELL if ERROR in levels else EXIT_OK


def renewal_exit_code(outcomes: Iterable[CertificateOutcome]) -> int:
    """1 when a certificate failed, whatever was issued and stored beside it; else 0."""
    return EXIT_PROBLEM if any(outcome.failed for outcome in outcomes) else EXIT_OK
