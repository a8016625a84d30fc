"""moto in server mode, in this process, on a free loopback port.

The code under test reaches it the way it reaches real AWS: through the standard
AWS_ENDPOINT_URL, with dummy credentials and a region.
"""

import json
import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.server import ThreadedMotoServer

REGION = "eu-west-2"
ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass(frozen=True)
class EmulatedAws:
    endpoint_url: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def reset(self) -> None:
        self._post("/moto-api/reset", {})
        self.hold_ecs_tasks_in_their_state()

    def hold_ecs_tasks_in_their_state(self) -> None:
        # moto advances a task one lifecycle state per DescribeTasks call by default; our code
        # describes tasks to check them, so tasks must stay where the scenario put them.
        self._post(
            "/moto-api/state-manager/set-transition",
            {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}},
        )

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(
            self.endpoint_url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def _quiet_request_log() -> None:
    # werkzeug logs every request at INFO; the emulator's chatter would drown the app's own logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _patch_moto_quirks() -> None:
    # moto 5.2: ecs.run_task with awsvpc reads NetworkInterface.private_dns_name, which only
    # some code paths set (shared/DESIGN.md, "moto notes").
    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None


@contextmanager
def running_moto_server() -> Iterator[EmulatedAws]:
    _patch_moto_quirks()
    _quiet_request_log()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = EmulatedAws(endpoint_url=f"http://{host}:{port}")
    aws.hold_ecs_tasks_in_their_state()
    try:
        yield aws
    finally:
        server.stop()
