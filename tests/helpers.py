"""Helpers shared by the tests: task names and markers, and botocore event hooks that always come off."""

from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib.task_records.records import ownership_marker
from chalicelib.task_records.settings import TaskDnsSettings
from embedded_stack.fargate import FargateCluster

hostname = FargateCluster.hostname


def marker() -> list[str]:
    """The TXT values of our ownership marker, for the deployment the environment configures."""
    return [ownership_marker(TaskDnsSettings.from_environment().record_owner_id)]


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it: waits end at once."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@contextmanager
def hooked(aws_client, event_name: str, hook, first: bool = True) -> Iterator[None]:
    """`hook` on one of the app's clients for the duration of the block (registered first by default,
    so it answers before botocore sends anything)."""
    register = aws_client.meta.events.register_first if first else aws_client.meta.events.register
    register(event_name, hook)
    try:
        yield
    finally:
        aws_client.meta.events.unregister(event_name, hook)
