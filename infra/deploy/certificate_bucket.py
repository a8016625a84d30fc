"""The stage's certificate bucket across stacks: a deleted stack keeps it (with the certificate and
its policy), and the next stack adopts it instead of failing to create it. A thin adapter over S3."""

import json
from collections.abc import Callable

from botocore.exceptions import ClientError

from infra.deploy.errors import CannotStart
from infra.deploy.plan import StageTarget
from infra.deploy.stack import SupportingStack

# The statement of infra/supporting-resources.yaml's bucket policy that guards the private keys.
KEY_READERS_STATEMENT = "OnlyRenewalAndTaskRolesReadPrivateKeys"


def bucket_to_adopt(session, target: StageTarget, stack: SupportingStack, stack_exists: bool, bucket: str,
                    say: Callable[[str], None]) -> bool:
    """True when the stage's certificate bucket exists but is not the stack's: a stack deleted by
    make destroy retains it, with the certificate in it, and a new stack cannot create it again."""
    if stack_exists and stack.resources_of_type("AWS::S3::Bucket", live_only=True):
        return False
    try:
        session.client("s3").head_bucket(Bucket=bucket, ExpectedBucketOwner=target.location.account)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
            return False
        if error.response["Error"]["Code"] == "403":
            raise CannotStart(f"s3://{bucket} (certStorageBucketName) belongs to another account: S3 bucket names "
                              "are global; choose another name") from None
        raise
    say(f"  certificate bucket s3://{bucket} is kept from before: the stack adopts it")
    hand_over_bucket_policy(session.client("s3"), bucket, target, say)
    return True


def hand_over_bucket_policy(s3, bucket: str, target: StageTarget, say: Callable[[str], None]) -> None:
    """The deleted stack kept its bucket policy (the key stayed guarded); CloudFormation refuses
    to create a policy on a bucket that has one, so the kept one goes just before the stack
    puts the same policy back."""
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=target.location.account)[
            "Policy"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchBucketPolicy":
            return
        raise
    if not any(statement.get("Sid") == KEY_READERS_STATEMENT for statement in policy.get("Statement", [])):
        raise CannotStart(f"s3://{bucket} has a bucket policy that is not the supporting stack's: the stack "
                          "cannot create its own beside it; remove it (keep what it says that you need)")
    s3.delete_bucket_policy(Bucket=bucket, ExpectedBucketOwner=target.location.account)
    say("  its kept bucket policy is handed over to the stack")
