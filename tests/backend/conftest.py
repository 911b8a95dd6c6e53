"""The backend built in-process: an in-memory database, a temporary folder and a clock the test moves.
Its rules are tested here in milliseconds; the live-server tests stay for the wire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.backend.assembly import Backend
from server.backend.scope import Scope
from server.backend.timing import Timing
from server.store.database import Database


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    database = Database(None)
    built = Backend(database, tmp_path, timing=Timing(immediate=True, delays={}), clock=clock)
    yield built
    built.close()


@pytest.fixture
def scope() -> Scope:
    return Scope("123456789012", "us-east-1")
