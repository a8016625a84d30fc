"""`status` as text. Pure functions of the report; `--json` prints the report's as_dict()."""

from datetime import UTC, datetime

from operator_cli.status.certificate_status import STORED_OBJECTS, CertificateStatus
from operator_cli.status.status import StatusReport
from operator_cli.status.task_status import TaskRecordsStatus

STATE_WORDS = {
    "ok": "ok",
    "names-differ": "NAMES DIFFER (the next run issues one for the configured names)",
    "expiring": "EXPIRES SOON",
    "expired": "EXPIRED",
    "unusable": "UNUSABLE (the stored objects disagree)",
    "missing": "MISSING",
}


def status_text(report: StatusReport) -> str:
    lines = ["Certificates"]
    for certificate in report.certificates:
        lines += _certificate_lines(certificate)
    lines.append("")
    lines += _task_record_lines(report.task_records)
    if report.notes:
        lines.append("")
        lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def _certificate_lines(status: CertificateStatus) -> list[str]:
    lines = [f"  {', '.join(status.domains)}: {STATE_WORDS.get(status.state, status.state)}"]
    if status.serial is None:
        lines.append(f"    stored at   {status.location} (nothing there)")
    else:
        lines.append(f"    serial      {status.serial}")
        if set(status.names) != set(status.domains):
            lines.append(f"    names       {', '.join(status.names)}")
        lines.append(f"    not after   {_moment(status.not_after)}  ({_days(status.days_left)})")
        compared = "all four agree" if status.objects_compared else "only cert.pem read"
        if status.problems:
            compared = "; ".join(status.problems)
        lines.append(f"    stored at   {status.location} ({', '.join(STORED_OBJECTS)}: {compared})")
    if status.due:
        lines.append(f"    due now     {status.due_reason}: renew_certificates issues on its next run "
                     "(or `task-subdomains renew`)")
    else:
        lines.append(f"    renews at   {_moment(status.renew_at)}  ({status.renew_rule})")
    return lines


def _task_record_lines(records: TaskRecordsStatus) -> list[str]:
    lines = [f"Task records under {records.domain_prefix} (zone {records.zone_id}, owner {records.owner_id})"]
    lines.append(f"  running, with a record: {len(records.with_record)}")
    for task in records.with_record:
        published = "" if task.in_sync else f"  (published {', '.join(task.published) or 'nothing'}: " \
                                             f"{records.writer} should have updated it; reconcile_task_dns, " \
                                             "the backstop, corrects it)"
        lines.append(f"    {task.hostname}  {', '.join(task.addresses)}{published}")
    lines.append(f"  running, without a record: {len(records.without_record)}")
    for task in records.without_record:
        lines.append(f"    {task.hostname or task.task_arn}: {task.reason}")
    lines.append(f"  owned records without a running task: {len(records.orphaned)}"
                 + (f" ({records.writer} should have removed them when their tasks stopped; "
                    "reconcile_task_dns, the backstop, deletes them)" if records.orphaned else ""))
    lines += [f"    {name}" for name in records.orphaned]
    lines.append(f"  foreign records under the prefix: {len(records.foreign)}"
                 + (" (never touched)" if records.foreign else ""))
    lines += [f"    {name.hostname}  {', '.join(name.types)}" for name in records.foreign]
    return lines


def _moment(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _days(days: float | None) -> str:
    if days is None:
        return "-"
    if days < 0:
        return f"expired {int(-days)} days ago"
    return f"{int(days)} days left"
