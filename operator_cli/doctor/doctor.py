"""`doctor`: the set-up mistakes that make a deployment fail silently, one check at a time.

Each group of checks reads what it needs and hands it to pure functions; an AWS error in one
group becomes an `error` line naming it (could not check), and the other groups still run.
"""

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.certificates.account import AcmeAccountStore
from chalicelib.certificates.settings import CertificateSpec, RenewalSettings
from chalicelib.shared.functions import PROCESS_TASK_EVENTS, TASK_EVENTS_QUEUE_VARIABLE
from operator_cli.configuration import OperatorConfig
from operator_cli.doctor.ca_identity import CaIdentity, ca_identity
from operator_cli.doctor.caa import caa_check, lookup_name, relevant_caa
from operator_cli.doctor.checks import FAIL, OK, SKIP, WARN, Check
from operator_cli.doctor.deployment_checks import DeploymentReader, deployment_checks, expected_functions
from operator_cli.doctor.negative_caching import (
    UnreadableSoa,
    negative_caching_check,
    plan_lower_negative_caching,
    soa_record_set,
)
from operator_cli.doctor.storage_checks import StorageReader, account_parameter_check, bucket_checks
from operator_cli.doctor.zone_capacity import (
    RECORD_SETS_PER_TASK,
    ZoneLimit,
    read_zone_limit,
    record_sets_per_task,
    zone_capacity_check,
)
from operator_cli.doctor.zones import HostedZone, ZoneReader, containment_check, zone_check
from operator_cli.errors import check_for_error

_QUEUE_ARN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?")


class Doctor:
    def __init__(self, config: OperatorConfig, client: Callable[[str], Any],
                 fetch_directory: Callable[[str], Any]):
        # Configuration errors are raised here, before any check: every check depends on it.
        self._task_dns = config.task_dns()
        self._renewal = config.renewal()
        self._config = config
        self._client = client
        self._fetch_directory = fetch_directory
        self._zones = ZoneReader(client("route53"))

    def run(self, fix: bool = False) -> list[Check]:
        task_dns, renewal = self._task_dns, self._renewal
        # Each zone, and each name in it, is checked once, whatever uses it.
        purposes: dict[str, list[str]] = {task_dns.hosted_zone_id: ["HOSTED_ZONE_ID"]}
        names: dict[str, dict[str, None]] = {task_dns.hosted_zone_id: {task_dns.domain_prefix: None}}
        for spec in renewal.certificates:
            purposes.setdefault(spec.zone_id, []).append(f"zoneId of {spec.label}")
            names.setdefault(spec.zone_id, {}).update(dict.fromkeys(map(lookup_name, spec.domains)))
        checks: list[Check] = []
        for zone_id, uses in purposes.items():
            checks += _guarded("zone", zone_id, lambda zone_id=zone_id, uses=uses: self._zone(
                zone_id, " and ".join(uses), names[zone_id], negative_caching=zone_id == task_dns.hosted_zone_id,
                fix=fix))
        checks.append(certificate_coverage_check(task_dns.domain_prefix, renewal))
        for spec in renewal.certificates:
            checks += _guarded("caa", spec.label, lambda spec=spec: self._caa(spec))
        checks += _guarded("acme-account", renewal.account_key_parameter, self._account)
        for bucket in dict.fromkeys(spec.bucket for spec in renewal.certificates):
            checks += _guarded("bucket", bucket, lambda bucket=bucket: self._bucket(bucket))
        checks += _guarded("functions", f"stage {self._config.stage}", self._deployment)
        return checks

    def _zone(self, zone_id: str, purpose: str, names: Iterable[str], negative_caching: bool,
              fix: bool) -> list[Check]:
        zone = self._zones.hosted_zone(zone_id)
        first = zone_check(zone_id, zone, purpose)
        if zone is None or first.level == FAIL:
            return [first]
        contained = {name: containment_check(name, zone, purpose, self._zones.path(zone, name)) for name in names}
        checks = [first, *contained.values()]
        if negative_caching:
            # The task names' zone: a name looked up before its record exists is what gets cached. Only
            # a zone its own check found to hold DOMAIN_PREFIX is read, let alone changed: the SOA of a
            # zone that does not serve the task names is not theirs to fix.
            prefix = contained[self._task_dns.domain_prefix]
            checks.append(self._negative_caching(zone, fix) if prefix.level == OK else Check(
                SKIP, "negative-caching", zone.name, f"not checked{' nor fixed' if fix else ''}: "
                f"{self._task_dns.domain_prefix} is not served from this zone (zone-contains); the zone that "
                "serves it is the one whose SOA matters"))
            checks += _guarded("zone-capacity", zone.zone_id, lambda: [self._capacity(zone)] if prefix.level == OK
                               else [Check(SKIP, "zone-capacity", zone.zone_id, f"not checked: "
                                           f"{self._task_dns.domain_prefix} is not served from this zone")])
        return checks

    def _capacity(self, zone: HostedZone) -> Check:
        limit = read_zone_limit(self._client("route53"), zone.zone_id)
        per_task = RECORD_SETS_PER_TASK
        if isinstance(limit, ZoneLimit):  # the records are read only when there is a limit to compare
            prefix = self._task_dns.domain_prefix
            per_task = record_sets_per_task(self._zones.zone(zone.zone_id).record_sets_under(prefix), prefix)
        return zone_capacity_check(zone.zone_id, zone.name, limit, per_task)

    def _negative_caching(self, zone: HostedZone, fix: bool) -> Check:
        found = negative_caching_check(zone.name, soa_record_set(self._zones.record_sets_at(zone.zone_id, zone.name)))
        if not fix or found.level != WARN:
            return found
        try:
            change_id = self._lower_negative_caching(zone)
        except UnreadableSoa as error:
            return Check(WARN, found.check, found.subject, f"{found.message}; not fixed: {error}")
        self._zones.forget(zone.zone_id, zone.name)
        after = negative_caching_check(zone.name, soa_record_set(self._zones.record_sets_at(zone.zone_id, zone.name)))
        done = f"fixed (change {change_id})" if change_id else "already lowered by someone else"
        return Check(after.level, after.check, after.subject, f"{done}: {after.message}")

    def _lower_negative_caching(self, zone: HostedZone) -> str | None:
        """One UPSERT of the SOA, planned from a fresh read; its change id, None when nothing was left to do.

        An UPSERT is no compare-and-swap (Route53 refuses a lone SOA DELETE, so the SOA cannot be
        replaced conditionally): the plan is made from a read taken just before the write, not
        from the check's earlier one, so an SOA changed since the check is planned again from
        what it is now. Only an edit landing between that read and the write (one request apart)
        would be overwritten; converge's retry loop is for CREATE and DELETE, which can fail.
        """
        route53 = self._zones.zone(zone.zone_id)
        plan = plan_lower_negative_caching(zone.name, route53.record_sets_at(zone.name))
        if not plan.changes:
            return None
        return route53.submit(plan.changes, comment="task-subdomains doctor --fix: negative caching TTL")

    def _caa(self, spec: CertificateSpec) -> list[Check]:
        zone = self._zones.hosted_zone(spec.zone_id)
        if zone is None or zone.private:
            return []  # the zone's own check says what is wrong
        checks = []
        for name in spec.domains:
            path = self._zones.path(zone, lookup_name(name))
            if not path:
                continue  # not in the zone: its containment check says so
            relevant = relevant_caa(name, zone.name, path)
            # Asked only when a CAA set restricts issuance: another CA's directory is a network call,
            # and our account URL matters only to an accounturi parameter.
            ca = self._ca_identity if relevant.found_at else CaIdentity(self._renewal.directory_url, None)
            binds_account = any("accounturi" in p.parameters for p in relevant.properties)
            checks.append(caa_check(name, zone.name, relevant, ca, self._our_account_url if binds_account else None))
        return checks

    @functools.cached_property
    def _ca_identity(self) -> CaIdentity:
        return ca_identity(self._renewal.directory_url, self._fetch_directory)

    @functools.cached_property
    def _our_account_url(self) -> str | None:
        return AcmeAccountStore(self._client("ssm"), self._renewal.account_key_parameter,
                                self._renewal.account_url_parameter).account_url()

    def _account(self) -> list[Check]:
        reader = StorageReader(self._client("ssm"), self._client("s3"))
        name = self._renewal.account_key_parameter
        return [account_parameter_check(name, reader.parameter_type(name))]

    def _bucket(self, bucket: str) -> list[Check]:
        return bucket_checks(StorageReader(self._client("ssm"), self._client("s3")).bucket(bucket))

    def _deployment(self) -> list[Check]:
        stage = self._config.stage
        if stage is None:
            return [Check(SKIP, "functions", "no --stage", "deployed functions are checked with --stage NAME "
                          "(their names are task-subdomains-<stage>-<function>)")]
        queue_arn = self._config.task_events_queue_arn
        if queue_arn and not _QUEUE_ARN.fullmatch(queue_arn):
            return [Check(FAIL, "task-events-queue", queue_arn, f"{TASK_EVENTS_QUEUE_VARIABLE}={queue_arn!r} is not an "
                          "SQS queue ARN (arn:aws:sqs:<region>:<account>:<name>)")]
        names = {function: self._config.lambda_name(function) for function in expected_functions(queue_arn)}
        reader = DeploymentReader(self._client("lambda"), self._client("events"), self._client("sqs"))
        found = {function: reader.function(name) for function, name in names.items()}
        queue = None
        if queue_arn and found.get(PROCESS_TASK_EVENTS):
            queue = reader.queue(queue_arn, names[PROCESS_TASK_EVENTS])
        return deployment_checks(stage, names, found, self._task_dns.cluster_arn, queue)


def certificate_coverage_check(domain_prefix: str, renewal: RenewalSettings) -> Check:
    """Task names are `<task id>.<DOMAIN_PREFIX>`: without `*.<DOMAIN_PREFIX>` in a certificate, no
    task can serve TLS under its name, however well everything else works."""
    wildcard = f"*.{domain_prefix}"
    covering = [spec for spec in renewal.certificates if wildcard in spec.domains]
    if covering:
        return Check(OK, "certificate-names", wildcard, f"task names are covered by the certificate for "
                     f"{covering[0].label}")
    return Check(FAIL, "certificate-names", wildcard, f"no item of CERTIFICATES contains {wildcard}: tasks cannot "
                 "serve TLS under their names; add it to a certificate's domains")


def _guarded(check: str, subject: str, run: Callable[[], Iterable[Check]]) -> list[Check]:
    try:
        return list(run())
    except (ClientError, BotoCoreError) as error:
        # The other groups still run; the exit code comes from errors.py, as for every command.
        return [check_for_error(check, subject, error)]
