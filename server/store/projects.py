"""Project rows."""

from __future__ import annotations

from dataclasses import dataclass

from server.store.database import Database


@dataclass(frozen=True)
class ProjectRecord:
    account: str
    region: str
    name: str
    created: float


class ProjectTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, record: ProjectRecord) -> bool:
        """False when a project of that name already exists in the account and region."""
        with self.database.transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO projects (account, region, name, created) VALUES (?, ?, ?, ?)",
                (record.account, record.region, record.name, record.created),
            )
            return cursor.rowcount == 1

    def get(self, account: str, region: str, name: str) -> ProjectRecord | None:
        rows = self.database.query(
            "SELECT * FROM projects WHERE account = ? AND region = ? AND name = ?", (account, region, name)
        )
        return _record(rows[0]) if rows else None

    def delete(self, account: str, region: str, name: str) -> tuple[bool, int]:
        """(deleted, models and datasets left): a project that still has either is kept."""
        with self.database.transaction() as connection:
            key = (account, region, name)
            models = connection.execute(
                "SELECT COUNT(*) FROM models WHERE account = ? AND region = ? AND project = ?", key
            ).fetchone()[0]
            datasets = connection.execute(
                "SELECT COUNT(*) FROM datasets WHERE account = ? AND region = ? AND project = ?", key
            ).fetchone()[0]
            if models or datasets:
                return False, models + datasets
            cursor = connection.execute(
                "DELETE FROM projects WHERE account = ? AND region = ? AND name = ?", key
            )
            # Packaging jobs have no delete operation of their own: they go with their project.
            connection.execute(
                "DELETE FROM packaging_jobs WHERE account = ? AND region = ? AND project = ?", key
            )
            return cursor.rowcount == 1, 0

    def list_after(self, account: str, region: str, after: str | None, limit: int) -> list[ProjectRecord]:
        """Projects in name order, starting after `after`."""
        rows = self.database.query(
            "SELECT * FROM projects WHERE account = ? AND region = ? AND name > ? ORDER BY name LIMIT ?",
            (account, region, after or "", limit),
        )
        return [_record(row) for row in rows]


def _record(row) -> ProjectRecord:
    return ProjectRecord(
        account=row["account"], region=row["region"], name=row["name"], created=row["created"]
    )
