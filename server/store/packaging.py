"""Model packaging job rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, and_, select

from server.store.database import Database, dialect_insert
from server.store.database import inserted as _inserted
from server.store.schema import packaging_jobs


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


def _key(account: str, region: str, project: str, job_name: str):
    columns = packaging_jobs.c
    return and_(
        columns.account == account, columns.region == region, columns.project == project,
        columns.job_name == job_name,
    )  # fmt: skip


class JobTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, record: JobRecord) -> bool:
        """False when the project already has a job of that name."""
        with self.database.transaction() as connection:
            statement = dialect_insert(connection, packaging_jobs).values(
                account=record.account,
                region=record.region,
                project=record.project,
                job_name=record.job_name,
                model_version=record.model_version,
                description=record.description,
                method=record.method,
                status=record.status,
                status_message=record.status_message,
                created=record.created,
                updated=record.updated,
                configuration=json.dumps(record.configuration),
                output=json.dumps(record.output) if record.output is not None else None,
            )
            return _inserted(connection, statement)

    def get(self, account: str, region: str, project: str, job_name: str) -> JobRecord | None:
        rows = self.database.query(select(packaging_jobs).where(_key(account, region, project, job_name)))
        return _record(rows[0]) if rows else None

    def update(
        self, record: JobRecord, status: str, updated: float, message: str | None, output: dict | None = None
    ) -> None:
        with self.database.transaction() as connection:
            connection.execute(
                packaging_jobs.update()
                .where(_key(record.account, record.region, record.project, record.job_name))
                .values(
                    status=status,
                    updated=updated,
                    status_message=message,
                    output=json.dumps(output) if output is not None else None,
                )
            )

    def list_after(
        self, account: str, region: str, project: str, after: int | None, limit: int
    ) -> list[JobRecord]:
        columns = packaging_jobs.c
        rows = self.database.query(
            select(packaging_jobs)
            .where(
                columns.account == account,
                columns.region == region,
                columns.project == project,
                columns.seq > (after or 0),
            )
            .order_by(columns.seq)
            .limit(limit)
        )
        return [_record(row) for row in rows]

    def component_taken(self, account: str, region: str, name: str, version: str, besides: str) -> bool:
        """Whether another successful job already made this component version."""
        columns = packaging_jobs.c
        rows = self.database.query(
            select(columns.output).where(
                columns.account == account,
                columns.region == region,
                columns.status == "SUCCEEDED",
                columns.job_name != besides,
            )
        )
        for (output,) in rows:
            details = json.loads(output or "{}").get("Greengrass", {})
            if (details.get("ComponentName"), details.get("ComponentVersion")) == (name, version):
                return True
        return False

    def with_status(self, statuses: Iterable[str]) -> list[JobRecord]:
        return [_record(row) for row in self.database.with_status("packaging_jobs", statuses)]


def _record(row: Row) -> JobRecord:
    found = row._mapping
    return JobRecord(
        account=found["account"],
        region=found["region"],
        project=found["project"],
        job_name=found["job_name"],
        model_version=found["model_version"],
        method=found["method"],
        status=found["status"],
        created=found["created"],
        updated=found["updated"],
        configuration=json.loads(found["configuration"]),
        description=found["description"],
        status_message=found["status_message"],
        output=json.loads(found["output"]) if found["output"] else None,
        seq=found["seq"],
    )
