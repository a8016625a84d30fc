"""ECS adapter: the current state of a task of the configured cluster.

IAM: ecs:DescribeTasks and ecs:ListTasks, conditioned on ecs:cluster.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DESCRIBE_TASKS_LIMIT = 100  # DescribeTasks takes at most 100 task ARNs per call


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

    def running_tasks(self) -> list[TaskStatus]:
        """Every task of the cluster that ECS wants running (listed page by page, described by 100)."""
        arns = [arn for page in self._client.get_paginator("list_tasks").paginate(
            cluster=self.cluster_arn, desiredStatus="RUNNING") for arn in page["taskArns"]]
        return [status for chunk in _chunks(arns, DESCRIBE_TASKS_LIMIT) for status in self._describe(chunk)]

    def statuses_of(self, task_ids: list[str]) -> dict[str, TaskStatus]:
        """Current state by task id, for the ids ECS still knows (DescribeTasks takes ids too)."""
        found = {}
        for chunk in _chunks(sorted(set(task_ids)), DESCRIBE_TASKS_LIMIT):
            for status in self._describe(chunk):
                found[status.task_arn.rsplit("/", 1)[1]] = status
        return found

    def current_status(self, task_arn: str) -> TaskStatus | None:
        """None when ECS no longer knows the task (stopped tasks vanish after about an hour).

        Matched by task id: ECS answers with the task's own ARN, whichever format was asked.
        """
        return self.statuses_of([task_arn.rsplit("/", 1)[1]]).get(task_arn.rsplit("/", 1)[1])

    def _describe(self, task_arns: list[str]) -> Iterator[TaskStatus]:
        response = self._client.describe_tasks(cluster=self.cluster_arn, tasks=task_arns)
        for task in response.get("tasks", []):
            yield TaskStatus(
                task_arn=task["taskArn"],
                desired_status=task.get("desiredStatus", ""),
                last_status=task.get("lastStatus", ""),
                attachments=task.get("attachments", []),
            )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
