"""ECS adapter: the current state of tasks of the configured cluster.

IAM: ecs:DescribeTasks and ecs:ListTasks, conditioned on ecs:cluster.
"""

from collections.abc import Iterable, Iterator

from chalicelib.task_records.tasks import Task

DESCRIBE_TASKS_LIMIT = 100  # DescribeTasks takes at most 100 task ARNs per call


class EcsTasks:
    def __init__(self, client, cluster_arn: str):
        self._client = client
        self.cluster_arn = cluster_arn

    def running_tasks(self) -> list[Task]:
        """Every task of the cluster that ECS wants running (listed page by page, described by 100)."""
        arns = [arn for page in self._client.get_paginator("list_tasks").paginate(
            cluster=self.cluster_arn, desiredStatus="RUNNING") for arn in page["taskArns"]]
        return [task for chunk in _chunks(arns, DESCRIBE_TASKS_LIMIT) for task in self._describe(chunk)]

    def statuses_of(self, task_ids: Iterable[str]) -> dict[str, Task]:
        """Current state by task id, for the ids ECS still knows (stopped tasks vanish after about
        an hour). DescribeTasks takes ids too, and answers with each task's own ARN."""
        found = {}
        for chunk in _chunks(sorted(set(task_ids)), DESCRIBE_TASKS_LIMIT):
            for task in self._describe(chunk):
                if task.task_id:
                    found[task.task_id] = task
        return found

    def _describe(self, task_arns: list[str]) -> Iterator[Task]:
        response = self._client.describe_tasks(cluster=self.cluster_arn, tasks=task_arns)
        for task in response.get("tasks", []):
            yield Task.from_ecs(task)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
