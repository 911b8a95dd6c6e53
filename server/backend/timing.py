"""When state changes happen: in the background as work finishes, at once (fixture mode), or after a delay.

Client code that polls (for STARTING_HOSTING, TRAINING, ...) can be tested by giving a change a delay;
tests that only need the end state get it immediately in fixture mode.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.backend.leases import WorkLeases

KINDS = ("hosting", "stopping", "training", "dataset_import", "packaging")

Settle = Callable[[], None]
MAX_DELAY = 3600.0


def check_delay(kind: str, seconds: object) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_DELAY:
        raise ValueError(f"delay {kind} must be a number of seconds from 0 to {MAX_DELAY:g}, not {seconds!r}")


class Timing:
    def __init__(self, immediate: bool, delays: dict[str, float]) -> None:
        self.immediate = immediate
        self._configured = dict(delays)
        self._delays = dict(delays)
        self._lock = threading.Lock()
        self.leases: WorkLeases | None = None  # set when replicas share the database

    def delays(self) -> dict[str, float]:
        with self._lock:
            return {kind: self._delays.get(kind, 0.0) for kind in KINDS}

    def set_delays(self, changes: dict[str, float]) -> dict[str, float]:
        unknown = set(changes) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown delays {sorted(unknown)}; known: {', '.join(KINDS)}")
        for kind, seconds in changes.items():
            check_delay(kind, seconds)
        with self._lock:
            self._delays.update({kind: float(seconds) for kind, seconds in changes.items()})
        return self.delays()

    def restore(self) -> None:
        """Back to the delays the server was started with (a reset does this)."""
        with self._lock:
            self._delays = dict(self._configured)

    def launch(
        self, kind: str, work: Callable[[Settle], None], lease: tuple[str, str, str, str] | None = None
    ) -> None:
        """Run `work(settle)`: now, in this thread, in fixture mode without a delay; otherwise in a thread.

        `work` calls `settle()` just before its final state change; settle waits out what is left of the
        delay, so the transitional state lasts at least that long. With replicas (`leases` set), the work
        is held under a lease on `lease` (its resource) while it runs (backend/leases.py).
        """
        leases = self.leases
        if leases is not None and lease is not None:
            leases.hold(kind, lease)  # before the call returns: a sweep never sees this work unleased

            def held(settle: Settle) -> None:
                try:
                    work(settle)
                finally:
                    leases.release(kind, lease)

            run: Callable[[Settle], None] = held
        else:
            run = work
        delay = self.delays().get(kind, 0.0)
        started = time.monotonic()

        def settle() -> None:
            remaining = delay - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)

        if self.immediate and delay <= 0:
            run(settle)
        else:
            threading.Thread(target=run, args=(settle,), name=f"lfv-{kind}", daemon=True).start()
