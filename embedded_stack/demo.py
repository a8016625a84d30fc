"""`make demo`: the whole product on the local stack, end to end.

Issues `*.<prefix>` and `<prefix>` from Pebble by real DNS-01, starts three simulated Fargate
tasks whose ENIs have public IPs on loopback addresses, sends their PENDING events through
update_task_dns, and, subscribed to the hostname events as an orchestrator would be, hands a
task's name out only after its "Task Hostname Ready": `task-subdomains wait` confirms the name
answers, it resolves through the DNS server, and an HTTPS connection *by hostname* to one task,
served with the issued key and chain, verifies against Pebble's root. Then the tasks stop and
their "Task Hostname Removed" events arrive; last, what an operator sees: `task-subdomains status` while
the tasks run, `doctor` at the end (and `doctor --fix` for the zone's negative-caching TTL). Exits
non-zero if any step fails.

    .venv/bin/python -m embedded_stack.demo [--verbose]
"""

import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
from dnslib import RCODE

from embedded_stack.aws import ACCOUNT_ID, REGION
from embedded_stack.fargate import FargateCluster
from embedded_stack.hostname_events import HostnameEvents
from embedded_stack.stack import LocalStack, environment, running_local_stack
from embedded_stack.zone_soa import give_route53_default_soa

DOMAIN_PREFIX = "demo.browser.example.com"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/demo-sessions"
BUCKET = "task-subdomains-demo-certs"
TASK_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
STEPS = 10


class DemoFailed(RuntimeError):
    pass


def step(number: int, text: str) -> None:
    print(f"\n[{number}/{STEPS}] {text}", flush=True)


def detail(text: str) -> None:
    print(f"      {text}", flush=True)


def check(condition: bool, failure: str) -> None:
    if not condition:
        raise DemoFailed(failure)


def run(stack: LocalStack) -> None:
    step(1, "Local stack is up")
    detail(f"emulated AWS (moto server)  {stack.aws.endpoint_url}")
    detail(f"DNS server                  {stack.dns.address}:{stack.dns.port} (answers from Route53)")
    detail(f"Pebble ACME directory       {stack.pebble.directory_url}")

    step(2, "AWS resources: hosted zone, ECS cluster, certificate bucket, SNS topic")
    cluster = FargateCluster(CLUSTER_ARN)
    cluster.use_long_task_arns(True)  # task/<cluster>/<id>, the format ECS uses today
    s3, sns = boto3.client("s3"), boto3.client("sns")
    give_route53_default_soa(boto3.client("route53"), cluster.zone_id)  # what a new Route53 zone has
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    # As infra/supporting-resources.yaml creates it: versioned, public access blocked.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    topic = sns.create_topic(Name="task-subdomains-demo")["TopicArn"]
    certificates = [{"domains": [f"*.{DOMAIN_PREFIX}", DOMAIN_PREFIX], "zoneId": cluster.zone_id,
                     "certStorageBucketName": BUCKET, "certStoragePrefix": f"{DOMAIN_PREFIX}/",
                     "successSnsTopicArn": topic, "failureSnsTopicArn": topic}]
    # The hostname events queue, and an orchestrator's subscription to the events (a rule on the
    # default bus with a queue as its target).
    hostname_events = HostnameEvents.create()
    os.environ.update(DOMAIN_PREFIX=DOMAIN_PREFIX, HOSTED_ZONE_ID=cluster.zone_id, CLUSTER_ARN=CLUSTER_ARN,
                      WORKSPACE="task-subdomains-demo", ACME_DIRECTORY_URL=stack.pebble.directory_url,
                      CERTIFICATES=json.dumps(certificates),
                      HOSTNAME_EVENTS_QUEUE_ARN=hostname_events.checks_queue_arn,
                      # `wait` asks the local DNS server in place of the zone's name servers.
                      TASK_SUBDOMAINS_NAMESERVERS=f"{stack.dns.address}:{stack.dns.port}")
    detail(f"zone example.com ({cluster.zone_id}), cluster {CLUSTER_ARN.rsplit('/', 1)[1]}, bucket {BUCKET}")
    detail("hostname events: checks queue, and a subscriber to 'Task Hostname Ready' / 'Removed'")

    import app  # after the environment is set: the event rule reads CLUSTER_ARN, as on deploy

    step(3, f"renew_certificates: issue *.{DOMAIN_PREFIX} and {DOMAIN_PREFIX} from Pebble (DNS-01)")
    started = time.monotonic()
    result = app.renew_certificates({"force": True}, None)
    (outcome,) = result.values()
    check(outcome["outcome"] == "issued", f"certificate not issued: {outcome}")
    metadata = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{DOMAIN_PREFIX}/metadata.json")["Body"].read())
    detail(f"issued in {time.monotonic() - started:.1f}s: serial {metadata['serial']}, names "
           f"{', '.join(metadata['names'])}, valid until {metadata['notAfter']}")
    detail(f"stored: s3://{BUCKET}/{DOMAIN_PREFIX}/{{cert.pem,key.pem,bundle.pem,metadata.json}}")

    step(4, "Three tasks start; their PENDING events go through update_task_dns")
    tasks = []
    for address in TASK_ADDRESSES:
        task = cluster.run_task(public_ip=address)
        outcome = app.update_task_dns(cluster.event(task, "PENDING"), None)
        check(outcome["outcome"] == "created", f"record not created: {outcome}")
        tasks.append((task, outcome["hostname"], address))
        detail(f"{outcome['hostname']} -> {address} (change {outcome['change_ids'][0]})")

    step(5, "announce_hostnames: 'Task Hostname Ready' once Route53 is in sync; only then is a name handed out")
    hostname_events.announce(app.announce_hostnames)
    ready = {event["detail"]["hostname"]: event["detail"] for event in hostname_events.received()
             if event["detail-type"] == "Task Hostname Ready"}
    check(sorted(ready) == sorted(hostname for _, hostname, _ in tasks), f"Ready events for {sorted(ready)}")
    for _, hostname, address in tasks:
        event = ready[hostname]
        check(event["addresses"]["ipv4"] == [address], f"Ready event for {hostname}: {event['addresses']}")
        detail(f"Task Hostname Ready  {hostname}  {event['addresses']['ipv4'][0]}  (written {event['writtenAt']}, "
               f"ready {event['readyAt']}, negative cache {event['negativeCacheSeconds']} s)")

    step(6, "Each task hostname answers: `task-subdomains wait`, then a lookup through the DNS server")
    for _, hostname, address in tasks:
        check(operator("wait", hostname, "--timeout", "10") == 0, f"{hostname} does not answer")
        answers = stack.dns.resolve(hostname, "A")
        check(answers == [address], f"{hostname} resolved to {answers}, expected {address}")
        detail(f"{hostname}  A  {answers[0]}")

    _, hostname, address = tasks[0]
    step(7, f"HTTPS to https://{hostname}/ with the issued certificate, verified against Pebble's root")
    bundle = s3.get_object(Bucket=BUCKET, Key=f"{DOMAIN_PREFIX}/bundle.pem")["Body"].read().decode()
    with https_server(address, bundle) as port:
        (resolved,) = stack.dns.resolve(hostname, "A")
        client_context = ssl.create_default_context(cadata=stack.pebble.root_pem())
        with socket.create_connection((resolved, port), timeout=10) as raw, \
                client_context.wrap_socket(raw, server_hostname=hostname) as tls:
                tls.sendall(f"GET / HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
                reply = tls.recv(4096).decode(errors="replace")
                peer = tls.getpeercert()
                version = tls.version()
    names = [value for kind, value in peer.get("subjectAltName", ()) if kind == "DNS"]
    check(reply.startswith("HTTP/1.1 200"), f"unexpected reply: {reply!r}")
    detail(f"connected to {resolved}:{port} as {hostname}: {version}, certificate verified")
    detail(f"certificate names: {', '.join(names)}; server said: {reply.splitlines()[-1]!r}")

    step(8, "What an operator sees while the tasks run")
    check(operator("status") == 0, "task-subdomains status reports a problem")

    step(9, "Tasks stop; their stop events remove the names, and 'Task Hostname Removed' follows")
    for task, hostname, _ in tasks:
        cluster.stop_task(task)
        outcome = app.update_task_dns(cluster.event(task, "STOPPED", "STOPPED"), None)
        check(outcome["outcome"] == "removed", f"record not removed: {outcome}")
        rcode = RCODE.get(stack.dns.query(hostname, "A").header.rcode)
        check(rcode == "NXDOMAIN", f"{hostname} still answers ({rcode})")
        detail(f"{hostname}  {rcode}")
    hostname_events.announce(app.announce_hostnames)
    removed = sorted(event["detail"]["hostname"] for event in hostname_events.received()
                     if event["detail-type"] == "Task Hostname Removed")
    check(removed == sorted(hostname for _, hostname, _ in tasks), f"Removed events for {removed}")
    detail(f"Task Hostname Removed for all {len(removed)}")

    step(10, "task-subdomains doctor: the set-up, checked; --fix shortens how long 'no such name' is cached")
    check(operator("doctor") == 0, "task-subdomains doctor found a failure")
    check(operator("doctor", "--fix") == 0, "task-subdomains doctor --fix found a failure")


def operator(*arguments: str) -> int:
    """Runs `task-subdomains <arguments>` in this process (same environment), printing its output; its exit code."""
    # Imported here, like app: the app's logger reads POWERTOOLS_LOG_LEVEL when it is first imported.
    from operator_cli.cli import main as task_subdomains

    print(f"\n$ task-subdomains {' '.join(arguments)}", flush=True)
    code = task_subdomains.main(args=list(arguments), prog_name="task-subdomains", standalone_mode=False)
    return code or 0


@contextmanager
def https_server(address: str, bundle_pem: str):
    """Serves one HTTPS request on address, with the key and chain of bundle.pem (one file, as a task would)."""
    with tempfile.TemporaryDirectory() as directory:
        bundle_path = Path(directory) / "bundle.pem"
        bundle_path.write_text(bundle_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(bundle_path)
        listener = socket.create_server((address, 0))
        port = listener.getsockname()[1]

        def serve_one() -> None:
            connection, _ = listener.accept()
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.recv(4096)
                body = f"hello from the task at {address}"
                tls.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())

        server = threading.Thread(target=serve_one, daemon=True)
        server.start()
        try:
            yield port
        finally:
            listener.close()
            server.join(timeout=5)


def main() -> int:
    verbose = "--verbose" in sys.argv
    started = time.monotonic()
    with environment({"POWERTOOLS_LOG_LEVEL": "INFO" if verbose else "WARNING"}):
        try:
            with running_local_stack() as stack:
                run(stack)
        except Exception as error:  # noqa: BLE001 - report any failure as the demo's failure
            print(f"\nDEMO FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
    print(f"\nDemo passed in {time.monotonic() - started:.1f}s: certificate issued, each task name handed out "
          "after its Ready event and resolved, TLS verified by hostname, names removed on stop.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
