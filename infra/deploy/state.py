"""The other half of a stage's state: what `chalice deploy` recorded, kept in S3. A thin adapter.

Chalice records the resources it created in .chalice/deployed/<stage>.json and finds them again
only there: a clone without the file would create a second event source mapping beside the
first, or fail. So make deploy keeps the file in a bucket of the account, named from the account
and region (plan.StageTarget.state_bucket), fetches it before chalice runs and stores it after.
A lock object, written only if absent (S3's conditional write), keeps two deploys of one stage
from running at once.
"""

import getpass
import json
import os
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

_MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")


class StageLocked(RuntimeError):
    """Another deploy or destroy of the stage holds the lock; the message names it."""


class StateBucketNotOurs(RuntimeError):
    """The bucket's name is taken by another account."""


class DeployState:
    def __init__(self, s3, bucket: str, account: str, region: str):
        self._s3 = s3
        self.bucket = bucket
        self._account = account
        self._region = region
        self._token: str | None = None  # this run's lock, once taken

    def ensure_bucket(self) -> bool:
        """Creates the bucket unless it exists, and (every run: an interrupted first run may have
        left it bare) keeps it versioned, private and its old versions pruned; True when created.
        What it holds names resources (ARNs, role names), no secret."""
        created = False
        try:
            self._s3.head_bucket(Bucket=self.bucket, ExpectedBucketOwner=self._account)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "403":
                raise StateBucketNotOurs(
                    f"s3://{self.bucket} exists but not in account {self._account} (or may not be read with these "
                    "credentials): make deploy keeps each stage's state there") from None
            if code not in _MISSING:
                raise
            created = self._create()
        owner = {"ExpectedBucketOwner": self._account}
        # Every earlier state stays readable for 90 days: a deploy that recorded something wrong can
        # be undone.
        self._s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}, **owner)
        self._s3.put_public_access_block(Bucket=self.bucket, **owner, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True})
        self._s3.put_bucket_lifecycle_configuration(Bucket=self.bucket, **owner, LifecycleConfiguration={"Rules": [{
            "ID": "PruneOldStates", "Status": "Enabled", "Filter": {"Prefix": ""},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
            "Expiration": {"ExpiredObjectDeleteMarker": True}}]})
        return created

    def _create(self) -> bool:
        where = {} if self._region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": self._region}}
        try:
            self._s3.create_bucket(Bucket=self.bucket, **where)
        except ClientError as error:
            if error.response["Error"]["Code"] == "BucketAlreadyOwnedByYou":  # another run made it meanwhile
                return False
            raise
        return True

    def exists(self) -> bool:
        try:
            self._s3.head_bucket(Bucket=self.bucket, ExpectedBucketOwner=self._account)
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] in _MISSING:
                return False
            raise

    def lock(self, key: str, command: str) -> None:
        self._token = secrets.token_hex(8)
        holder = {"command": command, "by": f"{_user()}@{socket.gethostname()}", "pid": os.getpid(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds"), "token": self._token}
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(holder).encode(), IfNoneMatch="*",
                                ExpectedBucketOwner=self._account)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            raise StageLocked(
                f"{self._holder(key)} holds s3://{self.bucket}/{key}; when that run is over and the lock is "
                f"still there (it was interrupted), remove it: aws s3 rm s3://{self.bucket}/{key}") from None

    def unlock(self, key: str) -> None:
        """Removes the lock if it is still this run's: one removed by hand meanwhile (and taken by
        another run) stays. (A read, then a delete: S3's conditional delete is not relied on.)"""
        try:
            holder = json.loads(self._s3.get_object(Bucket=self.bucket, Key=key,
                                                    ExpectedBucketOwner=self._account)["Body"].read())
        except ClientError as error:
            if error.response["Error"]["Code"] in _MISSING:
                return
            raise
        except ValueError:
            holder = {}
        if holder.get("token") == self._token:
            self._s3.delete_object(Bucket=self.bucket, Key=key, ExpectedBucketOwner=self._account)

    def fetch(self, key: str, path: Path) -> bool:
        """Writes the stored state to path; False (and path untouched) when none is stored."""
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key, ExpectedBucketOwner=self._account)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in _MISSING:
                return False
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return True

    def store(self, path: Path, key: str) -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes(), ServerSideEncryption="AES256",
                            ContentType="application/json", ExpectedBucketOwner=self._account)

    def forget(self, key: str) -> None:
        # A delete marker: the versions before it stay, as a record of what the stage was.
        self._s3.delete_object(Bucket=self.bucket, Key=key, ExpectedBucketOwner=self._account)

    def _holder(self, key: str) -> str:
        try:
            holder = json.loads(self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
            return f"{holder['command']} by {holder['by']} (pid {holder['pid']}) since {holder['since']}"
        except (ClientError, ValueError, KeyError, TypeError):
            return "another run"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return str(os.getuid())
