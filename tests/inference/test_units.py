"""Inference units as slots, with a fake clock and runners that block until released."""

from __future__ import annotations

import threading
import time

import pytest

from server.inference.units import InferenceUnits, QueueFull, UnitsClosed


class Runners:
    def __init__(self) -> None:
        self.made = 0

    def __call__(self) -> int:
        self.made += 1
        return self.made


def run_blocked(slots: InferenceUnits, gate: threading.Event, results: list) -> threading.Thread:
    def work() -> None:
        try:
            results.append(slots.run(lambda runner: (gate.wait(10), runner)[1]))
        except Exception as error:
            results.append(error)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


def test_n_units_run_n_at_once_and_the_queue_is_bounded():
    slots = InferenceUnits(Runners(), minimum=2, queue_per_unit=1)
    gate, results = threading.Event(), []
    threads = [run_blocked(slots, gate, results) for _ in range(4)]  # 2 run, 2 wait (queue 1 x 2 units)
    wait_until(lambda: slots._waiting == 2)
    with pytest.raises(QueueFull):
        slots.run(lambda runner: runner)
    gate.set()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and set(results) <= {1, 2}  # the two units' runners served all four


def test_units_grow_while_requests_wait_and_shrink_when_quiet():
    now = [0.0]
    slots = InferenceUnits(
        Runners(), minimum=1, maximum=3, grow_after=0.0, shrink_after=5.0, clock=lambda: now[0]
    )
    gate, results = threading.Event(), []
    threads = [run_blocked(slots, gate, results) for _ in range(3)]
    wait_until(lambda: slots.units == 3)
    gate.set()
    for thread in threads:
        thread.join()
    assert slots.units == 3  # not quiet long enough yet
    now[0] += 5.0
    assert slots.units == 2  # one unit per quiet period
    now[0] += 5.0
    slots.run(lambda runner: runner)
    assert slots.units == 1
    now[0] += 50.0
    assert slots.units == 1  # never below the minimum


def test_close_waits_for_running_work_and_refuses_new():
    slots = InferenceUnits(Runners(), minimum=1)
    gate, results = threading.Event(), []
    thread = run_blocked(slots, gate, results)
    wait_until(lambda: slots._busy == 1)
    closer = threading.Thread(target=slots.close)
    closer.start()
    time.sleep(0.05)
    assert closer.is_alive()  # still waiting for the run in progress
    gate.set()
    thread.join()
    closer.join()
    assert results == [1]
    with pytest.raises(UnitsClosed):
        slots.run(lambda runner: runner)
