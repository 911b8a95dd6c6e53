"""The database behind every table: SQLite in the data directory (the default) or PostgreSQL.

SQLAlchemy Core speaks both dialects. SQLite: one connection behind a lock, as SQLite serialises
writers anyway, an emulator's queries are short, and one connection also works for the in-memory
database; WAL keeps every committed transaction across a kill -9 and makes commits cheap.
PostgreSQL: a pool of connections shared by replicas of the emulator; a transaction that reads a row
and then changes it locks that row (SELECT ... FOR UPDATE).

Schema: Alembic revisions in schema_history/. A new database is created from schema.py and stamped at
the newest revision; Alembic itself is imported only when an older database must be upgraded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from server.store import schema
from server.store.migrations import HEAD_REVISION, revision_of_user_version

log = logging.getLogger(__name__)

DATABASE_FILE = "emulator.sqlite3"
SCHEMA_HISTORY = Path(__file__).with_name("schema_history")
_MIGRATION_LOCK = 0x4C3456  # a PostgreSQL advisory lock: one replica migrates, the others wait


# A connection whose other end is gone (a lost machine) is noticed within about idle + interval * count s.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class SchemaTooNewError(RuntimeError):
    pass


class DatabaseUnavailableError(RuntimeError):
    """The database cannot be reached or opened (a wrong URL, password, a server that is down)."""


def database_url(data_dir: Path | None, url: str = "") -> str:
    """The SQLAlchemy URL for a `--database-url` value; empty means SQLite in `data_dir` (None: memory)."""
    if not url:
        return "sqlite://" if data_dir is None else f"sqlite:///{data_dir / DATABASE_FILE}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(f"database_url {url!r} is not a URL (sqlite:///path or postgresql://...)") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.drivername == "sqlite":
        return url
    raise ValueError(f"database_url must start with sqlite:/// or postgresql://, not {parsed.drivername}://")


class Database:
    def __init__(self, data_dir: Path | None, url: str = "") -> None:
        """`data_dir=None` (and no url) keeps everything in memory."""
        address = make_url(database_url(data_dir, url))
        self.dialect = "sqlite" if address.drivername == "sqlite" else "postgresql"
        self.path = Path(address.database) if self.dialect == "sqlite" and address.database else None
        self._lock: threading.RLock | None = None
        self._connection: Connection | None = None
        if self.dialect == "sqlite":
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = _sqlite_engine(address.render_as_string(hide_password=False), self.path is not None)
            self._lock = threading.RLock()
            self._connection = self.engine.connect()
        else:
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise ValueError(
                    "database_url postgresql:// needs psycopg: pip install 'lookoutvision-emulator[postgresql]'"
                ) from None
            self.engine = create_engine(
                address, pool_size=8, max_overflow=16, pool_pre_ping=True, connect_args=_KEEPALIVES
            )
        try:
            self._migrate()
        except OperationalError as error:
            self.close()
            where = self.path or self.engine.url.render_as_string(hide_password=True)
            raise DatabaseUnavailableError(f"cannot use the database {where}: {error.orig}") from None
        except BaseException:
            self.close()
            raise

    @property
    def schema_version(self) -> int:
        rows = self.query(select(schema.alembic_version.c.version_num))
        return int(rows[0][0]) if rows else 0

    @property
    def is_shared(self) -> bool:
        """Whether other processes may use this database at the same time (replicas)."""
        return self.dialect == "postgresql"

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a lock named `name` across every process on a shared database (one process: no-op;
        callers serialise their own threads). PostgreSQL frees it if the holder's connection is lost."""
        if self._connection is not None:
            yield
            return
        key = {"name": name}
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(hashtextextended(:name, 0))"), key)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))"), key)
                connection.commit()

    def _migrate(self) -> None:
        with self.transaction() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            tables = set(inspect(connection).get_table_names())
            current = _current_revision(connection, tables)
            if current == HEAD_REVISION:
                return
            known = {path.name[:4] for path in (SCHEMA_HISTORY / "versions").glob("[0-9]*.py")}
            if current is not None and (current > HEAD_REVISION or current not in known):
                raise self._too_new(current)
            if current is None and not tables & {table.name for table in schema.metadata.sorted_tables}:
                # A new database: the newest schema at once, stamped so later revisions apply.
                schema.metadata.create_all(connection)
                schema.alembic_version.create(connection)
                connection.execute(schema.alembic_version.insert().values(version_num=HEAD_REVISION))
            else:
                _upgrade(connection, current)
            if self.dialect == "sqlite":
                # Older emulators read this: they refuse a database that is newer than they know.
                connection.exec_driver_sql(f"PRAGMA user_version = {int(HEAD_REVISION)}")

    def _too_new(self, revision: str) -> SchemaTooNewError:
        where = self.path or self.engine.url.render_as_string(hide_password=True)
        return SchemaTooNewError(
            f"the database {where} has schema version {revision}, newer than this emulator knows "
            f"({HEAD_REVISION}); upgrade lookoutvision-emulator"
        )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Everything inside commits together or not at all."""
        if self._connection is None:
            with self.engine.begin() as connection:
                yield connection
            return
        assert self._lock is not None
        with self._lock, self._connection.begin():
            yield self._connection

    def query(
        self, statement: Executable | str, parameters: Sequence[Any] | dict[str, Any] = ()
    ) -> list[Row]:
        """Rows of one read-only statement (a string is plain SQL with :named parameters)."""
        if isinstance(statement, str):
            statement = text(statement)
        values = dict(parameters) if isinstance(parameters, dict) else None
        if self._connection is None:
            with self.engine.connect() as connection:
                return list(connection.execute(statement, values))
        assert self._lock is not None
        with self._lock:
            self._connection.info["deferred"] = True  # a read needs no write lock
            try:
                with self._connection.begin():
                    return list(self._connection.execute(statement, values))
            finally:
                self._connection.info["deferred"] = False

    def with_status(self, table: str, statuses: Iterable[str]) -> list[Row]:
        """Rows of `table` (one of ours, never user input) whose status is one of `statuses`."""
        found = schema.metadata.tables[table]
        return self.query(select(found).where(found.c.status.in_(list(statuses))))

    def wipe(self) -> None:
        with self.transaction() as connection:
            for table in schema.RESOURCE_TABLES:
                connection.execute(table.delete())

    def close(self) -> None:
        if self._connection is not None:
            assert self._lock is not None
            with self._lock:
                self._connection.close()
        self.engine.dispose()


def _sqlite_engine(url: str, on_disk: bool) -> Engine:
    engine = create_engine(
        url, poolclass=StaticPool, connect_args={"check_same_thread": False, "timeout": 30}
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we say when a transaction begins (below)
        if on_disk:
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction cannot deadlock.
        connection.exec_driver_sql("BEGIN" if connection.info.get("deferred") else "BEGIN IMMEDIATE")

    return engine


def _current_revision(connection: Connection, tables: set[str]) -> str | None:
    """The database's revision; a SQLite database from before Alembic maps its user_version to one.

    Revisions are numbered (0001, 0002, ...) and SQLite's user_version mirrors the number, so an older
    emulator, which reads only user_version, refuses a database that a newer one has upgraded.
    """
    user_version = 0
    if connection.dialect.name == "sqlite":
        user_version = connection.exec_driver_sql("PRAGMA user_version").scalar() or 0
        if user_version > int(HEAD_REVISION):
            return f"{user_version:04d}"  # written by a newer emulator
    if "alembic_version" in tables:
        row = connection.execute(select(schema.alembic_version.c.version_num)).first()
        if row is not None:
            return str(row[0])
    return revision_of_user_version(user_version) if user_version else None


def _upgrade(connection: Connection, current: str | None) -> None:
    """Stamp the database at `current` (if Alembic has not yet) and run the newer revisions."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCHEMA_HISTORY))
    config.attributes["connection"] = connection
    log.info("upgrading the database's schema from version %s to %s", current or "none", HEAD_REVISION)
    if current is not None:
        command.stamp(config, current)
    command.upgrade(config, "head")


def dialect_insert(connection: Connection, table: Any) -> Any:
    """An INSERT with ON CONFLICT clauses (on_conflict_do_nothing / _do_update) in the connection's dialect."""
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def inserted(connection: Connection, statement: Any) -> bool:
    """Run a dialect_insert() statement with ON CONFLICT DO NOTHING: whether it added its row.

    RETURNING says so on both dialects (psycopg's rowcount is not reliable for this statement).
    """
    primary = list(statement.table.primary_key.columns)
    return connection.execute(statement.on_conflict_do_nothing().returning(*primary)).first() is not None
