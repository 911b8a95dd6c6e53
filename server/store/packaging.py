"""Model packaging job rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.store.database import Database


@dataclass(frozen=True)
class JobRecord:
    account: str
    region: str
    project: str
    job_name: str
    model_version: int
    method: str
    status: str
    created: float
    updated: float
    configuration: dict[str, Any]
    description: str | None = None
    status_message: str | None = None
    output: dict[str, Any] | None = None
    seq: int = field(default=0)


_KEY = "account = ? AND region = ? AND project = ? AND job_name = ?"


class JobTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, record: JobRecord) -> bool:
        """False when the project already has a job of that name."""
        with self.database.transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO packaging_jobs (account, region, project, job_name, model_version, "
                "description, method, status, status_message, created, updated, configuration, output) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.account,
                    record.region,
                    record.project,
                    record.job_name,
                    record.model_version,
                    record.description,
                    record.method,
                    record.status,
                    record.status_message,
                    record.created,
                    record.updated,
                    json.dumps(record.configuration),
                    json.dumps(record.output) if record.output is not None else None,
                ),
            )
            return cursor.rowcount == 1

    def get(self, account: str, region: str, project: str, job_name: str) -> JobRecord | None:
        rows = self.database.query(
            f"SELECT * FROM packaging_jobs WHERE {_KEY}", (account, region, project, job_name)
        )
        return _record(rows[0]) if rows else None

    def update(
        self, record: JobRecord, status: str, updated: float, message: str | None, output: dict | None = None
    ) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                f"UPDATE packaging_jobs SET status = ?, updated = ?, status_message = ?, output = ? WHERE {_KEY}",
                (
                    status,
                    updated,
                    message,
                    json.dumps(output) if output is not None else None,
                    record.account,
                    record.region,
                    record.project,
                    record.job_name,
                ),
            )

    def list_after(
        self, account: str, region: str, project: str, after: int | None, limit: int
    ) -> list[JobRecord]:
        rows = self.database.query(
            "SELECT * FROM packaging_jobs WHERE account = ? AND region = ? AND project = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (account, region, project, after or 0, limit),
        )
        return [_record(row) for row in rows]

    def component_taken(self, account: str, region: str, name: str, version: str, besides: str) -> bool:
        """Whether another successful job already made this component version."""
        rows = self.database.query(
            "SELECT output FROM packaging_jobs WHERE account = ? AND region = ? AND status = 'SUCCEEDED' "
            "AND job_name != ?",
            (account, region, besides),
        )
        for row in rows:
            details = json.loads(row["output"] or "{}").get("Greengrass", {})
            if (details.get("ComponentName"), details.get("ComponentVersion")) == (name, version):
                return True
        return False

    def with_status(self, statuses: Iterable[str]) -> list[JobRecord]:
        return [_record(row) for row in self.database.with_status("packaging_jobs", statuses)]


def _record(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        account=row["account"],
        region=row["region"],
        project=row["project"],
        job_name=row["job_name"],
        model_version=row["model_version"],
        method=row["method"],
        status=row["status"],
        created=row["created"],
        updated=row["updated"],
        configuration=json.loads(row["configuration"]),
        description=row["description"],
        status_message=row["status_message"],
        output=json.loads(row["output"]) if row["output"] else None,
        seq=row["seq"],
    )
