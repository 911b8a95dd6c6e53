"""Project rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Row, and_, func, select

from server.store.database import Database, dialect_insert
from server.store.database import inserted as _inserted
from server.store.schema import datasets, models, packaging_jobs, projects


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
            statement = dialect_insert(connection, projects).values(
                account=record.account, region=record.region, name=record.name, created=record.created
            )
            return _inserted(connection, statement)

    def get(self, account: str, region: str, name: str) -> ProjectRecord | None:
        rows = self.database.query(select(projects).where(_key(account, region, name)))
        return _record(rows[0]) if rows else None

    def delete(self, account: str, region: str, name: str) -> tuple[bool, int]:
        """(deleted, models and datasets left): a project that still has either is kept."""
        with self.database.transaction() as connection:
            # Locking the project row keeps a concurrent CreateModel or CreateDataset from slipping in.
            found = connection.execute(
                select(projects.c.name).where(_key(account, region, name)).with_for_update()
            ).first()
            left = 0
            for table in (models, datasets):
                left += connection.execute(
                    select(func.count()).select_from(table).where(_owned(table, account, region, name))
                ).scalar_one()
            if left:
                return False, left
            if found is None:
                return False, 0
            connection.execute(projects.delete().where(_key(account, region, name)))
            # Packaging jobs have no delete operation of their own: they go with their project.
            connection.execute(packaging_jobs.delete().where(_owned(packaging_jobs, account, region, name)))
            return True, 0

    def list_after(self, account: str, region: str, after: str | None, limit: int) -> list[ProjectRecord]:
        """Projects in name order, starting after `after`."""
        rows = self.database.query(
            select(projects)
            .where(
                projects.c.account == account, projects.c.region == region, projects.c.name > (after or "")
            )
            .order_by(projects.c.name)
            .limit(limit)
        )
        return [_record(row) for row in rows]


def _key(account: str, region: str, name: str):
    return and_(projects.c.account == account, projects.c.region == region, projects.c.name == name)


def _owned(table, account: str, region: str, project: str):
    return and_(table.c.account == account, table.c.region == region, table.c.project == project)


def _record(row: Row) -> ProjectRecord:
    found = row._mapping
    return ProjectRecord(
        account=found["account"], region=found["region"], name=found["name"], created=found["created"]
    )
