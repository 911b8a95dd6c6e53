"""The schema's history: Alembic revisions, the SQLite steps before them, and schema.py all agree."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.store import schema
from server.store.database import DATABASE_FILE, SCHEMA_HISTORY, Database, DatabaseUnavailableError, _upgrade
from server.store.migrations import HEAD_REVISION, MIGRATIONS
from server.store.projects import ProjectRecord, ProjectTable


def test_the_head_revision_is_the_newest_script():
    assert ScriptDirectory(str(SCHEMA_HISTORY)).get_current_head() == HEAD_REVISION


def _differences(database: Database) -> list:
    with database.transaction() as connection:
        return compare_metadata(MigrationContext.configure(connection), schema.metadata)


def _upgraded_from_nothing(database: Database) -> None:
    """Empty the database, then build it with every revision in turn (as an old database would be)."""
    with database.transaction() as connection:
        schema.metadata.drop_all(connection)
        schema.alembic_version.drop(connection)
        if database.dialect == "sqlite":
            connection.exec_driver_sql("PRAGMA user_version = 0")
        _upgrade(connection, None)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_revisions_build_exactly_the_schema(dialect, tmp_path, request):
    url = request.getfixturevalue("postgres").new_database() if dialect == "postgresql" else ""
    database = Database(tmp_path, url)
    try:
        assert _differences(database) == []  # created from schema.py
        _upgraded_from_nothing(database)
        assert _differences(database) == []  # built by the revisions
        assert database.schema_version == int(HEAD_REVISION)
    finally:
        database.close()


@pytest.mark.parametrize("user_version", range(1, len(MIGRATIONS) + 1))
def test_a_sqlite_data_directory_from_before_alembic_moves_forward(tmp_path, user_version):
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    for step in MIGRATIONS[:user_version]:
        connection.executescript(step)
    connection.execute(f"PRAGMA user_version = {user_version}")
    connection.execute("INSERT INTO projects (account, region, name, created) VALUES ('1', 'r', 'kept', 2.0)")
    connection.commit()
    connection.close()

    database = Database(tmp_path)
    try:
        assert database.schema_version == int(HEAD_REVISION)
        assert ProjectTable(database).get("1", "r", "kept") == ProjectRecord("1", "r", "kept", 2.0)
        # The old steps spelled REAL where schema.py says FLOAT (the same storage in SQLite) and left
        # meta's TEXT key nullable (SQLite never stores NULL there for us): only tables, columns, keys and
        # indexes count here.
        kept = [
            item
            for item in _differences(database)
            if not (isinstance(item, list) and item[0][0] in ("modify_type", "modify_nullable"))
        ]
        assert kept == []
    finally:
        database.close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == int(HEAD_REVISION)


def test_replicas_starting_together_create_the_schema_once(postgres):
    url = postgres.new_database()
    opened: list[Database] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(Database(None, url))
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [database.schema_version for database in opened] == [int(HEAD_REVISION)] * 4
    for database in opened:
        database.close()


def test_a_database_url_that_is_not_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match="must start with sqlite:/// or postgresql://"):
        Database(tmp_path, "mysql://localhost/db")


def test_a_database_that_cannot_be_reached_is_named_in_the_error():
    with pytest.raises(
        DatabaseUnavailableError, match=r"cannot use the database postgresql\+psycopg://nobody:\*\*\*@"
    ) as error:
        Database(None, "postgresql://nobody:secret@127.0.0.1:1/l4v")
    assert "secret" not in str(error.value)  # the password never reaches a log


def test_an_upgrade_logs_one_line_under_serves_logging(tmp_path):
    """`serve`'s logging keeps Alembic's step-by-step narration out; the store says what it did, once."""
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    for step in MIGRATIONS[:4]:
        connection.executescript(step)
    connection.execute("PRAGMA user_version = 4")
    connection.commit()
    connection.close()
    script = (
        "import logging.config, sys; from pathlib import Path; from server.cli.logs import logging_config; "
        "from server.store.database import Database; logging.config.dictConfig(logging_config('info')); "
        "Database(Path(sys.argv[1])).close()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True
    )
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"schema from version 0004 to {HEAD_REVISION}" in lines[0]
