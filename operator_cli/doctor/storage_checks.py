"""Where the secrets live: the ACME account parameter in SSM and the certificate bucket in S3.

Checked from their descriptions only: no parameter value and no object is read, so nothing
secret reaches the operator's terminal.

IAM: ssm:DescribeParameters; s3:ListBucket (HeadBucket), s3:GetBucketVersioning,
s3:GetBucketPublicAccessBlock.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.shared.aws_clients import error_code
from operator_cli.doctor.checks import FAIL, OK, WARN, Check

SECURE_STRING = "SecureString"
PUBLIC_ACCESS_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def account_parameter_check(name: str, parameter_type: str | None) -> Check:
    """parameter_type: SSM's Type of the parameter, None when it does not exist."""
    if parameter_type is None:
        return Check(WARN, "acme-account", name, "does not exist yet: the first renew_certificates run creates it "
                     "(a SecureString); if the function has run, read its log")
    if parameter_type != SECURE_STRING:
        return Check(FAIL, "acme-account", name,
                     f"is a {parameter_type}: the ACME account's private key is stored unencrypted; delete it and "
                     "put the same value back with --type SecureString")
    return Check(OK, "acme-account", name, "exists and is a SecureString")


@dataclass(frozen=True)
class BucketFacts:
    name: str
    exists: bool
    readable: bool = True  # False: it exists but HeadBucket was refused
    versioning: str | None = None  # Enabled, Suspended, or None when never set
    public_access_block: Mapping[str, bool] | None = None  # None when the bucket has none


def bucket_checks(facts: BucketFacts) -> list[Check]:
    name = facts.name
    if not facts.exists:
        return [Check(FAIL, "bucket", name, "does not exist: deploy infra/supporting-resources.yaml "
                      f"(CertificateBucketName={name}), or fix certStorageBucketName in CERTIFICATES")]
    if not facts.readable:
        return [Check(FAIL, "bucket", name, "exists, but these credentials may not see it (403): it may belong to "
                      "another account (fix certStorageBucketName), or grant s3:ListBucket to check it")]
    checks = [Check(OK, "bucket", name, "exists")]
    if facts.versioning == "Enabled":
        checks.append(Check(OK, "bucket-versioning", name, "versioning is enabled"))
    else:
        checks.append(Check(WARN, "bucket-versioning", name,
                            f"versioning is {(facts.versioning or 'off').lower()}: a bad write replaces the only "
                            "copy of the certificate and key; enable versioning"))
    block = facts.public_access_block or {}
    open_settings = [setting for setting in PUBLIC_ACCESS_SETTINGS if not block.get(setting)]
    if open_settings:
        checks.append(Check(FAIL, "bucket-public-access", name,
                            f"public access is not blocked ({', '.join(open_settings)} off): the bucket holds the "
                            "certificate's private key; turn on all four settings of its public access block "
                            "(an account-wide block is not read by doctor)"))
    else:
        checks.append(Check(OK, "bucket-public-access", name, "public access is blocked"))
    return checks


class StorageReader:
    def __init__(self, ssm_client, s3_client):
        self._ssm = ssm_client
        self._s3 = s3_client

    def parameter_type(self, name: str) -> str | None:
        found = self._ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}])["Parameters"]
        return found[0]["Type"] if found else None

    def bucket(self, name: str) -> BucketFacts:
        try:
            self._s3.head_bucket(Bucket=name)
        except ClientError as error:
            code = error_code(error)
            if code in ("404", "NoSuchBucket"):
                return BucketFacts(name, exists=False)
            if code in ("403", "AccessDenied"):
                return BucketFacts(name, exists=True, readable=False)
            raise
        versioning = self._s3.get_bucket_versioning(Bucket=name).get("Status")
        try:
            block = self._s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as error:
            if error_code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            block = None
        return BucketFacts(name, exists=True, versioning=versioning, public_access_block=block)
