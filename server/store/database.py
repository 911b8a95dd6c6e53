"""A SQLite database shared by all request threads.

One connection behind a lock: SQLite serialises writers anyway, an emulator's queries are short,
and a single connection also works for the in-memory database. WAL keeps every committed
transaction across a crash of the process (kill -9) and makes commits cheap.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from server.store.migrations import MIGRATIONS, RESOURCE_TABLES

DATABASE_FILE = "emulator.sqlite3"


class SchemaTooNewError(RuntimeError):
    pass


class Database:
    def __init__(self, data_dir: Path | None) -> None:
        """`data_dir=None` keeps everything in memory."""
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / DATABASE_FILE)
        self.path = None if data_dir is None else Path(target)
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
        self._connection.row_factory = sqlite3.Row
        if data_dir is not None:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @property
    def schema_version(self) -> int:
        return self._connection.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        with self.transaction() as connection:
            current = connection.execute("PRAGMA user_version").fetchone()[0]
            if current > len(MIGRATIONS):
                raise SchemaTooNewError(
                    f"the database {self.path} has schema version {current}, newer than this "
                    f"emulator knows ({len(MIGRATIONS)}); upgrade lookoutvision-emulator"
                )
            for version in range(current, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[version]):
                    connection.execute(statement)
            # PRAGMA takes no parameters; the value is our own integer.
            connection.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together or not at all."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def query(self, sql: str, parameters: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    def with_status(self, table: str, statuses: Iterable[str]) -> list[sqlite3.Row]:
        """Rows of `table` (one of ours, never user input) whose status is one of `statuses`."""
        wanted = list(statuses)
        marks = ", ".join("?" for _ in wanted)
        return self.query(f"SELECT * FROM {table} WHERE status IN ({marks})", tuple(wanted))

    def wipe(self) -> None:
        with self.transaction() as connection:
            for table in RESOURCE_TABLES:
                connection.execute(f"DELETE FROM {table}")

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
