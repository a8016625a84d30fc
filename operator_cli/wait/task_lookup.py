"""The task's state and addresses now: the one place `wait` reads ECS and EC2.

Built from the app's own adapters, so `wait` sees the addresses update_task_dns publishes.
`wait` needs only a callable task id -> TaskState | None (None: ECS does not know the task).

IAM: ecs:DescribeTasks, ec2:DescribeNetworkInterfaces.
"""

from chalicelib.task_records.ecs import EcsTasks
from chalicelib.task_records.network_interfaces import NetworkInterfaces
from chalicelib.task_records.tasks import is_stopping_or_stopped
from operator_cli.wait.readiness import Addresses, TaskState


class EcsTaskLookup:
    """The task's state and addresses, as update_task_dns reads them."""

    def __init__(self, ecs_client, ec2_client, cluster_arn: str):
        self._tasks = EcsTasks(ecs_client, cluster_arn)
        self._interfaces = NetworkInterfaces(ec2_client)

    def __call__(self, task_id: str) -> TaskState | None:
        task = self._tasks.statuses_of([task_id]).get(task_id)
        if task is None:
            return None
        if is_stopping_or_stopped(task.desired_status, task.last_status):
            phase = "stopping"
        else:
            phase = "running" if task.last_status == "RUNNING" else "starting"
        eni_id = task.network_interface_id
        found = self._interfaces.public_addresses_of([eni_id]).get(eni_id) if eni_id else None
        addresses = None if found is None else Addresses(tuple(found.ipv4), tuple(found.ipv6))
        return TaskState(phase, task.last_status, eni_id is not None, addresses)
