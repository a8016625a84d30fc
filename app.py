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
from chalicelib.task_records.event_handler import TaskDns
from chalicelib.task_records.events import EVENT_DETAIL_TYPE, EVENT_SOURCE
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


def _task_dns_adapters(settings: TaskDnsSettings) -> tuple[EcsTasks, NetworkInterfaces, Route53Zone]:
    return (
        EcsTasks(client("ecs"), settings.cluster_arn),
        NetworkInterfaces(client("ec2")),
        Route53Zone(client("route53"), settings.hosted_zone_id),
    )


# The rule filters on the stage's CLUSTER_ARN (chalice loads app.py with the stage's environment
# when it deploys). Without one it matches nothing rather than every cluster in the account.
@app.on_cw_event(
    {
        "source": [EVENT_SOURCE],
        "detail-type": [EVENT_DETAIL_TYPE],
        "detail": {"clusterArn": [os.environ.get("CLUSTER_ARN", "unset-CLUSTER_ARN")]},
    },
    name="update_task_dns",
)
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
