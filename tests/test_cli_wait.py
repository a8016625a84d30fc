"""`task-subdomains wait`: until every name server answers a task's name with its addresses.

Against the emulator and the local DNS server (it answers from the emulated Route53 zone, as
Route53's own servers would), plus stub name servers for a server that lags behind. The waits run
on a FakeClock: nothing really sleeps.
"""

import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import boto3
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from chalicelib.certificates.renewal import Clocks
from chalicelib.shared.configuration import ConfigurationError
from chalicelib.task_records.settings import TaskDnsSettings
from embedded_stack.fargate import DOMAIN_PREFIX
from operator_cli.cli import Runtime
from operator_cli.wait.name_servers import (
    NAMESERVERS_VARIABLE,
    Answer,
    NameServer,
    NoNameServers,
    ServerAnswers,
    ask,
    name_servers,
    parse_name_servers,
)
from operator_cli.wait.readiness import (
    UNKNOWN_TASK_GRACE_SECONDS,
    Addresses,
    NeverReady,
    NotYet,
    TaskState,
    report_line,
    server_verdict,
    wanted_addresses,
)
from operator_cli.wait.wait import UnknownName, task_of
from tests.cli_support import run
from tests.helpers import FakeClock, marker

TASK_ID = "0123456789abcdef0123456789abcdef"


# --- stub name servers --------------------------------------------------------------------------


class _Recorded(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, respond: Callable[[dns.message.Message], dns.message.Message]):
        super().__init__(("127.0.0.1", 0), _UdpHandler)
        self.respond = respond
        self.queries: list[dns.message.Message] = []


class _UdpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        query = dns.message.from_wire(data)
        self.server.queries.append(query)
        sock.sendto(self.server.respond(query).to_wire(), self.client_address)


class _TcpHandler(socketserver.StreamRequestHandler):
    def handle(self):
        length = int.from_bytes(self.rfile.read(2), "big")
        query = dns.message.from_wire(self.rfile.read(length))
        wire = self.server.respond(query).to_wire()
        self.wfile.write(len(wire).to_bytes(2, "big") + wire)


@contextmanager
def serving(*servers: socketserver.BaseServer) -> Iterator[None]:
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def udp_and_tcp(udp_answer, tcp_answer, attempts: int = 10) -> tuple[_Recorded, socketserver.TCPServer]:
    """A UDP and a TCP server on one port (the free UDP port may be taken for TCP: then another)."""
    for _ in range(attempts):
        udp = _Recorded(udp_answer)
        try:
            tcp = socketserver.ThreadingTCPServer(("127.0.0.1", udp.server_address[1]), _TcpHandler)
        except OSError:
            udp.server_close()
            continue
        tcp.respond = tcp_answer
        return udp, tcp
    raise OSError("no port free for both UDP and TCP")


def authoritative(query: dns.message.Message, rcode: int = dns.rcode.NOERROR) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    return response


@contextmanager
def lagging_name_server() -> Iterator[_Recorded]:
    """A name server that has not got the change yet: NXDOMAIN, authoritatively, for every name."""
    server = _Recorded(lambda query: authoritative(query, dns.rcode.NXDOMAIN))
    with serving(server):
        yield server


# --- set-up -------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def runtime(clock):
    return Runtime(clocks=Clocks(sleep=clock.sleep, monotonic=lambda: clock.now))


@pytest.fixture
def local_server(cluster, dns_server, monkeypatch) -> str:
    """The local stack's DNS server stands in for the zone's name servers."""
    server = f"127.0.0.1:{dns_server.port}"
    monkeypatch.setenv(NAMESERVERS_VARIABLE, server)
    return server


def task_id(task: dict) -> str:
    return task["taskArn"].rsplit("/", 1)[1]


def published_task(cluster, app_module, public_ip: str = "203.0.113.9") -> dict:
    task = cluster.run_task(public_ip=public_ip)
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    return task


# --- the command --------------------------------------------------------------------------------


def test_a_published_task_is_ready_and_exits_0_without_waiting(local_server, cluster, app_module, runtime, clock):
    task = published_task(cluster, app_module)

    result = run("wait", task_id(task), runtime=runtime)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{cluster.hostname(task)}: ready after 0 s",
                                          f"  {local_server}: A 203.0.113.9"]
    assert clock.sleeps == []


@pytest.mark.parametrize("form", ["hostname", "hostname with a final dot, in capitals", "task ARN"])
def test_the_task_may_be_named_by_its_hostname_or_its_arn(local_server, cluster, app_module, runtime, form):
    task = published_task(cluster, app_module)
    target = {"hostname": cluster.hostname(task), "task ARN": task["taskArn"],
              "hostname with a final dot, in capitals": cluster.hostname(task).upper() + "."}[form]

    result = run("wait", target, "--json", runtime=runtime)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["ready"], document["hostname"], document["task_id"]) == (True, cluster.hostname(task),
                                                                             task_id(task))
    assert document["wanted"] == {"A": ["203.0.113.9"], "AAAA": []}
    assert document["servers"] == [{"server": local_server, "ready": True, "answer": "A 203.0.113.9"}]


def test_a_record_published_while_waiting_ends_the_wait(local_server, cluster, app_module, runtime, clock):
    task = cluster.run_task(public_ip="203.0.113.9")
    looks = []

    def sleep(seconds):
        clock.sleep(seconds)
        looks.append(seconds)
        if len(looks) == 2:
            app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    waiting = Runtime(clocks=Clocks(sleep=sleep, monotonic=lambda: clock.now))
    result = run("wait", task_id(task), runtime=waiting)

    assert result.exit_code == 0, result.output
    assert clock.sleeps == [0.5, 1.0]  # the first looks come sooner (ramp-up), then every 2 s


def test_a_name_not_published_times_out_with_exit_1_saying_nxdomain(local_server, cluster, runtime, clock):
    task = cluster.run_task(public_ip="203.0.113.9")

    result = run("wait", task_id(task), "--timeout", "30", runtime=runtime)

    assert result.exit_code == 1
    assert result.stderr == (f"Error: {cluster.hostname(task)}: not ready after {clock.now:.0f} s: "
                             f"{local_server}: NXDOMAIN\n")
    # The wait ends at the first look past the deadline: at most one interval late.
    assert 30 <= clock.now <= 32 and set(clock.sleeps[2:]) == {2.0}


def test_a_record_with_another_address_times_out_saying_what_was_answered_and_wanted(local_server, cluster,
                                                                                    runtime):
    task = cluster.run_task(public_ip="203.0.113.9")
    cluster.put_record(cluster.hostname(task), "A", ["203.0.113.5"])

    result = run("wait", task_id(task), "--timeout", "10", runtime=runtime)

    assert result.exit_code == 1
    assert f"{local_server}: A 203.0.113.5 (want 203.0.113.9)" in result.stderr


def test_an_ipv6_task_waits_for_its_aaaa_too(local_server, cluster, app_module, runtime):
    task = cluster.run_task(public_ip="203.0.113.9", ipv6=["2001:db8::9"])
    # Ours, with only the A record yet.
    cluster.put_record(cluster.hostname(task), "TXT", marker())
    cluster.put_record(cluster.hostname(task), "A", ["203.0.113.9"])

    missing = run("wait", task_id(task), "--timeout", "4", runtime=runtime)
    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)
    ready = run("wait", task_id(task), "--timeout", "4", runtime=runtime)

    assert missing.exit_code == 1
    assert f"{local_server}: A 203.0.113.9, AAAA none (want 2001:db8::9)" in missing.stderr
    assert ready.exit_code == 0, ready.output
    assert f"{local_server}: A 203.0.113.9, AAAA 2001:db8::9" in ready.stdout


def test_one_server_lagging_behind_is_not_ready_and_is_named(cluster, app_module, dns_server, monkeypatch,
                                                             runtime):
    task = published_task(cluster, app_module)
    local = f"127.0.0.1:{dns_server.port}"
    with lagging_name_server() as lagging:
        lagging_label = f"127.0.0.1:{lagging.server_address[1]}"
        monkeypatch.setenv(NAMESERVERS_VARIABLE, f"{local}, {lagging_label}")

        result = run("wait", task_id(task), "--timeout", "10", "--json", runtime=runtime)

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert (document["ready"], document["outcome"]) == (False, "timed out")
    assert document["servers"] == [{"server": local, "ready": True, "answer": "A 203.0.113.9"},
                                   {"server": lagging_label, "ready": False, "answer": "NXDOMAIN"}]
    assert document["reason"] == f"{local}: A 203.0.113.9; {lagging_label}: NXDOMAIN"
    # Asked as a name server is asked: no recursion desired, so nothing sets out to resolve (and cache) it.
    assert lagging.queries and not any(query.flags & dns.flags.RD for query in lagging.queries)


def test_the_same_server_twice_is_asked_twice_and_ready(local_server, cluster, app_module, monkeypatch, runtime):
    task = published_task(cluster, app_module)
    monkeypatch.setenv(NAMESERVERS_VARIABLE, f"{local_server},{local_server}")

    result = run("wait", task_id(task), "--json", runtime=runtime)

    assert result.exit_code == 0, result.output
    assert [s["server"] for s in json.loads(result.stdout)["servers"]] == [local_server, local_server]


def test_a_stopped_task_will_never_be_ready_exit_1_at_once(local_server, cluster, app_module, runtime, clock):
    task = published_task(cluster, app_module)
    cluster.stop_task(task)

    result = run("wait", task_id(task), runtime=runtime)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {cluster.hostname(task)}: will never be ready: the task is stopping")
    assert clock.sleeps == []


def test_a_running_task_without_a_public_address_will_never_be_ready(local_server, cluster, runtime, clock):
    task = cluster.run_task()

    result = run("wait", task_id(task), runtime=runtime)

    assert result.exit_code == 1
    assert "will never be ready: the task has no public IP and no IPv6 address" in result.stderr
    assert clock.sleeps == []


def test_a_task_ecs_does_not_know_will_never_be_ready_after_a_grace(local_server, cluster, runtime, clock):
    result = run("wait", TASK_ID, "--json", runtime=runtime)

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["outcome"] == "never ready" and "ECS does not know this task" in document["reason"]
    assert UNKNOWN_TASK_GRACE_SECONDS <= clock.now < UNKNOWN_TASK_GRACE_SECONDS + 2


@pytest.mark.parametrize("target", [
    "not a task!",
    "ABCDEF0123456789ABCDEF0123456789",  # ECS task ids are lower case
    f"{TASK_ID}.elsewhere.example.org",
    f"{TASK_ID}.x.{DOMAIN_PREFIX}",
    DOMAIN_PREFIX,
    f"arn:aws:ecs:eu-west-2:123456789012:task/another-cluster/{TASK_ID}",
])
def test_a_name_that_is_not_a_task_of_the_deployment_exits_2(local_server, runtime, target):
    result = run("wait", target, runtime=runtime)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_a_bad_name_server_list_exits_2_naming_the_variable(local_server, monkeypatch, runtime):
    monkeypatch.setenv(NAMESERVERS_VARIABLE, "127.0.0.1:99999")

    result = run("wait", TASK_ID, runtime=runtime)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: configuration: {NAMESERVERS_VARIABLE}")


def test_a_zone_that_does_not_exist_exits_2(cluster, monkeypatch, runtime):
    monkeypatch.delenv(NAMESERVERS_VARIABLE, raising=False)
    monkeypatch.setenv("HOSTED_ZONE_ID", "Z0000000000NONE")

    result = run("wait", TASK_ID, runtime=runtime)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no hosted zone Z0000000000NONE (HOSTED_ZONE_ID)")


def fresh_clients(service: str):
    """Clients built from the environment as it is now (the app's are built once and kept)."""
    return boto3.session.Session().client(service)


def test_without_credentials_exits_2(local_server, monkeypatch, tmp_path, clock):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    result = run("wait", TASK_ID, runtime=Runtime(client=fresh_clients,
                                                  clocks=Clocks(sleep=clock.sleep, monotonic=lambda: clock.now)))

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: no AWS credentials")


# Without a region configured, the region is CLUSTER_ARN's: tests/test_cli_aws_settings.py.


# --- which name servers -------------------------------------------------------------------------


def test_without_the_variable_the_zones_delegation_set_is_asked(cluster):
    delegated = boto3.client("route53").get_hosted_zone(Id=cluster.zone_id)["DelegationSet"]["NameServers"]
    resolved = {name: [f"192.0.2.{index}"] for index, name in enumerate(delegated, start=1)}

    servers = name_servers({}, lambda: boto3.client("route53"), cluster.zone_id, lambda host: resolved[host])

    assert len(delegated) == 4
    assert servers == tuple(NameServer(f"{name} (192.0.2.{index})", f"192.0.2.{index}")
                            for index, name in enumerate(delegated, start=1))


def test_each_address_of_a_name_server_is_asked_and_an_unresolvable_one_is_refused():
    route53 = FakeRoute53({"DelegationSet": {"NameServers": ["ns-1.example.net.", "NS-2.Example.NET"]}})
    addresses = {"ns-1.example.net": ["192.0.2.1", "192.0.2.11"], "ns-2.example.net": ["192.0.2.2"]}

    servers = name_servers({}, lambda: route53, "Z1", lambda host: addresses[host])

    assert [s.label for s in servers] == ["ns-1.example.net (192.0.2.1)", "ns-1.example.net (192.0.2.11)",
                                          "ns-2.example.net (192.0.2.2)"]
    with pytest.raises(NoNameServers, match="ns-1.example.net does not resolve"):
        name_servers({}, lambda: route53, "Z1", lambda host: [])


def test_a_zone_without_a_delegation_set_is_refused():
    with pytest.raises(NoNameServers, match="no delegation set"):
        name_servers({}, lambda: FakeRoute53({"HostedZone": {}}), "Z1", lambda host: ["192.0.2.1"])


def test_the_variable_replaces_the_delegation_set_without_asking_route53():
    def no_route53():
        raise AssertionError("route53 asked")

    servers = name_servers({NAMESERVERS_VARIABLE: "127.0.0.1:5353, [::1]:53,ns.local, ns.local:5353"}, no_route53,
                           "Z1", lambda host: {"ns.local": ["10.0.0.53", "10.0.0.54"]}[host])

    assert servers == (NameServer("127.0.0.1:5353", "127.0.0.1", 5353), NameServer("[::1]", "::1", 53),
                       NameServer("ns.local (10.0.0.53)", "10.0.0.53", 53),
                       NameServer("ns.local (10.0.0.54)", "10.0.0.54", 53),
                       NameServer("ns.local:5353 (10.0.0.53)", "10.0.0.53", 5353),
                       NameServer("ns.local:5353 (10.0.0.54)", "10.0.0.54", 5353))


@pytest.mark.parametrize("value", ["", " , ", "127.0.0.1:0", "127.0.0.1:65536", "host:port", "a b:53", "[::1"])
def test_a_name_server_list_that_is_not_host_port_is_refused(value):
    with pytest.raises(ConfigurationError, match=NAMESERVERS_VARIABLE):
        parse_name_servers(value)


class FakeRoute53:
    def __init__(self, response):
        self.response = response

    def get_hosted_zone(self, Id):  # boto3 names it so
        return self.response


def test_a_truncated_answer_is_asked_again_over_tcp():
    def truncated(query):
        response = authoritative(query)
        response.flags |= dns.flags.TC
        return response

    def full(query):
        response = authoritative(query)
        response.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.1", "192.0.2.2"))
        return response

    udp, tcp = udp_and_tcp(truncated, full)
    with serving(udp, tcp):
        answer = ask(NameServer("stub", "127.0.0.1", udp.server_address[1]), f"{TASK_ID}.{DOMAIN_PREFIX}", "A")

    assert answer == Answer("NOERROR", ("192.0.2.1", "192.0.2.2"))


def test_a_server_that_does_not_answer_says_so():
    with socketserver.UDPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as silent:  # never served
        answer = ask(NameServer("silent", "127.0.0.1", silent.server_address[1]), "x.example.com", "A", timeout=0.05)

    assert answer == Answer(None, problem="no answer within 0.05 s")


# --- decisions ----------------------------------------------------------------------------------

WANTED = Addresses(("203.0.113.9",))


def answered(a: Answer, aaaa: Answer | None = None) -> ServerAnswers:
    return ServerAnswers("ns-1", {"A": a, "AAAA": aaaa or Answer("NOERROR")})


@pytest.mark.parametrize("answers, wanted, ready, text", [
    (answered(Answer("NOERROR", ("203.0.113.9",))), WANTED, True, "A 203.0.113.9"),
    (answered(Answer("NXDOMAIN"), Answer("NXDOMAIN")), WANTED, False, "NXDOMAIN"),
    (answered(Answer("NOERROR", ("203.0.113.5",))), WANTED, False, "A 203.0.113.5 (want 203.0.113.9)"),
    (answered(Answer("NOERROR")), WANTED, False, "A none (want 203.0.113.9)"),
    (answered(Answer("NOERROR", ("203.0.113.9", "203.0.113.5"))), WANTED, False,
     "A 203.0.113.5 203.0.113.9 (want 203.0.113.9)"),
    (answered(Answer("NOERROR", ("203.0.113.9",)), Answer("NOERROR", ("2001:db8::1",))), WANTED, False,
     "A 203.0.113.9, AAAA 2001:db8::1 (want none)"),
    (answered(Answer("NOERROR"), Answer("NOERROR", ("2001:db8::1",))), Addresses((), ("2001:db8::1",)), True,
     "AAAA 2001:db8::1"),
    (answered(Answer("SERVFAIL")), WANTED, False, "SERVFAIL"),
    (answered(Answer(None, problem="no answer within 2 s")), WANTED, False, "no answer within 2 s"),
    (answered(Answer("NOERROR", ("203.0.113.9",), authoritative=False)), WANTED, False,
     "not authoritative (AA flag clear): not a name server of the zone"),
], ids=["same", "nxdomain", "other address", "no data", "one too many", "stale AAAA", "IPv6 only", "servfail",
        "silent", "not authoritative"])
def test_a_server_is_ready_when_it_answers_exactly_the_tasks_addresses(answers, wanted, ready, text):
    verdict = server_verdict(answers, wanted)

    assert (verdict.ready, verdict.answer) == (ready, text)


def test_the_report_is_one_line_naming_each_server():
    verdicts = [server_verdict(ServerAnswers("ns-1.example. (192.0.2.1)", {"A": Answer("NXDOMAIN"),
                                                                           "AAAA": Answer("NXDOMAIN")}), WANTED),
                server_verdict(answered(Answer("NOERROR", ("203.0.113.5",))), WANTED)]

    assert report_line(verdicts) == "ns-1.example. (192.0.2.1): NXDOMAIN; ns-1: A 203.0.113.5 (want 203.0.113.9)"


@pytest.mark.parametrize("state, waited, expected", [
    (None, 0, NotYet),
    (None, UNKNOWN_TASK_GRACE_SECONDS, NeverReady),
    (TaskState("stopping", "RUNNING", True, WANTED), 0, NeverReady),
    (TaskState("starting", "PROVISIONING", False, None), 0, NotYet),
    (TaskState("starting", "PENDING", True, None), 0, NotYet),
    (TaskState("starting", "PENDING", True, Addresses()), 0, NotYet),
    (TaskState("starting", "PENDING", True, WANTED), 0, Addresses),
    (TaskState("running", "RUNNING", False, None), 0, NeverReady),
    (TaskState("running", "RUNNING", True, None), 0, NotYet),  # EC2 is eventually consistent too
    (TaskState("running", "RUNNING", True, Addresses()), 0, NeverReady),
    (TaskState("running", "RUNNING", True, WANTED), 0, Addresses),
], ids=["unknown, in the grace", "unknown after it", "stopping", "provisioning", "pending, EC2 not yet",
        "pending, no address yet", "pending with an address", "running without ENI", "running, EC2 not yet",
        "running without address", "running"])
def test_what_the_name_should_answer_follows_the_tasks_state(state, waited, expected):
    assert isinstance(wanted_addresses(state, waited), expected)


SETTINGS = TaskDnsSettings(DOMAIN_PREFIX, "Z1", "arn:aws:ecs:eu-west-2:123456789012:cluster/user-sessions")


@pytest.mark.parametrize("target", [TASK_ID, f"{TASK_ID}.{DOMAIN_PREFIX}", f"{TASK_ID}.{DOMAIN_PREFIX.upper()}.",
                                    f"arn:aws:ecs:eu-west-2:123456789012:task/user-sessions/{TASK_ID}"])
def test_a_task_is_named_by_id_hostname_or_arn(target):
    assert task_of(target, SETTINGS) == (TASK_ID, f"{TASK_ID}.{DOMAIN_PREFIX}")


def test_a_name_outside_the_prefix_is_refused_saying_what_task_names_look_like():
    with pytest.raises(UnknownName, match=rf"task names are <task id>\.{DOMAIN_PREFIX}"):
        task_of("www.example.com", SETTINGS)
