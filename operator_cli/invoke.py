"""`renew` and `reconcile`: the deployed function, invoked; or, with --local, the same code in this process.

Invoked, the function runs with its own role and configuration, and its answer is printed. Local
runs build the function's objects from the same settings and adapters the handlers use, with
the operator's credentials: what the local stack uses, and a break-glass operator when the
function cannot run.

IAM (invoked): lambda:InvokeFunction on the function.
"""

import json
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from chalicelib.task_records.composition import task_event_handlers
from chalicelib.task_records.settings import TaskDnsSettings

# renew_certificates may run for its whole 900 s timeout; the answer must be waited for.
INVOKE_READ_TIMEOUT_SECONDS = 960


class InvocationFailed(RuntimeError):
    """The function could not be invoked, or raised; the message says which and what came back."""


class NotDeployed(LookupError):
    """The function to invoke does not exist: the command cannot tell what it would have said."""


def lambda_invoke_client():
    import boto3
    from botocore.config import Config

    # One attempt: a renewal that timed out on our side may still be running, and a second
    # invoke would only be throttled (reserved concurrency 1) or repeat its work. A session of its
    # own, built now: boto3's default session keeps the settings of the first command that used it.
    return boto3.session.Session().client("lambda", config=Config(read_timeout=INVOKE_READ_TIMEOUT_SECONDS,
                                                retries={"mode": "standard", "total_max_attempts": 1}))


def renewal_payload(force: bool, names: Iterable[str]) -> dict[str, Any]:
    payload: dict[str, Any] = {"force": force}
    names = list(names)
    if names:
        payload["names"] = names
    return payload


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
        raise InvocationFailed(f"{function_name} failed: {kind}: {message} (its log: "
                               f"/aws/lambda/{function_name})")
    return result


def invoke_async(lambda_client, function_name: str, payload: dict[str, Any]) -> int:
    response = lambda_client.invoke(FunctionName=function_name, InvocationType="Event",
                                    Payload=json.dumps(payload).encode())
    return response["StatusCode"]


def reconcile_locally(settings: TaskDnsSettings, client: Callable[[str], Any], dry_run: bool) -> dict[str, Any]:
    return task_event_handlers(settings, client).reconcile_task_dns({"dry_run": dry_run})


def renew_locally(settings, force: bool, clocks) -> dict[str, Any]:
    # Imported here: only renew needs the ACME stack.
    from chalicelib.certificates.renewal import CertificateRenewal, RenewalAdapters

    return CertificateRenewal(settings, RenewalAdapters.from_clients(settings), clocks).run(force=force)
