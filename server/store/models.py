"""Model version rows and their tags."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from server.store.database import Database


@dataclass(frozen=True)
class ModelKey:
    account: str
    region: str
    project: str
    version: int

    def as_tuple(self) -> tuple[str, str, str, int]:
        return (self.account, self.region, self.project, self.version)


@dataclass(frozen=True)
class Performance:
    f1_score: float
    recall: float
    precision: float


@dataclass(frozen=True)
class ModelRecord:
    """One model version. Only server/backend/lifecycle.py writes it (tests/backend/test_lifecycle.py)."""

    key: ModelKey
    created: float
    status: str
    status_message: str | None = None
    description: str | None = None
    task: str | None = None  # classification or segmentation
    source: str | None = None  # what made the bundle: the trainer, an import, ...
    output_bucket: str | None = None  # CreateModel's OutputConfig; None for imported versions
    output_prefix: str | None = None
    kms_key_id: str | None = None
    performance: Performance | None = None
    evaluation_manifest_key: str | None = None  # both in output_bucket
    evaluation_result_key: str | None = None
    evaluation_end: float | None = None
    min_units: int | None = None
    max_units: int | None = None


# The record's fields, in the table's column names (performance spreads over three columns).
_PLAIN = tuple(f.name for f in fields(ModelRecord) if f.name not in ("key", "performance"))
_COLUMNS = (*_PLAIN, "f1_score", "recall", "precision_score")


_KEY = "account = ? AND region = ? AND project = ? AND version = ?"


class ModelTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert_next(
        self, account: str, region: str, project: str, make: Callable[[ModelKey], ModelRecord]
    ) -> ModelRecord | None:
        """Insert the project's next version (numbers are never reused); None if the project is gone."""
        with self.database.transaction() as connection:
            project_key = (account, region, project)
            updated = connection.execute(
                "UPDATE projects SET last_model_version = last_model_version + 1 "
                "WHERE account = ? AND region = ? AND name = ?",
                project_key,
            )
            if updated.rowcount != 1:
                return None
            version = connection.execute(
                "SELECT last_model_version FROM projects WHERE account = ? AND region = ? AND name = ?",
                project_key,
            ).fetchone()[0]
            record = make(ModelKey(account, region, project, version))
            _insert(connection, record)
            return record

    def get(self, key: ModelKey) -> ModelRecord | None:
        rows = self.database.query(f"SELECT * FROM models WHERE {_KEY}", key.as_tuple())
        return _record(rows[0]) if rows else None

    def latest(self, account: str, region: str, project: str) -> ModelRecord | None:
        rows = self.database.query(
            "SELECT * FROM models WHERE account = ? AND region = ? AND project = ? ORDER BY version DESC LIMIT 1",
            (account, region, project),
        )
        return _record(rows[0]) if rows else None

    def list_after(
        self, account: str, region: str, project: str, after: int | None, limit: int
    ) -> list[ModelRecord]:
        rows = self.database.query(
            "SELECT * FROM models WHERE account = ? AND region = ? AND project = ? AND version > ? "
            "ORDER BY version LIMIT ?",
            (account, region, project, after or 0, limit),
        )
        return [_record(row) for row in rows]

    def with_status(self, statuses: Iterable[str]) -> list[ModelRecord]:
        return [_record(row) for row in self.database.with_status("models", statuses)]

    def write_transition(
        self, key: ModelKey, allowed: Iterable[str] | None, **changes: Any
    ) -> tuple[ModelRecord | None, ModelRecord | None]:
        """Apply `changes` only if the model's status is in `allowed` (None: any), atomically.

        Returns (before, after): before is None when the model does not exist; after is None when
        the status did not allow the change.
        """
        with self.database.transaction() as connection:
            row = connection.execute(f"SELECT * FROM models WHERE {_KEY}", key.as_tuple()).fetchone()
            if row is None:
                return None, None
            before = _record(row)
            if allowed is not None and before.status not in set(allowed):
                return before, None
            after = replace(before, **changes)
            assignments = ", ".join(f"{column} = ?" for column in _COLUMNS)
            connection.execute(
                f"UPDATE models SET {assignments} WHERE {_KEY}", (*_values(after), *key.as_tuple())
            )
            return before, after

    def remove_row(self, key: ModelKey) -> bool:
        with self.database.transaction() as connection:
            return connection.execute(f"DELETE FROM models WHERE {_KEY}", key.as_tuple()).rowcount == 1

    def tags(self, key: ModelKey) -> dict[str, str]:
        rows = self.database.query(
            f"SELECT key, value FROM model_tags WHERE {_KEY} ORDER BY key", key.as_tuple()
        )
        return {row["key"]: row["value"] for row in rows}

    def change_tags(
        self, key: ModelKey, add: dict[str, str], remove: Iterable[str] = (), limit: int | None = None
    ) -> bool | None:
        """Add or overwrite, and remove tags in one transaction.

        None if the model is gone; False (and no change) if the result would exceed `limit` tags.
        """
        with self.database.transaction() as connection:
            if connection.execute(f"SELECT 1 FROM models WHERE {_KEY}", key.as_tuple()).fetchone() is None:
                return None
            existing = {
                row[0]
                for row in connection.execute(f"SELECT key FROM model_tags WHERE {_KEY}", key.as_tuple())
            }
            if limit is not None and len((existing - set(remove)) | set(add)) > limit:
                return False
            for tag_key in remove:
                connection.execute(
                    f"DELETE FROM model_tags WHERE {_KEY} AND key = ?", (*key.as_tuple(), tag_key)
                )
            connection.executemany(
                "INSERT OR REPLACE INTO model_tags (account, region, project, version, key, value) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(*key.as_tuple(), tag_key, value) for tag_key, value in add.items()],
            )
            return True


def _insert(connection: sqlite3.Connection, record: ModelRecord) -> None:
    columns = ("account", "region", "project", "version", *_COLUMNS)
    connection.execute(
        f"INSERT INTO models ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        (*record.key.as_tuple(), *_values(record)),
    )


def _values(record: ModelRecord) -> tuple[Any, ...]:
    performance = record.performance
    scores = (performance.f1_score, performance.recall, performance.precision) if performance else (None,) * 3
    return (*(getattr(record, name) for name in _PLAIN), *scores)


def _record(row: sqlite3.Row) -> ModelRecord:
    performance = None
    if row["f1_score"] is not None:
        performance = Performance(row["f1_score"], row["recall"], row["precision_score"])
    return ModelRecord(
        key=ModelKey(row["account"], row["region"], row["project"], row["version"]),
        performance=performance,
        **{name: row[name] for name in _PLAIN},
    )
