"""SNS adapter: tell people a certificate was issued or failed.

A notification that cannot be sent is logged and changes no outcome: the certificate is stored
(or the failure raised) either way.

IAM: sns:Publish on the configured topics.
"""

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.certificates.policy import CertificateFacts
from chalicelib.certificates.settings import CertificateSpec
from chalicelib.shared.logs import logger


def success_message(spec: CertificateSpec, facts: CertificateFacts,
                    challenges_left: tuple[str, ...] = ()) -> tuple[str, str]:
    subject = f"Certificate issued: {spec.label}"
    body = (f"A certificate for {spec.label} was issued and stored in "
            f"s3://{spec.bucket}/{spec.prefix}\n\nserial: {facts.serial}\n"
            f"valid from: {facts.not_before.isoformat()}\nvalid until: {facts.not_after.isoformat()}\n")
    if challenges_left:
        body += (f"\nThe ACME challenge TXT values at {', '.join(challenges_left)} could not be removed; "
                 "the next run removes them (only ours: other values there are left alone).\n")
    return subject, body


def failure_message(spec: CertificateSpec, error: BaseException) -> tuple[str, str]:
    subject = f"Certificate renewal FAILED: {spec.label}"
    body = (f"Issuing or renewing the certificate for {spec.label} failed.\n\n"
            f"error: {type(error).__name__}: {error}\n\n"
            "The next scheduled run tries again when the certificate is due (a forced renewal must be\n"
            "forced again). If the failure came while storing, the run put the previous matching key and\n"
            "certificate back when it could; tasks should load bundle.pem, one object with both.\n")
    return subject, body


class Notifier:
    def __init__(self, client):
        self._client = client

    def success(self, spec: CertificateSpec, facts: CertificateFacts, challenges_left: tuple[str, ...] = ()) -> None:
        self._publish(spec.success_topic_arn, *success_message(spec, facts, challenges_left))

    def failure(self, spec: CertificateSpec, error: BaseException) -> None:
        self._publish(spec.failure_topic_arn, *failure_message(spec, error))

    def _publish(self, topic_arn: str | None, subject: str, body: str) -> None:
        if topic_arn is None:
            return
        try:
            # SNS subjects are limited to 100 printable characters.
            self._client.publish(TopicArn=topic_arn, Subject=subject[:100], Message=body)
        except (ClientError, BotoCoreError) as error:
            logger.error("Could not send notification", topic_arn=topic_arn, subject=subject, error=str(error))
