"""Inference units: N units run N predictions at once; more requests wait in a bounded queue, and beyond
it the caller is throttled. With a maximum above the minimum, a request that has waited `grow_after` seconds adds a unit
(up to the maximum); once no request has waited for `shrink_after` seconds, units are taken away again
one at a time, down to the minimum.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

Runner = TypeVar("Runner")
Result = TypeVar("Result")


class QueueFull(Exception):
    """Every unit is busy and the queue is full."""


class UnitsClosed(Exception):
    """The model stopped while the request waited."""


class InferenceUnits(Generic[Runner]):
    def __init__(
        self,
        make_runner: Callable[[], Runner],
        minimum: int,
        maximum: int | None = None,
        queue_per_unit: int = 8,
        grow_after: float = 0.5,
        shrink_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.minimum = minimum
        self.maximum = max(minimum, maximum or minimum)
        self.queue_per_unit = queue_per_unit
        self.grow_after = grow_after
        self.shrink_after = shrink_after
        self._clock = clock
        self._make_runner = make_runner
        self._condition = threading.Condition()
        self._idle: list[Runner] = [make_runner() for _ in range(minimum)]
        self._units = minimum
        self._busy = 0
        self._waiting = 0
        self._growing = False
        self._last_wait = clock()
        self._closed = False

    @property
    def units(self) -> int:
        """Units in service now (a quiet period is noticed here too, not only when a request ends)."""
        with self._condition:
            if self._idle and self._quiet():
                self._idle.pop()
                self._shrink()
            return self._units

    def run(self, work: Callable[[Runner], Result]) -> Result:
        runner = self._acquire()
        try:
            return work(runner)
        finally:
            self._release(runner)

    def _acquire(self) -> Runner:
        with self._condition:
            if self._closed:
                raise UnitsClosed("the model is stopping")
            if not self._idle:
                if self._waiting >= self.queue_per_unit * self._units:
                    raise QueueFull(
                        f"{self._units} inference units are busy and {self._waiting} requests wait"
                    )
                self._waiting += 1
                started = self._clock()
                try:
                    while not self._idle and not self._closed:
                        self._last_wait = self._clock()
                        if self._should_grow(started):
                            self._grow()
                            continue
                        self._condition.wait(
                            timeout=self.grow_after / 4 if self.maximum > self._units else None
                        )
                finally:
                    self._waiting -= 1
                if self._closed:
                    raise UnitsClosed("the model is stopping")
            self._busy += 1
            return self._idle.pop()

    def _should_grow(self, started: float) -> bool:
        return self._units < self.maximum and not self._growing and self._clock() - started >= self.grow_after

    def _grow(self) -> None:
        """Called with the lock held; builds the runner without it, so other requests keep flowing."""
        self._growing = True
        self._condition.release()
        try:
            runner = self._make_runner()
        finally:
            self._condition.acquire()
            self._growing = False
        self._units += 1
        self._idle.append(runner)
        self._condition.notify_all()

    def _release(self, runner: Runner) -> None:
        with self._condition:
            self._busy -= 1
            if self._quiet():
                self._shrink()  # this runner is dropped: its unit goes out of service
            else:
                self._idle.append(runner)
            self._condition.notify()

    def _quiet(self) -> bool:
        return (
            self._units > self.minimum
            and self._waiting == 0
            and self._clock() - self._last_wait >= self.shrink_after
        )

    def _shrink(self) -> None:
        self._units -= 1
        self._last_wait = self._clock()  # one unit per quiet period

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new work and wait (up to `timeout`) for the runs in progress."""
        deadline = self._clock() + timeout
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            while self._busy and self._clock() < deadline:
                self._condition.wait(timeout=0.05)
            self._idle.clear()
