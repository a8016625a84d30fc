"""The deployed functions, invoked: what `renew` and `reconcile` do unless --local.

The function runs with its own role and configuration; its answer is returned, its error raised
as InvocationFailed (which errors.py maps to exit 1), a missing function as NotDeployed (exit 2).

IAM: lambda:InvokeFunction on the function.
"""

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code

# renew_certificates may run for its whole 900 s timeout; the answer must be waited for.
INVOKE_READ_TIMEOUT_SECONDS = 960


class InvocationFailed(RuntimeError):
    """The function could not be invoked, or raised; the message says which and what came back.

    When it raised: error_type and error_message as Lambda returned them (its errorType and
    errorMessage), for a command that reads more from them than the one line."""

    def __init__(self, message: str, error_type: str | None = None, error_message: str | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.error_message = error_message


class NotDeployed(LookupError):
    """The function to invoke does not exist: the command cannot tell what it would have said."""


def log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def follow_log_command(function_name: str, region: str) -> str:
    """The AWS CLI command that prints the function's log as it is written."""
    return f"aws logs tail --region {region} {log_group(function_name)} --follow"


def lambda_invoke_client():
    import boto3
    from botocore.config import Config

    # One attempt: a renewal that timed out on our side may still be running, and a second
    # invoke would only be throttled (reserved concurrency 1) or repeat its work. A session of its
    # own, built now: boto3's default session keeps the settings of the first command that used it.
    return boto3.session.Session().client("lambda", config=Config(read_timeout=INVOKE_READ_TIMEOUT_SECONDS,
                                                retries={"mode": "standard", "total_max_attempts": 1}))


def invoke(lambda_client, function_name: str, payload: dict[str, Any]) -> Any:
    try:
        response = lambda_client.invoke(FunctionName=function_name, InvocationType="RequestResponse",
                                        Payload=json.dumps(payload).encode())
    except ClientError as error:
        code = error_code(error)
        if code == "TooManyRequestsException":
            raise InvocationFailed(f"{function_name} is busy (a run is in progress and its reserved concurrency is "
                                   "used up): try again when it ends, or use --async to queue this run") from None
        if code == "ResourceNotFoundException":
            raise NotDeployed(f"{function_name} is not deployed (check --stage and --region), or use --local") from None
        raise
    body = response["Payload"].read().decode(errors="replace")
    result = json.loads(body) if body else None
    if response.get("FunctionError"):
        message = result.get("errorMessage") if isinstance(result, dict) else body
        kind = result.get("errorType") if isinstance(result, dict) else response["FunctionError"]
        raise InvocationFailed(f"{function_name} failed: {kind}: {message} (its log: {log_group(function_name)})",
                               kind, message)
    return result


def invoke_async(lambda_client, function_name: str, payload: dict[str, Any]) -> int:
    response = lambda_client.invoke(FunctionName=function_name, InvocationType="Event",
                                    Payload=json.dumps(payload).encode())
    return response["StatusCode"]

