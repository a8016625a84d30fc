"""The stage's credentials and region: the SDK's own credentials (AWS_PROFILE, keys, SSO), the
region of CLUSTER_ARN, and the account of CLUSTER_ARN. A thin adapter over STS."""

from collections.abc import Callable, Mapping

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
    SSOTokenLoadError,
    TokenRetrievalError,
)

from infra.deploy.errors import CannotStart
from infra.deploy.plan import StageTarget

# The credentials themselves were refused: expired, revoked, or of no account.
_REFUSED_CREDENTIALS = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch",
                        "UnrecognizedClientException", "AccessDenied"}


def stage_session(target: StageTarget, environ: Mapping[str, str], say: Callable[[str], None]) -> boto3.Session:
    """A session in the stage's region, with credentials of the stage's account, checked before
    anything else is asked of AWS."""
    region = target.location.region
    try:
        session = boto3.Session(region_name=region, profile_name=environ.get("AWS_PROFILE") or None)
        credentials = session.get_credentials()
    except BotoCoreError as error:  # ProfileNotFound, an SSO token expired, a broken config file
        raise CannotStart(f"no usable AWS credentials: {error}") from None
    if credentials is None:
        raise CannotStart("no AWS credentials: set AWS_PROFILE (then `aws sso login` if it is an SSO profile), "
                          "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    try:
        identity = session.client("sts").get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError, TokenRetrievalError, SSOTokenLoadError) as error:
        raise CannotStart(f"no usable AWS credentials: {error}") from None
    except ClientError as error:
        if error.response["Error"]["Code"] in _REFUSED_CREDENTIALS:
            raise CannotStart(f"AWS refused the credentials ({error.response['Error']['Code']}): renew them "
                              "(`aws sso login`, or new keys)") from None
        raise
    if identity["Account"] != target.location.account:
        raise CannotStart(f"the credentials are of account {identity['Account']}, but stage {target.stage}'s "
                          f"CLUSTER_ARN is in account {target.location.account}: use credentials of that "
                          "account (AWS_PROFILE)")
    elsewhere = sorted({f"{v}={environ[v]}" for v in ("AWS_REGION", "AWS_DEFAULT_REGION")
                        if environ.get(v, "").strip() not in ("", region)})
    say(f"  {identity['Arn']}, region {region} (from CLUSTER_ARN"
        + (f"; {', '.join(elsewhere)} not used)" if elsewhere else ")"))
    return session
