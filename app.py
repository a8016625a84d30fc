"""task-subdomains: each ECS Fargate task on its own HTTPS subdomain, no load balancer.

Handlers only: task records live in chalicelib/task_records, certificates in
chalicelib/certificates, and what both use in chalicelib/shared. Function names are part of the
contract (docs/contract.md). Nothing here imports the certificate side at module level, so the
DNS functions' cold start never loads the ACME stack.
"""

import functools
import os

from chalice import Chalice, Rate

from chalicelib.shared.aws_clients import client
from chalicelib.shared.chalice_events import tolerate_malformed_events
from chalicelib.shared.route53 import Route53Zone
from chalicelib.task_records.ecs import EcsTasks
from chalicelib.task_records.event_batches import (
    BUFFERED_BATCH_SIZE,
    BUFFERED_BATCHING_WINDOW_SECONDS,
    BUFFERED_MAXIMUM_CONCURRENCY,
    TaskEventBatches,
)
from chalicelib.task_records.event_handler import TaskDns
from chalicelib.task_records.events import task_event_pattern
from chalicelib.task_records.network_interfaces import NetworkInterfaces
from chalicelib.task_records.reconcile import Reconciler, is_dry_run
from chalicelib.task_records.settings import TaskDnsSettings

app = Chalice(app_name="task-subdomains")


@functools.cache
def task_dns() -> TaskDns:
    settings = TaskDnsSettings.from_environment()
    return TaskDns(settings, *_task_dns_adapters(settings))


@functools.cache
def reconciler() -> Reconciler:
    settings = TaskDnsSettings.from_environment()
    return Reconciler(settings, *_task_dns_adapters(settings))


@functools.cache
def task_event_batches() -> TaskEventBatches:
    settings = TaskDnsSettings.from_environment()
    return TaskEventBatches(settings, reconciler())


def _task_dns_adapters(settings: TaskDnsSettings) -> tuple[EcsTasks, NetworkInterfaces, Route53Zone]:
    return (
        EcsTasks(client("ecs"), settings.cluster_arn),
        NetworkInterfaces(client("ec2")),
        Route53Zone(client("route53"), settings.hosted_zone_id),
    )


# Chalice loads app.py with the stage's environment when it deploys, so the stage decides here
# which function receives task events. Without CLUSTER_ARN the rule matches nothing rather than
# every cluster in the account.
TASK_EVENTS_QUEUE_ARN = os.environ.get("TASK_EVENTS_QUEUE_ARN", "").strip()

if TASK_EVENTS_QUEUE_ARN:
    # Buffered mode: an EventBridge rule (infra/) sends the cluster's task events to the queue,
    # and no per-event rule exists, so no event is handled twice. Lambda hands over up to
    # 10,000 messages (capped at its 6 MB payload: about 2,000 task events) gathered for up to
    # 2 s, so a burst of task starts becomes a few batches, each a few Route53 requests; two
    # consumers at most (the lowest maximum concurrency SQS allows) keep concurrent writers of
    # the same names, and their conflicts, rare.
    @app.on_sqs_message(queue_arn=TASK_EVENTS_QUEUE_ARN, batch_size=BUFFERED_BATCH_SIZE,
                        maximum_batching_window_in_seconds=BUFFERED_BATCHING_WINDOW_SECONDS,
                        maximum_concurrency=BUFFERED_MAXIMUM_CONCURRENCY, name="process_task_events")
    def process_task_events(event):
        return task_event_batches().handle(record.body for record in event)

else:
    @app.on_cw_event(task_event_pattern(os.environ.get("CLUSTER_ARN", "unset-CLUSTER_ARN")),
                     name="update_task_dns")
    def update_task_dns(event):
        return task_dns().handle_event(event.to_dict())

    tolerate_malformed_events(update_task_dns)


@app.schedule(Rate(10, unit=Rate.MINUTES), name="reconcile_task_dns")
def reconcile_task_dns(event):
    return reconciler().run(dry_run=is_dry_run(event.to_dict()))


# Invoked by hand with {"dry_run": true}, which has none of a scheduled event's fields.
tolerate_malformed_events(reconcile_task_dns)


@app.schedule(Rate(12, unit=Rate.HOURS), name="renew_certificates")
def renew_certificates(event):
    # Imported here: the ACME stack (acme, josepy) stays off the DNS functions' cold start.
    from chalicelib.certificates.renewal import renew_certificates as renew

    return renew(event.to_dict(), context=event.context)


# Invoked by hand with {"force": true}, which has none of a scheduled event's fields.
tolerate_malformed_events(renew_certificates)
