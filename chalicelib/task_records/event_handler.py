"""Keeps one task's records in step with an ECS Task State Change event.

Reads the zone, decides with chalicelib.task_records.records, writes one change batch. When the zone
changed between read and write (another invocation, another deployment), Route53 rejects the
batch and we read and decide again.
"""

from typing import Any

from chalicelib.shared.logs import logger
from chalicelib.shared.route53 import Route53Zone
from chalicelib.task_records.ecs import EcsTasks
from chalicelib.task_records.events import (
    IgnoreEvent,
    PublishRecords,
    RemoveRecords,
    is_starting_or_running,
    plan_task_event,
)
from chalicelib.task_records.network_interfaces import NetworkInterfaces
from chalicelib.task_records.records import plan_publish, plan_removal
from chalicelib.task_records.settings import TaskDnsSettings


class TaskDns:
    def __init__(self, settings: TaskDnsSettings, tasks: EcsTasks,
                 interfaces: NetworkInterfaces, zone: Route53Zone):
        self._settings = settings
        self._tasks = tasks
        self._interfaces = interfaces
        self._zone = zone

    def handle_event(self, event: Any) -> dict[str, Any]:
        plan = plan_task_event(event, self._settings)
        if isinstance(plan, PublishRecords):
            return self.publish(plan)
        if isinstance(plan, RemoveRecords):
            return self.remove(plan)
        return report_ignored(plan)

    def publish(self, plan: PublishRecords) -> dict[str, Any]:
        keys = {"task_id": plan.task_id, "hostname": plan.hostname}
        # Events are unordered: a PENDING or RUNNING event may arrive after the task stopped.
        # The task's current state, not the event's, decides whether a record may exist.
        if not self._still_running(plan.task_arn):
            logger.info("Task is no longer running; stale event, removing any records", **keys)
            return self.remove(RemoveRecords(plan.task_arn, plan.task_id, plan.hostname))

        addresses = self._interfaces.public_addresses(plan.network_interface_id)
        if addresses is None:
            logger.info("Network interface is gone; nothing to publish",
                        network_interface_id=plan.network_interface_id, **keys)
            return {"outcome": "no-interface", **keys}
        if not addresses:
            logger.info("Network interface has no public IP; nothing to publish",
                        network_interface_id=plan.network_interface_id, **keys)
            return {"outcome": "no-public-ip", **keys}

        owner_id = self._settings.record_owner_id
        result, _change_id = self._zone.converge(
            plan.hostname, lambda existing: plan_publish(plan.hostname, existing, addresses, owner_id),
            comment=f"task-subdomains: {plan.hostname}")
        keys.update(ipv4=list(addresses.ipv4), ipv6=list(addresses.ipv6))
        if result.outcome == "foreign":
            logger.warning("A record we do not own exists at this name; leaving it alone", **keys)
            return {"outcome": "foreign", **keys}
        logger.info("Task records converged", outcome=result.outcome, **keys)

        # The task may have stopped, and its STOPPED event been handled, while we were writing.
        # One more look closes that window so no record outlives its task.
        if result.changes and not self._still_running(plan.task_arn):
            logger.info("Task stopped while its records were written; removing them", **keys)
            return self.remove(RemoveRecords(plan.task_arn, plan.task_id, plan.hostname))
        return {"outcome": result.outcome, **keys}

    def remove(self, plan: RemoveRecords) -> dict[str, Any]:
        keys = {"task_id": plan.task_id, "hostname": plan.hostname}
        if plan.confirm_not_running and self._still_running(plan.task_arn):
            logger.warning("Stop event for a task ECS reports running; keeping its records", **keys)
            return {"outcome": "still-running", **keys}
        owner_id = self._settings.record_owner_id
        result, _change_id = self._zone.converge(
            plan.hostname, lambda existing: plan_removal(plan.hostname, existing, owner_id),
            comment=f"task-subdomains: {plan.hostname}")
        if result.outcome == "foreign":
            logger.warning("Records at this name are not ours; leaving them alone", **keys)
        else:
            logger.info("Task records converged", outcome=result.outcome, **keys)
        return {"outcome": result.outcome, **keys}

    def _still_running(self, task_arn: str) -> bool:
        status = self._tasks.current_status(task_arn)
        return status is not None and is_starting_or_running(status.desired_status, status.last_status)

def report_ignored(plan: IgnoreEvent) -> dict[str, Any]:
    log = logger.warning if plan.malformed else logger.info
    log("Event ignored", reason=plan.reason, **plan.context)
    return {"outcome": "malformed" if plan.malformed else "ignored", "reason": plan.reason}
