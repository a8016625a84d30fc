"""Helpers for the certificate tests: the AWS resources a CERTIFICATES item points at, and checks."""

import base64
import json
import re
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import DNSName
from cryptography.x509.verification import PolicyBuilder, Store


class CertificateTarget:
    """A hosted zone, bucket and topics (with SQS queues subscribed, to read the notices). The bucket
    is versioned, as the supporting stack makes it."""

    def __init__(self, zone_name: str, tag: str):
        self.route53 = boto3.client("route53")
        self.s3 = boto3.client("s3")
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        self.zone_name = zone_name
        self.zone_id = self.route53.create_hosted_zone(
            Name=zone_name, CallerReference=f"certs-{tag}")["HostedZone"]["Id"].split("/")[-1]
        self.bucket = f"certs-{tag}"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.success_topic, self.success_queue = self._topic_with_queue(f"certs-ok-{tag}")
        self.failure_topic, self.failure_queue = self._topic_with_queue(f"certs-failed-{tag}")
        self.prefix = f"{zone_name}/"

    def item(self, domains: list[str], **extra: Any) -> dict[str, Any]:
        return {"domains": domains, "zoneId": self.zone_id, "certStorageBucketName": self.bucket,
                "certStoragePrefix": self.prefix, "successSnsTopicArn": self.success_topic,
                "failureSnsTopicArn": self.failure_topic, **extra}

    def _topic_with_queue(self, name: str) -> tuple[str, str]:
        topic = self.sns.create_topic(Name=name)["TopicArn"]
        queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        return topic, queue_url

    def notices(self, queue_url: str) -> list[dict[str, str]]:
        messages = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def objects(self) -> dict[str, dict[str, Any]]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {o["Key"]: {"etag": o["ETag"], "modified": o["LastModified"]} for o in listing}

    def read(self, name: str) -> str:
        return self.s3.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read().decode()

    def txt_values(self, name: str) -> list[str]:
        records = self.route53.list_resource_record_sets(
            HostedZoneId=self.zone_id, StartRecordName=name, StartRecordType="TXT", MaxItems="1")
        return sorted(v["Value"] for r in records["ResourceRecordSets"]
                      if r["Name"].rstrip(".") == name and r["Type"] == "TXT" for v in r["ResourceRecords"])


def pem_certificates(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def verify_chain(fullchain_pem: str, root_pem: str, hostname: str) -> None:
    """Raises unless the chain leads from a leaf valid for hostname to the given root."""
    leaf, *intermediates = pem_certificates(fullchain_pem)
    store = Store(pem_certificates(root_pem))
    verifier = PolicyBuilder().store(store).build_server_verifier(DNSName(hostname))
    verifier.verify(leaf, intermediates)


def key_matches(private_key_pem: str, fullchain_pem: str) -> bool:
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    leaf = pem_certificates(fullchain_pem)[0]
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.PEM, public) == \
        leaf.public_key().public_bytes(serialization.Encoding.PEM, public)


def san_names(fullchain_pem: str) -> set[str]:
    leaf = pem_certificates(fullchain_pem)[0]
    return set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
               .get_values_for_type(x509.DNSName))


def emitted_days_remaining(captured_stdout: str) -> tuple[list[float], dict]:
    """The CertificateDaysRemaining values of one EMF document (the first printed), and the document."""
    for line in captured_stdout.splitlines():
        if '"CertificateDaysRemaining"' in line and '"_aws"' in line:
            document = json.loads(line)
            values = document["CertificateDaysRemaining"]
            return sorted(values if isinstance(values, list) else [values]), document
    return [], {}


def pem_body(pem: str) -> str:
    """The base64 body of a PEM document's blocks, line breaks removed."""
    return "".join(line.strip() for line in pem.splitlines() if line.strip() and not line.startswith("-----"))


def leaked_fragments(secret_pem: str, text: str, length: int = 40) -> list[str]:
    """Every run of `length` characters of the secret's base64 body found in text, read as it is and
    with line breaks (real, or escaped in JSON) and whitespace taken out. A key that reaches a log
    in pieces, re-wrapped or JSON-escaped, is still found."""
    body = pem_body(secret_pem)
    squeezed = re.sub(r"(\\r|\\n|\s)+", "", text)
    public = public_encodings(secret_pem)
    return [body[i:i + length] for i in range(len(body) - length + 1)
            if (body[i:i + length] in text or body[i:i + length] in squeezed)
            and not any(body[i:i + length] in half for half in public)]


def public_encodings(private_key_pem: str) -> list[str]:
    """The key's public half as base64 at each of the three byte alignments, in both alphabets.

    A PKCS#8 key carries its public key (an EC point, an RSA modulus), and so does every
    certificate and CSR for it, which the ACME library logs at DEBUG: when the certificate puts
    the point at the same offset modulo 3, 85 characters of the key's base64 body are in the log
    without anything secret being there."""
    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return []
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = [base64.b64encode(b"\0" * pad + spki).decode() for pad in range(3)]
    return encoded + [text.replace("+", "-").replace("/", "_") for text in encoded]

