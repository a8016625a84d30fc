"""ECS adapter: the current state of a task of the configured cluster.

IAM: ecs:DescribeTasks, conditioned on ecs:cluster.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskStatus:
    task_arn: str
    desired_status: str
    last_status: str
    attachments: list[dict[str, Any]]


class EcsTasks:
    def __init__(self, client, cluster_arn: str):
        self._client = client
        self.cluster_arn = cluster_arn

    def current_status(self, task_arn: str) -> TaskStatus | None:
        """None when ECS no longer knows the task (stopped tasks vanish after about an hour)."""
        response = self._client.describe_tasks(cluster=self.cluster_arn, tasks=[task_arn])
        for task in response.get("tasks", []):
            if task.get("taskArn") == task_arn:
                return TaskStatus(
                    task_arn=task_arn,
                    desired_status=task.get("desiredStatus", ""),
                    last_status=task.get("lastStatus", ""),
                    attachments=task.get("attachments", []),
                )
        return None
