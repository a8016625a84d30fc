"""moto in server mode, in this process, on a free loopback port.

The code under test reaches it the way it reaches real AWS: through the standard
AWS_ENDPOINT_URL, with dummy credentials and a region.
"""

import json
import logging
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from moto.awslambda.responses import LambdaResponse
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.route53 import models as route53_models
from moto.route53.exceptions import Route53ClientError
from moto.route53.models import ChangeList, Route53Backend
from moto.route53.responses import Route53 as Route53Responses
from moto.server import ThreadedMotoServer

REGION = "eu-west-2"
ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass(frozen=True)
class EmulatedAws:
    endpoint_url: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def reset(self) -> None:
        self._post("/moto-api/reset", {})
        self.hold_ecs_tasks_in_their_state()

    def hold_ecs_tasks_in_their_state(self) -> None:
        # moto advances a task one lifecycle state per DescribeTasks call by default; our code
        # describes tasks to check them, so tasks must stay where the scenario put them.
        self._post(
            "/moto-api/state-manager/set-transition",
            {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}},
        )

    def _post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(
            self.endpoint_url + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


def _quiet_request_log() -> None:
    # werkzeug logs every request at INFO; the emulator's chatter would drown the app's own logs.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def _patch_moto_quirks() -> None:
    # moto 5.2: ecs.run_task with awsvpc reads NetworkInterface.private_dns_name, which only
    # some code paths set (a known moto quirk; docs/internals.md, "Emulator").
    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None
    _make_route53_batches_checked_and_atomic()
    _give_each_change_batch_its_own_id()
    route53_models.reverse_domain_name = route53_listing_key
    _put_route53_behind_the_budget()
    _answer_get_layer_version_by_arn()


def _answer_get_layer_version_by_arn() -> None:
    # moto 5.2 has no GetLayerVersionByArn, which `chalice deploy` calls to check the layer it
    # recorded before (a second deploy of a stage); answered from moto's own GetLayerVersion.
    if hasattr(LambdaResponse, "get_layer_version_by_arn"):
        return

    def get_layer_version_by_arn(self) -> str:
        name, version = self.querystring["Arn"][0].rsplit(":", 2)[-2:]
        return json.dumps(self.backend.get_layer_version(name, version).get_layer_version())

    LambdaResponse.get_layer_version_by_arn = get_layer_version_by_arn


def route53_listing_key(name: str) -> str:
    """Where Route53 lists a name: its labels reversed, *with* the trailing dot (API reference,
    ListResourceRecordSets: "com.example.www."; the dot "can change the sort order when the record
    name contains characters that appear before ."). moto 5.2 leaves the dot out, which lists
    `browser-2.example.com` between `browser.example.com` and the names below it. With the dot, a
    name and everything below it are listed together, which the reconciler's read relies on."""
    return ".".join(reversed(name.rstrip(".").lower().split("."))) + "."


class _RejectedChangeBatch(Route53ClientError):
    def __init__(self, message: str):
        super().__init__("InvalidChangeBatch", message)


def _record_set_key(record_set: dict) -> tuple:
    return (record_set["Name"].rstrip(".").lower(), record_set.get("Type"), record_set.get("SetIdentifier"))


def _record_set_content(ttl, values) -> tuple:
    return (str(ttl), tuple(sorted(v["Value"] if isinstance(v, dict) else v for v in values)))


def check_batch_like_route53(zone, changes: list[dict]) -> None:
    """Route53's rules for a change batch, which moto 5.2 does not enforce: CREATE fails when the
    record set exists, DELETE fails unless it names the current values exactly. The rest of the
    code relies on both (ownership claims, compare-and-swap of challenge values)."""
    current = {_record_set_key({"Name": r.name, "Type": r.type, "SetIdentifier": r.set_identifier}):
               _record_set_content(r.ttl, r.records) for r in zone.rrsets}
    for change in changes:
        record_set = change["ResourceRecordSet"]
        key = _record_set_key(record_set)
        content = _record_set_content(record_set.get("TTL"), record_set.get("ResourceRecords", []))
        described = f"[name='{key[0]}.', type='{key[1]}']"
        if change["Action"] == "CREATE" and key in current:
            raise _RejectedChangeBatch(f"Tried to create resource record set {described} but it already exists")
        if change["Action"] == "DELETE":
            if key not in current:
                raise _RejectedChangeBatch(f"Tried to delete resource record set {described} but it was not found")
            if current[key] != content:
                raise _RejectedChangeBatch(
                    f"Tried to delete resource record set {described} but the values provided do not match "
                    "the current values")
            del current[key]
        else:
            current[key] = content


def _make_route53_batches_checked_and_atomic() -> None:
    if getattr(Route53Backend.change_resource_record_sets, "checked_like_route53", False):
        return
    apply_batch = Route53Backend.change_resource_record_sets
    # The server is threaded: without a lock, two batches could interleave between check and apply.
    one_batch_at_a_time = threading.Lock()

    def change_resource_record_sets(self, zoneid, change_list):
        with one_batch_at_a_time:
            check_batch_like_route53(self.get_hosted_zone(zoneid), change_list)
            applied = apply_batch(self, zoneid, change_list)
            for watcher in list(_CHANGE_WATCHERS):
                watcher(change_list)
            return applied

    change_resource_record_sets.checked_like_route53 = True
    Route53Backend.change_resource_record_sets = change_resource_record_sets
    # moto's own CREATE check asks its change journal, then refuses if *any* record sorts after
    # the name: it rejects valid batches (DELETE X + CREATE X' where X' was created once before).
    # The check above is Route53's, so the journal no longer vetoes a CREATE.
    ChangeList.__contains__ = lambda self, item: False


def _give_each_change_batch_its_own_id() -> None:
    """moto 5.2 answers every ChangeResourceRecordSets with the same change id; Route53 gives each
    batch its own (API reference, ChangeInfo). Whoever asks GetChange once per distinct id (the
    readiness checks) would ask once for a hundred batches. GetChange still says INSYNC to any id."""
    if getattr(Route53Responses.change_resource_record_sets, "own_change_ids", False):
        return
    change_batch = Route53Responses.change_resource_record_sets

    def change_resource_record_sets(self):
        result = change_batch(self)
        result.result["ChangeInfo"]["Id"] = f"/change/C{uuid.uuid4().hex[:13].upper()}"
        return result

    change_resource_record_sets.own_change_ids = True
    Route53Responses.change_resource_record_sets = change_resource_record_sets


class TokenBucket:
    """One of Route53's account-wide budgets: `burst` tokens at once, refilled at `rate` a second
    (Route53 developer guide, "Throttling for Amazon Route 53 API requests",
    https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/throttling-api-requests.html).
    The request bucket spends a token per request (50 burst, 10 a second at the account level:
    the defaults); the change bucket spends a token per record change (`record_changes`)."""

    def __init__(self, burst: float = 50, rate: float = 10, clock: Callable[[], float] = time.monotonic):
        self._burst, self._rate, self._clock = burst, rate, clock
        self._tokens, self._last = float(burst), clock()
        self._lock = threading.Lock()

    def take(self, tokens: float = 1) -> bool:
        """All `tokens` or none: a request Route53 refuses spends nothing of this bucket."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens < tokens:
                return False
            self._tokens -= tokens
            return True


# Route53's second limit, change throughput (same page as TokenBucket): a bucket of "individual
# DNS record changes", refilled every second, independent of the request bucket; a request is
# throttled (HTTP 400 Throttling, "Rate exceeded") when either bucket cannot pay for it.
#
# PROVISIONAL SIZES. The page documents this bucket's capacity and refill rate in a table, but the
# copy of the page available when this was written (docs.aws.amazon.com and docs.amazonaws.cn,
# English and translations; the AWS blog post "Introducing change-based throttling for Amazon
# Route 53 APIs") was cut off before that table, so the two numbers below are NOT the documented
# ones. Replace them with the page's values, and drop this paragraph. Until then:
# - burst 1,000: the most one ChangeResourceRecordSets request of records with values can spend
#   (1,000 ResourceRecord elements, an UPSERT's counted twice; developer guide, "Quotas"), so no
#   such request is refused forever. A lower bound by that reasoning, not a documented value.
# - rate 100 a second: an assumption, with no source. bench/spread.py is insensitive to it (its
#   tasks change about 15 records a second at most); bench/burst.py's buffered mode is not.
ROUTE53_CHANGE_BURST = 1000
ROUTE53_CHANGE_RATE = 100


def record_changes(changes: list[dict]) -> int:
    """What a ChangeResourceRecordSets request spends of the change bucket: one per change, two
    per UPSERT (a delete and a create; Route53 counts an UPSERT twice towards its per-request
    limits too). Counted per record set (Change element), not per value: the throttling page counts
    "DNS record changes", and in Route53's documentation today a "record" is what the API calls a
    resource record set (an alias record, with no values at all, is still a change). The
    per-request quota on ResourceRecord elements (values) is another limit, which moto enforces."""
    return sum(2 if change.get("Action") == "UPSERT" else 1 for change in changes)


# Requests the local stack's own DNS server makes carry this in their User-Agent: in AWS, name
# resolution does not spend the account's API budget, so the emulated budget does not count them.
NOT_COUNTED = "task-subdomains-local-dns"


@dataclass
class Route53Budget:
    """Counts the Route53 API requests the emulator receives and the record changes they carry and,
    with buckets, throttles them: `bucket` per request, `change_bucket` per record change.

    `requests` and `changes` count everything received, `throttled` and `changes_throttled` what
    was refused (by either bucket). A request refused by the request bucket spends no change
    tokens; one refused by the change bucket has spent its request token, as Route53 received it.
    """

    bucket: TokenBucket | None = None
    change_bucket: TokenBucket | None = None
    requests: int = 0
    throttled: int = 0
    changes: int = 0
    changes_throttled: int = 0
    by_operation: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def admit(self, operation: str, changes: int = 0) -> bool:
        admitted = self._pays(self.bucket, 1) and self._pays(self.change_bucket, changes)
        with self._lock:
            self.requests += 1
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1
            self.throttled += not admitted
            self.changes += changes
            self.changes_throttled += 0 if admitted else changes
        return admitted

    @staticmethod
    def _pays(bucket: TokenBucket | None, tokens: int) -> bool:
        return bucket is None or tokens == 0 or bucket.take(tokens)


ROUTE53_BUDGET = Route53Budget()


@contextmanager
def route53_budget(bucket: TokenBucket | None = None, changes: TokenBucket | None = None) -> Iterator[Route53Budget]:
    """Counts (and with buckets, throttles) Route53 requests and record changes for the duration of
    the block: `bucket` per request, `changes` per record change (`record_changes`), e.g.
    route53_budget(TokenBucket(50, 10), changes=TokenBucket(ROUTE53_CHANGE_BURST, ROUTE53_CHANGE_RATE))."""
    global ROUTE53_BUDGET
    ROUTE53_BUDGET = Route53Budget(bucket=bucket, change_bucket=changes)
    try:
        yield ROUTE53_BUDGET
    finally:
        ROUTE53_BUDGET = Route53Budget()


# Called with each change batch the emulator applies (its Changes, as parsed), while no other batch
# can apply: how a benchmark learns when a write lands without reading the zone, which would spend
# the budget it measures.
_CHANGE_WATCHERS: list[Callable[[list[dict]], None]] = []


@contextmanager
def watching_route53_changes(watcher: Callable[[list[dict]], None]) -> Iterator[None]:
    _CHANGE_WATCHERS.append(watcher)
    try:
        yield
    finally:
        _CHANGE_WATCHERS.remove(watcher)


_THROTTLED = ('<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
              "<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
              "<RequestId>throttled</RequestId></ErrorResponse>")


def _put_route53_behind_the_budget() -> None:
    if getattr(Route53Responses.call_action, "behind_budget", False):
        return
    call_action = Route53Responses.call_action

    def budgeted_call_action(self):
        if NOT_COUNTED not in self.headers.get("User-Agent", ""):
            operation = self._get_action()
            changes = (record_changes(self._get_param("ChangeBatch.Changes") or [])
                       if operation == "ChangeResourceRecordSets" else 0)
            if not ROUTE53_BUDGET.admit(operation, changes):
                return 400, {"Content-Type": "text/xml"}, _THROTTLED
        return call_action(self)

    budgeted_call_action.behind_budget = True
    Route53Responses.call_action = budgeted_call_action


@contextmanager
def running_moto_server() -> Iterator[EmulatedAws]:
    _patch_moto_quirks()
    _quiet_request_log()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    aws = EmulatedAws(endpoint_url=f"http://{host}:{port}")
    aws.hold_ecs_tasks_in_their_state()
    try:
        yield aws
    finally:
        server.stop()
