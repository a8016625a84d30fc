"""`status`: each certificate, and the task records, as the functions see them.

IAM: s3:GetObject on <bucket>/<prefix>* (cert.pem at least) and s3:ListBucket; ecs:ListTasks,
ecs:DescribeTasks; ec2:DescribeNetworkInterfaces; route53:ListResourceRecordSets.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.certificates.settings import RenewalSettings
from chalicelib.certificates.store import CertificateStore
from chalicelib.shared.functions import UPDATE_TASK_DNS
from chalicelib.task_records.composition import TaskRecordAdapters
from chalicelib.task_records.settings import TaskDnsSettings
from operator_cli.status.certificate_status import CertificateStatus, read_certificate_status
from operator_cli.status.renewal_information import RenewalInformation
from operator_cli.status.task_status import TaskRecordsStatus, task_records_status


@dataclass(frozen=True)
class StatusReport:
    certificates: tuple[CertificateStatus, ...]
    task_records: TaskRecordsStatus
    notes: tuple[str, ...] = ()

    @property
    def needs_attention(self) -> bool:
        return (any(certificate.needs_attention for certificate in self.certificates)
                or self.task_records.needs_attention)

    def as_dict(self) -> dict[str, Any]:
        return {"needs_attention": self.needs_attention,
                "certificates": [c.as_dict() for c in self.certificates],
                "task_records": self.task_records.as_dict(), "notes": list(self.notes)}


def read_status(task_dns: TaskDnsSettings, renewal: RenewalSettings, client: Callable[[str], Any],
                now: datetime, renewal_information: Callable[[str], RenewalInformation] = RenewalInformation,
                writer: str = UPDATE_TASK_DNS) -> StatusReport:
    """writer: the stage's task-event function (task_status.task_event_writer)."""
    ari = renewal_information(renewal.directory_url)
    store = CertificateStore(client("s3"))
    certificates = tuple(read_certificate_status(spec, store, now, ari.renewal_time) for spec in renewal.certificates)
    notes = [f"ACME renewal information unavailable ({problem}): renewal times follow the lifetime rule, as the "
             "function's would" for problem in dict.fromkeys(ari.problems)]
    if any(not c.objects_compared for c in certificates):
        notes.append("key.pem and bundle.pem are not readable with these credentials (the bucket policy keeps them "
                     "for the renewal and task roles): only cert.pem was read, the four objects were not compared")
    return StatusReport(certificates, read_task_records(task_dns, client, writer), tuple(notes))


def read_task_records(settings: TaskDnsSettings, client: Callable[[str], Any],
                      writer: str = UPDATE_TASK_DNS) -> TaskRecordsStatus:
    # The zone first, as the reconciler reads it: a task that starts in between shows as "not
    # published yet" rather than its record as "without a running task".
    adapters = TaskRecordAdapters.from_clients(settings, client)
    existing = adapters.zone.record_sets_under(settings.domain_prefix)
    tasks = adapters.tasks.running_tasks()
    eni_ids = [eni for eni in (task.network_interface_id for task in tasks) if eni]
    addresses = adapters.interfaces.public_addresses_of(eni_ids) if eni_ids else {}
    return task_records_status(tasks, addresses, existing, settings.domain_prefix, settings.hosted_zone_id,
                               settings.record_owner_id, writer)
