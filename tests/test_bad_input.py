"""update_task_dns against the bad-input corpus in tests/bad_events/ (issue #5).

Every event there is aimed at a real running task with a public IP on a real ENI, so an
implementation that trusted the event would publish a record. Each must instead be logged and
dropped: no exception, no Route53 change, bounded log lines.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from embedded_stack.fargate import DOMAIN_PREFIX

BAD_EVENTS = Path(__file__).parent / "bad_events"
EVENT_FILES = sorted(BAD_EVENTS.glob("*.json"))
PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")
KNOWN_PLACEHOLDERS = {"CLUSTER_ARN", "TASK_ARN_PREFIX", "TASK_ID", "ENI_ID"}
MAX_LOG_LINE_BYTES = 2048

# What the app says when it drops an event (task_events.IgnoreEvent), finds the task is not
# running, the interface gone or without a public IP, or the name not ours.
DROP_EXPLANATION = re.compile(
    r"^Event ignored$|no longer running|Network interface is gone|no public IP|not ours|do not own|reports running")


def load_bad_event(path: Path, placeholders: dict[str, str]) -> Any:
    """The file's JSON with ${NAME} replaced; values are JSON-escaped, so any value is safe."""
    def substitute(match: re.Match) -> str:
        return json.dumps(placeholders[match.group(1)])[1:-1]

    return json.loads(PLACEHOLDER.sub(substitute, path.read_text()), parse_constant=_reject_constant)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@pytest.fixture
def placeholders(cluster) -> dict[str, str]:
    """A running task with a public IP, and a zone holding two hand-made records."""
    cluster.use_long_task_arns(True)
    task = cluster.run_task(public_ip="203.0.113.50")
    cluster.put_record(f"www.{DOMAIN_PREFIX}", "A", ["198.51.100.50"])
    cluster.put_record("mail.example.com", "A", ["198.51.100.51"])
    task_arn_prefix, task_id = task["taskArn"].rsplit("/", 1)
    return {"CLUSTER_ARN": cluster.cluster_arn, "TASK_ARN_PREFIX": task_arn_prefix + "/",
            "TASK_ID": task_id, "ENI_ID": cluster.eni_id(task)}


def invoke_as_lambda(app_module, event):
    return app_module.update_task_dns(event, None)


def invoke_through_chalice(app_module, event):
    # Client.invoke passes any payload through as is, except None, which it turns into {}:
    # top-level-null.json reaches the handler as {} this way, and as None via invoke_as_lambda.
    with Client(app_module.app) as client:
        return client.lambda_.invoke("update_task_dns", event).payload


def test_the_task_behind_the_corpus_would_be_published(cluster, placeholders, app_module):
    """The control: the unbroken event of the same task does publish, so "nothing written" means something."""
    task = cluster.ecs.describe_tasks(cluster=cluster.cluster_arn, tasks=[
        placeholders["TASK_ARN_PREFIX"] + placeholders["TASK_ID"]])["tasks"][0]

    app_module.update_task_dns(cluster.event(task, "RUNNING"), None)

    assert cluster.zone_records()[(f"{placeholders['TASK_ID']}.{DOMAIN_PREFIX}", "A")] == ["203.0.113.50"]


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_bad_event_is_logged_and_dropped(path, cluster, placeholders, app_module, aws_calls, logs):
    zone_before = cluster.zone_records()

    for invoke in (invoke_as_lambda, invoke_through_chalice):
        first_line = len(logs)
        invoke(app_module, load_bad_event(path, placeholders))  # a fresh copy each time
        explained = [line for line in logs[first_line:] if DROP_EXPLANATION.search(line["message"])]
        messages = [line["message"][:200] for line in logs[first_line:]]
        assert explained, f"{invoke.__name__}: no log line explains the drop: {messages}"

    assert ("route53", "ChangeResourceRecordSets") not in aws_calls
    assert cluster.zone_records() == zone_before
    oversized = [size for size in map(len, map(_serialized, logs)) if size > MAX_LOG_LINE_BYTES]
    assert not oversized, f"log lines of {oversized} bytes (limit {MAX_LOG_LINE_BYTES})"


def _serialized(line: dict) -> bytes:
    # As Powertools writes it (ensure_ascii=False); the fixture hands us the parsed line.
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode()


def test_corpus_is_big_and_varied():
    assert len(EVENT_FILES) >= 35
    readme = (BAD_EVENTS / "README.md").read_text()
    values = {name: name.lower() for name in KNOWN_PLACEHOLDERS}
    top_level_types = set()
    for path in EVENT_FILES:
        used = set(PLACEHOLDER.findall(path.read_text()))
        assert used <= KNOWN_PLACEHOLDERS, f"{path.name}: unknown placeholders {used - KNOWN_PLACEHOLDERS}"
        top_level_types.add(type(load_bad_event(path, values)).__name__)
    assert top_level_types == {"dict", "list", "str", "int", "NoneType"}
    assert all(f"${{{name}}}" in readme for name in KNOWN_PLACEHOLDERS)
    assert sum(path.stat().st_size >= 100_000 for path in EVENT_FILES) >= 3
