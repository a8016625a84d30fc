"""Helpers shared by the tests: task names and markers, and botocore event hooks that always come off."""

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chalicelib.task_records.ownership import ownership_marker
from chalicelib.task_records.settings import TaskDnsSettings
from embedded_stack.fargate import FargateCluster

hostname = FargateCluster.hostname
APP_PY = Path(__file__).resolve().parent.parent / "app.py"


def load_app(module_name: str):
    """app.py loaded afresh under another name, as Lambda loads it with the environment as it is now
    (TASK_EVENTS_QUEUE_ARN set or not); the `app` module of the other tests stays as it is."""
    spec = importlib.util.spec_from_file_location(module_name, APP_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
