"""Hostname events on the local stack: the readiness check queue, a consumer that feeds it to
announce_hostnames as Lambda's event source mapping would, and a subscriber to the events.

The subscriber is what an orchestrator sets up in its own account: an EventBridge rule on the
bus for source "task-subdomains", with an SQS queue as its target, read as events arrive.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from embedded_stack.aws import ACCOUNT_ID, REGION
from embedded_stack.fargate import as_sqs_event

CHECKS_QUEUE = "task-subdomains-hostname-events"
SUBSCRIBER_QUEUE = "orchestrator-hostname-events"
SUBSCRIBER_RULE = "orchestrator-hostname-events"
EVENT_PATTERN = {"source": ["task-subdomains"], "detail-type": ["Task Hostname Ready", "Task Hostname Removed"]}


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"


@dataclass
class HostnameEvents:
    """The checks queue (HOSTNAME_EVENTS_QUEUE_ARN) and a subscriber's queue, in the emulator."""

    sqs: Any
    checks_url: str
    subscriber_url: str

    @property
    def checks_queue_arn(self) -> str:
        return queue_arn(CHECKS_QUEUE)

    @classmethod
    def create(cls) -> "HostnameEvents":
        sqs, events = boto3.client("sqs"), boto3.client("events")
        checks_url = sqs.create_queue(QueueName=CHECKS_QUEUE)["QueueUrl"]
        subscriber_url = sqs.create_queue(QueueName=SUBSCRIBER_QUEUE)["QueueUrl"]
        events.put_rule(Name=SUBSCRIBER_RULE, EventPattern=json.dumps(EVENT_PATTERN))
        events.put_targets(Rule=SUBSCRIBER_RULE, Targets=[{"Id": "queue", "Arn": queue_arn(SUBSCRIBER_QUEUE)}])
        return cls(sqs, checks_url, subscriber_url)

    def announce(self, announce_hostnames: Callable[[dict, Any], Any]) -> list[Any]:
        """Feeds every visible check to announce_hostnames, ten at a time, as Lambda's event source
        mapping would: a batch is deleted once its invocation returns (one that raises propagates,
        its messages stay on the queue)."""
        results = []
        while messages := self.sqs.receive_message(QueueUrl=self.checks_url, MaxNumberOfMessages=10,
                                                   WaitTimeSeconds=0).get("Messages", []):
            results.append(announce_hostnames(as_sqs_event([m["Body"] for m in messages], self.checks_queue_arn),
                                              None))
            self._delete(self.checks_url, messages)
        return results

    def checks_waiting(self) -> dict[str, int]:
        """How many checks the queue holds: visible now, and delayed (to be looked at again later)."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.checks_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"])["Attributes"]
        return {"visible": int(attributes["ApproximateNumberOfMessages"]),
                "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"])}

    def received(self) -> list[dict[str, Any]]:
        """The events the subscriber has received since it last looked."""
        return [json.loads(m["Body"]) for m in self._drain(self.subscriber_url)]

    def _drain(self, url: str) -> list[dict[str, Any]]:
        found = []
        while True:
            page = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = page.get("Messages", [])
            if not messages:
                return found
            found += messages
            self._delete(url, messages)

    def _delete(self, url: str, messages: list[dict[str, Any]]) -> None:
        self.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
