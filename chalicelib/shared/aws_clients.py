"""boto3 clients shared by every handler of one Lambda container.

Clients are built on first use, never at import: importing app.py stays cheap, and tests can
point the standard AWS_ENDPOINT_URL at the emulator before anything talks to AWS.
"""

import functools

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# Standard mode retries throttling and transient errors (Throttling, PriorRequestNotComplete,
# 5xx) with jittered backoff. The bound keeps a DNS function well inside its timeout; whatever is
# still failing after it is raised, so Lambda's own retry takes over.
TOTAL_MAX_ATTEMPTS = 5
RETRY_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS})


@functools.cache
def _session() -> boto3.session.Session:
    # One session: its loader reads each service model once per container, not once per client.
    return boto3.session.Session()


@functools.cache
def client(service_name: str):
    return _session().client(service_name, config=RETRY_CONFIG)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")
