"""The one bounded wait: every poll in the code goes through `Waiter.until`.

In the spirit of lego's `wait.For(msg, timeout, interval, check)`: the deadline, the interval and
the timeout message are written once. The sleep and the clock are injected, so tests never really
wait, and `stop_by` ends every wait in time for a Lambda invocation to wrap up before its timeout.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


class WaitTimedOut(RuntimeError):
    """What was awaited did not happen in time; the message says what it was and its last status."""


@dataclass(frozen=True)
class Waiter:
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    stop_by: float = math.inf  # clock() value by which the invocation must be wrapping up

    def until(self, what: str, check: Callable[[], tuple[bool, str]], timeout: float, interval: float,
              ramp_up: bool = False) -> None:
        """Calls check() until it reports done; raises WaitTimedOut at the deadline.

        check returns (done, status) and raises for an outcome that waiting cannot change.
        ramp_up: the first looks come after a quarter and a half of the interval, for things
        that usually finish within a fraction of a second (ACME validation) but may take longer.
        """
        started = self.clock()
        deadline = min(started + timeout, self.stop_by)
        attempt = 0
        while True:
            attempt += 1
            done, status = check()
            if done:
                return
            if self.clock() >= deadline:
                raise WaitTimedOut(f"{what} still {status} after {self.clock() - started:.0f}s "
                                   f"(waits at most {timeout:.0f}s, less near the Lambda timeout)")
            self.sleep(min(interval, interval * 2 ** (attempt - 3)) if ramp_up else interval)
