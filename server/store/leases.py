"""Leases on background work: which replica runs an import, a training or a packaging job, until when.

A replica renews its leases while it works; a lease that has expired belongs to a replica that is gone,
and the first other replica to claim it (SELECT ... FOR UPDATE SKIP LOCKED: never two) ends the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select

from server.store.database import Database, dialect_insert
from server.store.schema import work_leases


@dataclass(frozen=True)
class Lease:
    kind: str
    key: tuple[str, str, str, str]  # account, region, project, name (dataset type, version, job name)
    owner: str
    expires: float


class LeaseTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def hold(self, kind: str, key: tuple[str, str, str, str], owner: str, expires: float) -> None:
        """Take (or take over) the lease on one piece of work."""
        values = {"owner": owner, "expires": expires}
        with self.database.transaction() as connection:
            statement = dialect_insert(connection, work_leases).values(
                kind=kind, account=key[0], region=key[1], project=key[2], name=key[3], **values
            )
            connection.execute(
                statement.on_conflict_do_update(
                    index_elements=["kind", "account", "region", "project", "name"], set_=values
                )
            )

    def renew(self, owner: str, expires: float) -> int:
        """Extend every lease `owner` holds; how many it holds."""
        with self.database.transaction() as connection:
            held = connection.execute(
                work_leases.update()
                .where(work_leases.c.owner == owner)
                .values(expires=expires)
                .returning(work_leases.c.kind)
            )
            return len(held.all())

    def release(self, kind: str, key: tuple[str, str, str, str], owner: str) -> None:
        with self.database.transaction() as connection:
            connection.execute(work_leases.delete().where(_key(kind, key), work_leases.c.owner == owner))

    def claim_expired(self, now: float, limit: int = 20) -> list[Lease]:
        """Remove and return leases that expired before `now`; a lease locked by another claimer is skipped."""
        with self.database.transaction() as connection:
            rows = connection.execute(
                select(work_leases)
                .where(work_leases.c.expires < now)
                .order_by(work_leases.c.expires)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            leases = [_lease(row) for row in rows]
            for lease in leases:
                connection.execute(work_leases.delete().where(_key(lease.kind, lease.key)))
            return leases

    def held(self, kind: str) -> set[tuple[str, str, str, str]]:
        columns = work_leases.c
        rows = self.database.query(
            select(columns.account, columns.region, columns.project, columns.name).where(columns.kind == kind)
        )
        return {(account, region, project, name) for account, region, project, name in rows}


def _key(kind: str, key: tuple[str, str, str, str]):
    columns = work_leases.c
    return and_(
        columns.kind == kind, columns.account == key[0], columns.region == key[1], columns.project == key[2],
        columns.name == key[3],
    )  # fmt: skip


def _lease(row) -> Lease:
    found = row._mapping
    return Lease(
        found["kind"], (found["account"], found["region"], found["project"], found["name"]), found["owner"],
        found["expires"],
    )  # fmt: skip
