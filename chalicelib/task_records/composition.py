"""The task side's composition root: settings and clients in, the writers and the announcer out.

app.py and the operator command build what they run here and nowhere else, the way the
certificate side's RenewalAdapters does, so a new adapter is wired once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.shared import aws_clients
from chalicelib.shared.route53 import Route53Zone
from chalicelib.task_records.announcer import EventBus, HostnameAnnouncer
from chalicelib.task_records.ecs import EcsTasks
from chalicelib.task_records.handlers import TaskEventHandlers
from chalicelib.task_records.metrics import TaskRecordMetrics
from chalicelib.task_records.network_interfaces import NetworkInterfaces
from chalicelib.task_records.readiness import ReadinessQueue
from chalicelib.task_records.settings import TaskDnsSettings
from chalicelib.task_records.sync import TaskRecords


@dataclass(frozen=True)
class TaskRecordAdapters:
    tasks: EcsTasks
    interfaces: NetworkInterfaces
    zone: Route53Zone
    readiness: ReadinessQueue | None  # None: the stage has no hostname events queue

    @classmethod
    def from_clients(cls, settings: TaskDnsSettings,
                     client: Callable[[str], Any] = aws_clients.client) -> "TaskRecordAdapters":
        queue = settings.hostname_events_queue_arn
        return cls(tasks=EcsTasks(client("ecs"), settings.cluster_arn),
                   interfaces=NetworkInterfaces(client("ec2")),
                   zone=Route53Zone(client("route53"), settings.hosted_zone_id),
                   readiness=ReadinessQueue(client("sqs"), queue) if queue else None)


def task_records(settings: TaskDnsSettings, client: Callable[[str], Any] = aws_clients.client) -> TaskRecords:
    adapters = TaskRecordAdapters.from_clients(settings, client)
    return TaskRecords(settings, adapters.tasks, adapters.interfaces, adapters.zone, adapters.readiness)


def task_event_handlers(settings: TaskDnsSettings,
                        client: Callable[[str], Any] = aws_clients.client) -> TaskEventHandlers:
    return TaskEventHandlers(task_records(settings, client), TaskRecordMetrics())


def hostname_announcer(settings: TaskDnsSettings,
                       client: Callable[[str], Any] = aws_clients.client) -> HostnameAnnouncer:
    # Built here, not from TaskRecordAdapters: the announcer has no use for EC2, and a client costs
    # its cold start a service model.
    if not settings.hostname_events_queue_arn:
        raise ValueError("announce_hostnames needs HOSTNAME_EVENTS_QUEUE_ARN")
    return HostnameAnnouncer(Route53Zone(client("route53"), settings.hosted_zone_id),
                             EcsTasks(client("ecs"), settings.cluster_arn),
                             EventBus(client("events"), settings.event_bus_name),
                             ReadinessQueue(client("sqs"), settings.hostname_events_queue_arn))
