"""The fault sweep's scenarios (tests/fault_sweep.py) and their invariants.

1. buffered-batch: one SQS batch through process_task_events that creates, updates and deletes in
   several change batches; SQS delivers it again while it fails (4 times: maxReceiveCount 5).
2. task-lifecycle: one task's events through update_task_dns (PENDING, RUNNING, the first stop
   event, STOPPED), each retried twice by Lambda while it fails; the zone is checked after each.
3. reconcile-sweep: reconcile_task_dns creates, fixes and deletes; Lambda retries it twice, then the
   next scheduled run comes.
4. renewal: the first renew_certificates of two certificates, the ACME account created on the way,
   against real Pebble; Lambda retries it twice, then the next scheduled run comes, 12 hours on.

Invariants: the zone holds records for exactly the running tasks, with their addresses and our
marker, and records we do not own are untouched; each certificate's stored objects are one
certificate (key.pem matches cert.pem, bundle.pem holds both, metadata.json agrees), valid and
covering its names, and no challenge value of ours is left; the ACME account key, once created,
is never replaced; and no private key material in any log line, notice, result or error (checked
by the harness for every scenario).
"""

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from cryptography import x509

from chalicelib.shared.records import Change
from chalicelib.shared.route53 import Route53Zone
from embedded_stack.aws import ACCOUNT_ID, REGION
from embedded_stack.fargate import DOMAIN_PREFIX, FargateCluster, as_sqs_event
from tests.certificates import CertificateTarget, key_matches, pem_certificates, san_names, verify_chain
from tests.conftest import cluster_in_account
from tests.fault_sweep import Run, Scenario, Violation, private_key_blocks
from tests.helpers import hostname, load_app, marker

QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:task-subdomains-dev-task-events"
TASK_SERVICES = ("route53", "ecs", "ec2")
SQS_REDELIVERIES = 4  # the task events queue's redrive policy: maxReceiveCount 5 (infra/)
LAMBDA_ASYNC_RETRIES = 2
# Route53 takes 1,000 records a call; here two names a call, so a handful of names spans several
# change batches. By names, not records: the batches, and so the request positions, are then the
# same in every run, whatever order the random task ids sort in and whatever each name's changes
# weigh (an update carries its marker too).
NAMES_PER_BATCH = 2


def two_names_a_batch(changes_by_name: Mapping[str, Iterable[Change]]) -> list[list[Change]]:
    """A `pack` for Route53Zone.converge: its names with changes, two to a batch, in its order."""
    names = [(name, list(changes)) for name, changes in changes_by_name.items()]
    names = [(name, changes) for name, changes in names if changes]
    return [[change for _name, changes in names[start:start + NAMES_PER_BATCH] for change in changes]
            for start in range(0, len(names), NAMES_PER_BATCH)]


def in_small_change_batches(monkeypatch) -> None:
    """Route53Zone.converge packs two names a call (its `pack` argument); the converge loop itself
    runs as deployed."""
    if not isinstance(Route53Zone.__dict__["converge"], functools.partialmethod):
        monkeypatch.setattr(Route53Zone, "converge", functools.partialmethod(Route53Zone.converge,
                                                                             pack=two_names_a_batch))


def load_app_without_queue(monkeypatch, module_name: str):
    with monkeypatch.context() as scoped:
        scoped.delenv("TASK_EVENTS_QUEUE_ARN", raising=False)
        return load_app(module_name)


def load_app_with_queue(monkeypatch, module_name: str):
    with monkeypatch.context() as scoped:
        scoped.setenv("TASK_EVENTS_QUEUE_ARN", QUEUE_ARN)
        return load_app(module_name)


# --- the task records' world ------------------------------------------------------------------

@dataclass
class TaskWorld:
    """A cluster, its tasks by role, and what the zone must hold: the records we do not own as
    they were made, and for each running task its addresses and our marker."""

    cluster: FargateCluster
    foreign: dict[tuple[str, str], list[str]]
    tasks: dict[str, dict] = field(default_factory=dict)  # role -> task
    roles: dict[str, str] = field(default_factory=dict)  # hostname -> role
    running: dict[str, tuple[str, ...]] = field(default_factory=dict)  # hostname -> public IPv4, IPv6
    events: list[dict] = field(default_factory=list)

    def start(self, role: str, ipv4: str, ipv6: tuple[str, ...] = ()) -> str:
        task = self.cluster.run_task(public_ip=ipv4, ipv6=list(ipv6) or None)
        name = hostname(task)
        self.tasks[role], self.roles[name], self.running[name] = task, role, (ipv4, *ipv6)
        return name

    def stop(self, role: str) -> None:
        task = self.tasks[role]
        self.cluster.stop_task(task)
        self.running.pop(hostname(task), None)

    def publish_directly(self, name: str, ipv4: str, ttl: int = 60) -> None:
        """Our records as an earlier run of the app left them (marker and A)."""
        self.cluster.route53.change_resource_record_sets(HostedZoneId=self.cluster.zone_id, ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": record_type, "TTL": ttl,
                                                       "ResourceRecords": [{"Value": value}]}}
            for record_type, value in (("TXT", marker()[0]), ("A", ipv4))]})

    def event(self, role: str, last_status: str, desired_status: str = "RUNNING") -> dict:
        return self.cluster.event(self.tasks[role], last_status, desired_status)

    def expected_zone(self) -> dict[tuple[str, str], list[str]]:
        foreign_names = {name for name, _type in self.foreign}
        expected = dict(self.foreign)
        for name, addresses in self.running.items():
            if name in foreign_names:
                continue
            ipv4 = [a for a in addresses if ":" not in a]
            ipv6 = sorted(a for a in addresses if ":" in a)
            expected[(name, "TXT")] = marker()
            expected[(name, "A")] = ipv4
            if ipv6:
                expected[(name, "AAAA")] = ipv6
        return expected

    def zone_violations(self) -> list[Violation]:
        """Both zone invariants, each difference described by the task's role."""
        have, want = self.cluster.zone_records(), self.expected_zone()
        violations = []
        for key in sorted(set(have) | set(want)):
            if have.get(key) == want.get(key):
                continue
            invariant = "records we do not own are untouched" if key in self.foreign else \
                "records for exactly the running tasks"
            violations.append(Violation(invariant, f"{self._label(key)}: zone holds {have.get(key)}, "
                                                   f"should hold {want.get(key)}"))
        return violations

    def _label(self, key: tuple[str, str]) -> str:
        name, record_type = key
        return f"{self.roles.get(name, name)} {record_type}"


def task_world(monkeypatch) -> TaskWorld:
    """A cluster in the fresh account, with records we do not own: another deployment's at a name
    under the prefix, a hand-made one there, and one outside the prefix."""
    cluster = cluster_in_account(monkeypatch)
    cluster.put_record(f"0123abcd.{DOMAIN_PREFIX}", "TXT", ['"heritage=task-subdomains,owner=ffffffffffffffff"'])
    cluster.put_record(f"0123abcd.{DOMAIN_PREFIX}", "A", ["198.51.100.8"])
    cluster.put_record(f"www.{DOMAIN_PREFIX}", "A", ["198.51.100.7"])
    cluster.put_record("api.example.com", "A", ["198.51.100.9"])
    world = TaskWorld(cluster, foreign={})
    # A running task whose name someone wrote by hand: never ours to touch.
    name = world.start("hand-made", "203.0.113.99")
    cluster.put_record(name, "A", ["198.51.100.1"])
    world.foreign = cluster.zone_records()
    return world


def nothing_more(run: Run, world: Any) -> None:
    """No recovery beyond the retries of the invocations themselves."""


# --- 1. a buffered batch ------------------------------------------------------------------------

def buffered_batch(monkeypatch) -> Scenario:
    module = load_app_with_queue(monkeypatch, "app_fault_sweep_buffered")

    def setup() -> TaskWorld:
        in_small_change_batches(monkeypatch)
        module.task_records.cache_clear()
        world = task_world(monkeypatch)
        for i in range(3):
            world.start(f"new-{i}", f"203.0.113.{10 + i}")
        for i in range(2):
            world.publish_directly(world.start(f"moved-{i}", f"203.0.113.{20 + i}"), f"203.0.113.{20 + i}")
            world.cluster.move_public_ip(world.tasks[f"moved-{i}"], f"203.0.113.{30 + i}")
            world.running[hostname(world.tasks[f"moved-{i}"])] = (f"203.0.113.{30 + i}",)
        world.publish_directly(world.start("unchanged", "203.0.113.40"), "203.0.113.40")
        for i in range(2):
            world.publish_directly(world.start(f"stopped-{i}", f"203.0.113.{50 + i}"), f"203.0.113.{50 + i}")
            world.stop(f"stopped-{i}")
        running = [role for role in world.tasks if not role.startswith("stopped")]
        world.events = ([world.event(role, status) for role in running for status in ("PENDING", "RUNNING")]
                        + [world.event(f"stopped-{i}", "STOPPED", "STOPPED") for i in range(2)]
                        + [world.event("stopped-0", "RUNNING")])  # a late start event of a stopped task
        return world

    def run(run: Run, world: TaskWorld) -> None:
        run.invoke("process_task_events", lambda: module.process_task_events(
            as_sqs_event(world.events, QUEUE_ARN), None), retries=SQS_REDELIVERIES)

    return Scenario("buffered-batch", TASK_SERVICES, setup, run, nothing_more, TaskWorld.zone_violations)


# --- 2. one task's lifecycle, one event at a time -------------------------------------------------

# The events the rule lets through (tests/test_update_task_dns.py checks it with EventBridge's matcher).
LIFECYCLE = (("PENDING", "RUNNING"), ("RUNNING", "RUNNING"), ("RUNNING", "STOPPED"), ("STOPPED", "STOPPED"))


def task_lifecycle(monkeypatch) -> Scenario:
    module = load_app_without_queue(monkeypatch, "app_fault_sweep_per_event")

    def setup() -> TaskWorld:
        module.task_records.cache_clear()
        world = task_world(monkeypatch)
        world.publish_directly(world.start("bystander", "203.0.113.60"), "203.0.113.60")
        world.tasks["task"] = world.cluster.run_task(public_ip="203.0.113.61", ipv6=["2001:db8::61"])
        world.roles[hostname(world.tasks["task"])] = "task"
        return world

    def run(run: Run, world: TaskWorld) -> None:
        name = hostname(world.tasks["task"])
        for last_status, desired_status in LIFECYCLE:
            if desired_status == "STOPPED":
                if name in world.running:
                    world.stop("task")
            else:
                world.running[name] = ("203.0.113.61", "2001:db8::61")
            event = world.event("task", last_status, desired_status)
            step = f"update_task_dns {last_status}/{desired_status}"
            run.invoke(step, lambda event=event: module.update_task_dns(event, None), retries=LAMBDA_ASYNC_RETRIES)
            run.expect(world.zone_violations(), f"after {step} and Lambda's retries")

    return Scenario("task-lifecycle", TASK_SERVICES, setup, run, nothing_more, TaskWorld.zone_violations)


# --- 3. a reconcile sweep -------------------------------------------------------------------------

def reconcile_sweep(monkeypatch) -> Scenario:
    module = load_app_without_queue(monkeypatch, "app_fault_sweep_reconcile")

    def setup() -> TaskWorld:
        in_small_change_batches(monkeypatch)
        module.task_records.cache_clear()
        world = task_world(monkeypatch)
        for i in range(3):
            world.start(f"new-{i}", f"203.0.113.{70 + i}")
        world.publish_directly(world.start("moved", "203.0.113.75"), "203.0.113.74")
        world.publish_directly(world.start("stale-ttl", "203.0.113.76"), "203.0.113.76", ttl=300)
        world.publish_directly(world.start("unchanged", "203.0.113.77"), "203.0.113.77")
        for i in range(2):
            world.publish_directly(world.start(f"stopped-{i}", f"203.0.113.{80 + i}"), f"203.0.113.{80 + i}")
            world.stop(f"stopped-{i}")
        unknown = f"{uuid.uuid4().hex}.{DOMAIN_PREFIX}"  # a task ECS no longer knows
        world.publish_directly(unknown, "203.0.113.82")
        world.roles[unknown] = "unknown-to-ecs"
        return world

    def reconcile(run: Run, name: str) -> None:
        run.invoke(name, lambda: module.reconcile_task_dns({}, None), retries=LAMBDA_ASYNC_RETRIES)

    def run(run: Run, world: TaskWorld) -> None:
        reconcile(run, "reconcile_task_dns")
        run.expect(world.zone_violations(), "after the run and Lambda's retries")

    def recover(run: Run, world: TaskWorld) -> None:
        reconcile(run, "the next scheduled reconcile_task_dns")

    return Scenario("reconcile-sweep", TASK_SERVICES, setup, run, recover, TaskWorld.zone_violations)


# --- 4. a renewal of two certificates -------------------------------------------------------------

PREFIX = "eu-west-2.browser.example.com"
OTHER_PREFIX = "eu-west-1.browser.example.net"
WORKSPACE = "sweep"
FOREIGN_CHALLENGE = '"someone-elses-token"'


@dataclass
class CertificateWorld:
    targets: list[tuple[CertificateTarget, tuple[str, ...]]]
    generated_keys: list[str]  # every certificate key the run made, stored or not

    def notices(self) -> list[str]:
        return [json.dumps(notice) for target, _domains in self.targets
                for queue in (target.success_queue, target.failure_queue) for notice in _drain(target, queue)]


def _drain(target: CertificateTarget, queue_url: str) -> list[dict]:
    notices = []
    while batch := target.notices(queue_url):
        notices += batch
    return notices


def renewal(monkeypatch, pebble, dns_server, clocks) -> Scenario:
    """The first renewal of two certificates (two zones, two buckets), a value of someone else's at
    one challenge name. `clocks` are the tests' fast clocks; the next scheduled run comes 12 h on."""
    from chalicelib.certificates import issuer

    root_pem = pebble.root_pem()
    make_key = issuer.new_private_key_pem

    def setup() -> CertificateWorld:
        dns_server.clear_overrides()
        first = CertificateTarget("example.com", WORKSPACE)
        other = CertificateTarget("example.net", f"{WORKSPACE}-other")
        first.route53.change_resource_record_sets(HostedZoneId=first.zone_id, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {"Name": f"_acme-challenge.{PREFIX}", "Type": "TXT", "TTL": 300,
                                                      "ResourceRecords": [{"Value": FOREIGN_CHALLENGE}]}}]})
        world = CertificateWorld([(first, (f"*.{PREFIX}", PREFIX)), (other, (f"*.{OTHER_PREFIX}", OTHER_PREFIX))], [])

        def recording_key() -> str:
            world.generated_keys.append(make_key())
            return world.generated_keys[-1]

        monkeypatch.setattr(issuer, "new_private_key_pem", recording_key)
        monkeypatch.setenv("WORKSPACE", WORKSPACE)
        monkeypatch.setenv("ACME_DIRECTORY_URL", pebble.directory_url)
        items = [target.item(list(domains)) for target, domains in world.targets]
        monkeypatch.setenv("CERTIFICATES", json.dumps(items))
        return world

    def renew(run: Run, name: str, event_clocks) -> None:
        from chalicelib.certificates.renewal import renew_certificates

        run.invoke(name, lambda: renew_certificates({}, event_clocks), retries=LAMBDA_ASYNC_RETRIES)

    def run(run: Run, world: CertificateWorld) -> None:
        renew(run, "renew_certificates", clocks)
        run.expect(store_violations(world, root_pem), "after the run and Lambda's retries")

    def recover(run: Run, world: CertificateWorld) -> None:
        later = replace(clocks, now=lambda: datetime.now(UTC) + timedelta(hours=12))
        renew(run, "the next scheduled renew_certificates, 12 h on", later)

    def check(world: CertificateWorld) -> list[Violation]:
        return store_violations(world, root_pem) + challenge_violations(world) + account_violations()

    return Scenario("renewal", ("s3", "ssm", "route53", "sns"), setup, run, recover, check,
                    notices=CertificateWorld.notices, secrets=certificate_secrets)


def store_violations(world: CertificateWorld, root_pem: str) -> list[Violation]:
    return [Violation("certificate store consistent, valid, covering its names", f"{target.bucket}: {problem}")
            for target, domains in world.targets for problem in stored_problems(target, domains, root_pem)]


def _read(target: CertificateTarget, name: str) -> str | None:
    try:
        return target.read(name)
    except target.s3.exceptions.NoSuchKey:
        return None


def stored_problems(target: CertificateTarget, domains: tuple[str, ...], root_pem: str) -> list[str]:
    """What is wrong with the four stored objects, checked here independently of the app's own
    consistency code: a task loading either form must get a matching, valid pair for its names."""
    objects = {name: _read(target, name) for name in ("cert.pem", "key.pem", "bundle.pem", "metadata.json")}
    missing = [name for name, body in objects.items() if body is None]
    if missing:
        return [f"missing: {', '.join(missing)}"]
    cert, key, bundle, metadata = objects.values()
    try:
        chain = pem_certificates(cert)
        problems = [] if key_matches(key, cert) else ["key.pem does not match cert.pem"]
        if not bundle.startswith(key.rstrip("\n")) or pem_certificates(bundle) != chain:
            problems.append("bundle.pem is not key.pem followed by cert.pem's chain")
        if san_names(cert) != set(domains):
            problems.append(f"cert.pem covers {sorted(san_names(cert))}, not {sorted(domains)}")
        problems += _metadata_problems(json.loads(metadata), chain[0])
        for name in domains:
            verify_chain(cert, root_pem, name.replace("*", "sweep-check"))
    except Exception as error:  # noqa: BLE001 - whatever is unreadable or invalid is the finding
        problems = [f"unreadable or invalid: {type(error).__name__}: {error}"]
    return problems


def _metadata_problems(metadata: dict, leaf: x509.Certificate) -> list[str]:
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    described = (metadata.get("serial"), sorted(metadata.get("names") or []), metadata.get("notAfter"))
    actual = (format(leaf.serial_number, "x"), sorted(names), leaf.not_valid_after_utc.isoformat())
    return [] if described == actual else [f"metadata.json says {described}, cert.pem {actual}"]


def challenge_violations(world: CertificateWorld) -> list[Violation]:
    """No challenge value of ours anywhere; someone else's value stays as it was."""
    violations = []
    for target, _domains in world.targets:
        found = {rrset["Name"].rstrip("."): sorted(r["Value"] for r in rrset["ResourceRecords"])
                 for page in target.route53.get_paginator("list_resource_record_sets").paginate(
                     HostedZoneId=target.zone_id) for rrset in page["ResourceRecordSets"]
                 if rrset["Type"] == "TXT" and rrset["Name"].startswith("_acme-challenge.")}
        wanted = {f"_acme-challenge.{PREFIX}": [FOREIGN_CHALLENGE]} if target.zone_name == "example.com" else {}
        if found != wanted:
            violations.append(Violation("no challenge value of ours left; others' untouched",
                                        f"zone {target.zone_name} holds {found}, should hold {wanted}"))
    return violations


def account_violations() -> list[Violation]:
    """The account key is written once (version 1), and the account URL never changes value."""
    ssm = boto3.client("ssm")
    key = _history(ssm, f"/{WORKSPACE}/LETSENCRYPT_ACCOUNT_KEY")
    url = _history(ssm, f"/{WORKSPACE}/LETSENCRYPT_ACCOUNT_URL")
    violations = []
    if len(key) != 1 or key[0]["Type"] != "SecureString":
        violations.append(Violation("ACME account never replaced",
                                    f"account key written {len(key)} time(s), types {[v['Type'] for v in key]}"))
    if len({version["Value"] for version in url}) != 1:
        violations.append(Violation("ACME account never replaced",
                                    f"account URL has had {len({v['Value'] for v in url})} values"))
    return violations


def _history(ssm, name: str) -> list[dict]:
    try:
        return [version for page in ssm.get_paginator("get_parameter_history").paginate(
            Name=name, WithDecryption=True) for version in page["Parameters"]]
    except ssm.exceptions.ParameterNotFound:
        return []


def certificate_secrets(world: CertificateWorld) -> list[str]:
    """Every private key the scenario's runs made or stored: the account key (every version), and
    each certificate key, generated (kept as it was made) or found in any version of key.pem and
    bundle.pem."""
    ssm = boto3.client("ssm")
    secrets = [version["Value"] for version in _history(ssm, f"/{WORKSPACE}/LETSENCRYPT_ACCOUNT_KEY")]
    secrets += world.generated_keys
    for target, _domains in world.targets:
        listing = target.s3.list_object_versions(Bucket=target.bucket).get("Versions", [])
        for version in listing:
            if version["Key"].endswith(("key.pem", "bundle.pem")):
                body = target.s3.get_object(Bucket=target.bucket, Key=version["Key"],
                                            VersionId=version["VersionId"])["Body"].read().decode(errors="replace")
                secrets += private_key_blocks(body)
    return secrets
