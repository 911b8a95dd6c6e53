from __future__ import annotations

import sqlite3

import pytest

from server.store.database import DATABASE_FILE, Database, SchemaTooNewError
from server.store.migrations import HEAD_REVISION
from server.store.projects import ProjectRecord, ProjectTable


def test_new_database_is_at_the_latest_schema_in_wal_mode(tmp_path):
    database = Database(tmp_path)
    assert database.schema_version == int(HEAD_REVISION)
    assert database.query("PRAGMA journal_mode")[0][0] == "wal"
    database.close()


def test_reopening_keeps_rows_and_does_not_migrate_again(tmp_path):
    database = Database(tmp_path)
    ProjectTable(database).insert(ProjectRecord("1", "r", "p", 1.0))
    database.close()
    reopened = Database(tmp_path)
    assert ProjectTable(reopened).get("1", "r", "p") == ProjectRecord("1", "r", "p", 1.0)
    reopened.close()


def test_a_schema_newer_than_the_code_is_refused(tmp_path):
    Database(tmp_path).close()
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        connection.execute(f"PRAGMA user_version = {int(HEAD_REVISION) + 1}")
    with pytest.raises(SchemaTooNewError, match="upgrade lookoutvision-emulator"):
        Database(tmp_path)


def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    database = Database(tmp_path)
    with pytest.raises(RuntimeError), database.transaction() as connection:
        connection.exec_driver_sql(
            "INSERT INTO projects (account, region, name, created) VALUES ('1', 'r', 'half', 1.0)"
        )
        raise RuntimeError("interrupted")
    assert ProjectTable(database).get("1", "r", "half") is None
    database.close()


def test_wipe_empties_resources_but_keeps_meta(tmp_path):
    database = Database(tmp_path)
    ProjectTable(database).insert(ProjectRecord("1", "r", "p", 1.0))
    with database.transaction() as connection:
        connection.exec_driver_sql("INSERT INTO meta VALUES ('k', 'v')")
    database.wipe()
    assert database.query("SELECT COUNT(*) FROM projects")[0][0] == 0
    assert database.query("SELECT value FROM meta WHERE key = 'k'")[0][0] == "v"
    database.close()


def test_in_memory_database_works_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    database = Database(None)
    table = ProjectTable(database)
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda i: table.insert(ProjectRecord("1", "r", f"p{i % 20}", 1.0)), range(100))
        )
    assert sum(results) == 20
    assert len(table.list_after("1", "r", None, 100)) == 20
