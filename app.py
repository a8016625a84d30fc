"""task-subdomains: each ECS Fargate task on its own HTTPS subdomain, no load balancer.

Handlers only: task records live in chalicelib/task_records (built in its composition root),
certificates in chalicelib/certificates, and what both use in chalicelib/shared. Function names
are defined once, in chalicelib/shared/functions.py (docs/contract.md). Nothing here imports the
certificate side at module level, so the DNS functions' cold start never loads the ACME stack.
"""

import functools
import os

from chalice import Chalice, Rate

from chalicelib.shared.chalice_events import tolerate_malformed_events
from chalicelib.shared.functions import (
    ANNOUNCE_HOSTNAMES,
    HOSTNAME_EVENTS_QUEUE_VARIABLE,
    PROCESS_TASK_EVENTS,
    RECONCILE_TASK_DNS,
    RENEW_CERTIFICATES,
    TASK_EVENTS_QUEUE_VARIABLE,
    UPDATE_TASK_DNS,
)
from chalicelib.task_records.composition import hostname_announcer, task_event_handlers
from chalicelib.task_records.events import task_event_pattern
from chalicelib.task_records.handlers import (
    BUFFERED_BATCH_SIZE,
    BUFFERED_BATCHING_WINDOW_SECONDS,
    BUFFERED_MAXIMUM_CONCURRENCY,
    TaskEventHandlers,
)
from chalicelib.task_records.settings import TaskDnsSettings

app = Chalice(app_name="task-subdomains")


@functools.cache
def task_records() -> TaskEventHandlers:
    return task_event_handlers(TaskDnsSettings.from_environment())


@functools.cache
def announcer():
    return hostname_announcer(TaskDnsSettings.from_environment())


def _messages(event):
    return ((record.to_dict().get("messageId", ""), record.body) for record in event)


# Chalice loads app.py with the stage's environment when it deploys, so the stage decides here
# which functions exist. Without CLUSTER_ARN the rule matches nothing rather than every cluster
# in the account.
TASK_EVENTS_QUEUE_ARN = os.environ.get(TASK_EVENTS_QUEUE_VARIABLE, "").strip()
HOSTNAME_EVENTS_QUEUE_ARN = os.environ.get(HOSTNAME_EVENTS_QUEUE_VARIABLE, "").strip()

if TASK_EVENTS_QUEUE_ARN:
    # Buffered mode: an EventBridge rule (infra/) sends the cluster's task events to the queue,
    # and no per-event rule exists, so no event is handled twice. Lambda hands over up to
    # 10,000 messages (capped at its 6 MB payload: about 2,000 task events) gathered for up to
    # 2 s, so a burst of task starts becomes a few batches, each a few Route53 requests; two
    # consumers at most (the lowest maximum concurrency SQS allows) keep concurrent writers of
    # the same names, and their conflicts, rare.
    @app.on_sqs_message(queue_arn=TASK_EVENTS_QUEUE_ARN, batch_size=BUFFERED_BATCH_SIZE,
                        maximum_batching_window_in_seconds=BUFFERED_BATCHING_WINDOW_SECONDS,
                        maximum_concurrency=BUFFERED_MAXIMUM_CONCURRENCY, name=PROCESS_TASK_EVENTS)
    def process_task_events(event):
        return task_records().process_task_events(_messages(event))

else:
    @app.on_cw_event(task_event_pattern(os.environ.get("CLUSTER_ARN", "unset-CLUSTER_ARN")),
                     name=UPDATE_TASK_DNS)
    def update_task_dns(event):
        return task_records().update_task_dns(event.to_dict())

    tolerate_malformed_events(update_task_dns)


if HOSTNAME_EVENTS_QUEUE_ARN:
    # Readiness checks the writers leave per change batch: "Task Hostname Ready" once Route53
    # reports the change in sync. Ten checks a batch: each may be a GetChange.
    @app.on_sqs_message(queue_arn=HOSTNAME_EVENTS_QUEUE_ARN, batch_size=10, name=ANNOUNCE_HOSTNAMES)
    def announce_hostnames(event):
        return announcer().handle(_messages(event))


@app.schedule(Rate(10, unit=Rate.MINUTES), name=RECONCILE_TASK_DNS)
def reconcile_task_dns(event):
    return task_records().reconcile_task_dns(event.to_dict())


# Invoked by hand with {"dry_run": true}, which has none of a scheduled event's fields.
tolerate_malformed_events(reconcile_task_dns)


@app.schedule(Rate(12, unit=Rate.HOURS), name=RENEW_CERTIFICATES)
def renew_certificates(event):
    # Imported here: the ACME stack (acme, josepy) stays off the DNS functions' cold start.
    from chalicelib.certificates.renewal import renew_certificates as renew

    return renew(event.to_dict(), context=event.context)


# Invoked by hand with {"force": true}, which has none of a scheduled event's fields.
tolerate_malformed_events(renew_certificates)
