"""The one bounded wait, on an injected clock: its schedule, its deadline and its message."""

import pytest

from chalicelib.shared.waiting import Waiter, WaitTimedOut
from tests.helpers import FakeClock


def statuses(*values):
    """A check that reports each status in turn; done on "READY"."""
    remaining = list(values)

    def check():
        status = remaining.pop(0)
        return status == "READY", status

    return check


def test_returns_as_soon_as_the_check_is_done_sleeping_the_interval_between_looks():
    clock = FakeClock()
    Waiter(sleep=clock.sleep, clock=lambda: clock.now).until(
        "thing", statuses("PENDING", "PENDING", "READY"), timeout=60, interval=5)
    assert clock.sleeps == [5, 5]


def test_ramping_up_looks_soon_then_settles_at_the_interval():
    clock = FakeClock()
    Waiter(sleep=clock.sleep, clock=lambda: clock.now).until(
        "thing", statuses(*["PENDING"] * 5, "READY"), timeout=60, interval=1.0, ramp_up=True)
    assert clock.sleeps == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_times_out_saying_what_was_awaited_and_its_last_status():
    clock = FakeClock()
    waiter = Waiter(sleep=clock.sleep, clock=lambda: clock.now)
    with pytest.raises(WaitTimedOut, match=r"^order /o/1 still processing after 10s \(waits at most 10s"):
        waiter.until("order /o/1", statuses(*["valid?"] * 2, *["processing"] * 9), timeout=10, interval=5)
    assert clock.now == 10


def test_the_lambda_deadline_ends_a_longer_wait_early():
    clock = FakeClock()
    waiter = Waiter(sleep=clock.sleep, clock=lambda: clock.now, stop_by=4)
    with pytest.raises(WaitTimedOut, match="still PENDING after 4s"):
        waiter.until("change C1", statuses(*["PENDING"] * 10), timeout=300, interval=2)


def test_a_check_that_raises_ends_the_wait_with_its_own_error():
    def failed():
        raise ValueError("authorization invalid")

    with pytest.raises(ValueError, match="authorization invalid"):
        Waiter(sleep=lambda s: None, clock=lambda: 0.0).until("authorization", failed, timeout=10, interval=1)
