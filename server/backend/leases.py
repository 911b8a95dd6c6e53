"""Background work claimed, not owned, when replicas share one database (PostgreSQL).

The replica that accepts a request runs its background work (an import, a training, a packaging job,
loading or unloading a model) and holds a lease on it, renewed every few seconds by one thread. When a
replica dies (kill -9, a lost machine) its leases stop being renewed; once one expires, the first other
replica to claim it (SKIP LOCKED: exactly one) ends the work cleanly with a message, through the owner of
that resource's states. Work in progress with no lease at all (its replica died between the state change
and taking the lease) is ended once it has been seen without one on two sweeps in a row.

On SQLite (one process) none of this runs: a restart ends what was in progress (Backend.recover).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from server.store.leases import LeaseTable

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # account, region, project, name (dataset type, model version, job name)


class WorkLeases:
    def __init__(self, table: LeaseTable, seconds: float, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.seconds = seconds
        self.clock = clock
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lost: dict[str, Callable[[Key], None]] = {}  # kind -> end that work cleanly
        self._in_progress: dict[str, Callable[[], set[Key]]] = {}  # kind -> keys in a transitional state
        self._also: list[Callable[[], None]] = []  # run on every sweep (hosting notices stopped models)
        self._suspects: set[tuple[str, Key]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def on_lost(self, kind: str, end: Callable[[Key], None], in_progress: Callable[[], set[Key]]) -> None:
        self._lost[kind] = end
        self._in_progress[kind] = in_progress

    def every_sweep(self, task: Callable[[], None]) -> None:
        self._also.append(task)

    def hold(self, kind: str, key: Key) -> None:
        self.table.hold(kind, key, self.owner, self.clock() + self.seconds)

    def release(self, kind: str, key: Key) -> None:
        self.table.release(kind, key, self.owner)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lfv-leases", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.seconds)

    def _run(self) -> None:
        # Renewing three times per lease period leaves room for one slow or failed round.
        while not self._stop.wait(self.seconds / 3):
            try:
                self.sweep()
            except Exception:  # a database hiccup must not end the thread; the next round retries
                log.exception("renewing or sweeping work leases failed")

    def sweep(self) -> None:
        now = self.clock()
        self.table.renew(self.owner, now + self.seconds)
        for lease in self.table.claim_expired(now):
            self._end(lease.kind, lease.key, f"lease of {lease.owner} expired")
        suspects = set()
        for kind, in_progress in self._in_progress.items():
            held = self.table.held(kind)
            suspects |= {(kind, key) for key in in_progress() - held}
        for kind, key in suspects & self._suspects:
            self._end(kind, key, "no replica holds it")
        self._suspects = suspects - self._suspects
        for task in self._also:
            task()

    def _end(self, kind: str, key: Key, why: str) -> None:
        end = self._lost.get(kind)
        if end is None:
            return
        log.warning("%s %s: its replica is gone (%s); ending it", kind, "/".join(key), why)
        try:
            end(key)
        except Exception:
            log.exception("ending %s %s failed", kind, key)


LOST_REPLICA = "The replica of the service that ran this stopped"
