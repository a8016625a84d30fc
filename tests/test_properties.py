"""Property: whatever the order, duplication and delay of events, records follow the tasks.

Random tasks with random lifecycles; every event delivered at least once, some twice, in a random
order, some start events delayed until after their task stopped. Then the owned records are exactly
the running tasks that have a public address: from the events alone, and still after a reconcile
(which then has nothing to do).
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_stack.aws import ACCOUNT_ID, REGION
from embedded_stack.fargate import FargateCluster, as_sqs_event
from tests.conftest import clean_account, clear_app_caches, cluster_in_account
from tests.helpers import hostname, load_app

START_STATES = [("PROVISIONING", "RUNNING"), ("PENDING", "RUNNING"), ("ACTIVATING", "RUNNING"),
                ("RUNNING", "RUNNING")]
STOP_STATES = [("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
               ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED")]

task_lifecycles = st.lists(
    # late_starts False: every start event comes before the task stops, so only its stop events can
    # remove its records (a quarter of the tasks: stops and no late start).
    st.fixed_dictionaries({"public_ipv4": st.booleans(), "ipv6": st.booleans(), "stops": st.booleans(),
                           "late_starts": st.booleans()}),
    min_size=1, max_size=4,
)


def address_records(cluster):
    """{hostname: {type: values}} of the A and AAAA records in the zone."""
    records: dict[str, dict[str, list[str]]] = {}
    for (name, record_type), values in cluster.zone_records().items():
        if record_type in ("A", "AAAA"):
            records.setdefault(name, {})[record_type] = values
    return records


@pytest.fixture
def fresh_cluster(emulated_aws, monkeypatch):
    """Each hypothesis example needs a clean account; function-scoped fixtures run once per test."""
    def make() -> FargateCluster:
        clean_account(emulated_aws)
        return cluster_in_account(monkeypatch)

    yield make
    clear_app_caches()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lifecycles=task_lifecycles, data=st.data())
def test_records_follow_tasks_whatever_the_event_order(fresh_cluster, lifecycles, data):
    import app

    cluster = fresh_cluster()
    tasks = run_tasks(cluster, lifecycles)
    before_stop, after_stop = event_streams(tasks, data)

    for task, (last_status, desired_status) in data.draw(st.permutations(before_stop)):
        app.update_task_dns(cluster.event(task, last_status, desired_status), None)
    stop_the_stopping(cluster, tasks)
    for task, (last_status, desired_status) in data.draw(st.permutations(after_stop)):
        app.update_task_dns(cluster.event(task, last_status, desired_status), None)

    # Every running task had a start event, each stopping one a stop event after it stopped.
    assert address_records(cluster) == expected_records(tasks)

    repaired = app.reconcile_task_dns({}, None)

    assert address_records(cluster) == expected_records(tasks)
    assert (repaired["created"], repaired["updated"], repaired["deleted"]) == (0, 0, 0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lifecycles=task_lifecycles, data=st.data())
def test_batches_of_events_leave_exactly_the_running_tasks_published(fresh_cluster, lifecycles, data, monkeypatch):
    # Buffered mode: the same streams, cut into batches of random sizes. Every task has an event
    # after it reached its final state, and ECS decides, so no reconcile is needed to end exact.
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:task-events"
    monkeypatch.setenv("TASK_EVENTS_QUEUE_ARN", queue_arn)
    cluster = fresh_cluster()
    buffered = load_app("app_buffered_property")
    tasks = run_tasks(cluster, lifecycles)
    before_stop, after_stop = event_streams(tasks, data)

    def deliver(stream):
        events = [cluster.event(task, last, desired) for task, (last, desired) in data.draw(st.permutations(stream))]
        while events:
            size = data.draw(st.integers(1, len(events)))
            buffered.process_task_events(as_sqs_event(events[:size], queue_arn), None)
            events = events[size:]

    deliver(before_stop)
    stop_the_stopping(cluster, tasks)
    deliver(after_stop)

    assert address_records(cluster) == expected_records(tasks)


def run_tasks(cluster, lifecycles):
    tasks = []
    for index, lifecycle in enumerate(lifecycles):
        task = cluster.run_task(public_ip=f"203.0.113.{index + 1}" if lifecycle["public_ipv4"] else None,
                                ipv6=[f"2001:db8::{index + 1}"] if lifecycle["ipv6"] else None)
        tasks.append((task, lifecycle))
    return tasks


def event_streams(tasks, data):
    """(task, status) pairs delivered while the tasks run, and after the stopping ones stopped."""
    def copies(events):
        # At least once, sometimes twice: EventBridge delivers at least once.
        return [event for event in events for _ in range(data.draw(st.integers(1, 2)))]

    start_events = copies([(task, state) for task, _ in tasks for state in START_STATES])
    may_be_late = {id(task): lifecycle["late_starts"] for task, lifecycle in tasks}
    delayed = [may_be_late[id(task)] and data.draw(st.booleans()) for task, _ in start_events]
    before_stop = [event for event, late in zip(start_events, delayed, strict=True) if not late]
    after_stop = [event for event, late in zip(start_events, delayed, strict=True) if late]
    after_stop += copies([(task, state) for task, lifecycle in tasks if lifecycle["stops"]
                          for state in STOP_STATES])
    return before_stop, after_stop


def stop_the_stopping(cluster, tasks):
    for task, lifecycle in tasks:
        if lifecycle["stops"]:
            cluster.stop_task(task)


def expected_records(tasks):
    """{hostname: {type: values}} of exactly the running tasks with a public address."""
    expected = {}
    for index, (task, lifecycle) in enumerate(tasks):
        if lifecycle["stops"] or not (lifecycle["public_ipv4"] or lifecycle["ipv6"]):
            continue
        expected[hostname(task)] = {
            **({"A": [f"203.0.113.{index + 1}"]} if lifecycle["public_ipv4"] else {}),
            **({"AAAA": [f"2001:db8::{index + 1}"]} if lifecycle["ipv6"] else {}),
        }
    return expected
