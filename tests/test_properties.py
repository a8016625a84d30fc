"""Property: whatever the order, duplication and delay of events, records follow the tasks.

Random tasks with random lifecycles; every event delivered at least once, some twice, in a random
order, some start events delayed until after their task stopped. Then (a) no record exists for
any stopped task, and (b) after one reconcile the owned records are exactly the running tasks
that have a public address.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedded_stack.fargate import FargateCluster
from tests.conftest import clean_account, clear_app_caches, cluster_in_account
from tests.helpers import hostname

START_STATES = [("PROVISIONING", "RUNNING"), ("PENDING", "RUNNING"), ("ACTIVATING", "RUNNING"),
                ("RUNNING", "RUNNING")]
STOP_STATES = [("RUNNING", "STOPPED"), ("DEACTIVATING", "STOPPED"), ("STOPPING", "STOPPED"),
               ("DEPROVISIONING", "STOPPED"), ("STOPPED", "STOPPED")]

task_lifecycles = st.lists(
    st.fixed_dictionaries({"public_ipv4": st.booleans(), "ipv6": st.booleans(), "stops": st.booleans()}),
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
    tasks = []
    for index, lifecycle in enumerate(lifecycles):
        task = cluster.run_task(public_ip=f"203.0.113.{index + 1}" if lifecycle["public_ipv4"] else None,
                                ipv6=[f"2001:db8::{index + 1}"] if lifecycle["ipv6"] else None)
        tasks.append((task, lifecycle))

    def copies(events):
        # At least once, sometimes twice: EventBridge delivers at least once.
        return [event for event in events for _ in range(data.draw(st.integers(1, 2)))]

    start_events = copies([(task, state) for task, _ in tasks for state in START_STATES])
    delayed = data.draw(st.lists(st.booleans(), min_size=len(start_events), max_size=len(start_events)))
    before_stop = [event for event, late in zip(start_events, delayed, strict=True) if not late]
    after_stop = [event for event, late in zip(start_events, delayed, strict=True) if late]
    after_stop += copies([(task, state) for task, lifecycle in tasks if lifecycle["stops"]
                          for state in STOP_STATES])

    for task, (last_status, desired_status) in data.draw(st.permutations(before_stop)):
        app.update_task_dns(cluster.event(task, last_status, desired_status), None)
    for task, lifecycle in tasks:
        if lifecycle["stops"]:
            cluster.stop_task(task)
    for task, (last_status, desired_status) in data.draw(st.permutations(after_stop)):
        app.update_task_dns(cluster.event(task, last_status, desired_status), None)

    published = address_records(cluster)
    stopped = {hostname(task) for task, lifecycle in tasks if lifecycle["stops"]}
    assert not stopped & set(published), "a stopped task still has a record"

    app.reconcile_task_dns({}, None)

    expected = {}
    for index, (task, lifecycle) in enumerate(tasks):
        if lifecycle["stops"] or not (lifecycle["public_ipv4"] or lifecycle["ipv6"]):
            continue
        expected[hostname(task)] = {
            **({"A": [f"203.0.113.{index + 1}"]} if lifecycle["public_ipv4"] else {}),
            **({"AAAA": [f"2001:db8::{index + 1}"]} if lifecycle["ipv6"] else {}),
        }
    assert address_records(cluster) == expected
