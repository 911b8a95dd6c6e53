"""Model version rows and their tags."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import Connection, Row, and_, select

from server.store.database import Database, dialect_insert
from server.store.schema import model_tags, models, projects


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


def _key(table, key: ModelKey):
    columns = table.c
    return and_(
        columns.account == key.account, columns.region == key.region, columns.project == key.project,
        columns.version == key.version,
    )  # fmt: skip


def _of_project(table, account: str, region: str, project: str):
    return and_(table.c.account == account, table.c.region == region, table.c.project == project)


class ModelTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert_next(
        self, account: str, region: str, project: str, make: Callable[[ModelKey], ModelRecord]
    ) -> ModelRecord | None:
        """Insert the project's next version (numbers are never reused); None if the project is gone."""
        with self.database.transaction() as connection:
            # UPDATE ... RETURNING counts and reads in one step, holding the project row until commit.
            version = connection.execute(
                projects.update()
                .where(projects.c.account == account, projects.c.region == region, projects.c.name == project)
                .values(last_model_version=projects.c.last_model_version + 1)
                .returning(projects.c.last_model_version)
            ).scalar()
            if version is None:
                return None
            record = make(ModelKey(account, region, project, version))
            _insert(connection, record)
            return record

    def get(self, key: ModelKey) -> ModelRecord | None:
        rows = self.database.query(select(models).where(_key(models, key)))
        return _record(rows[0]) if rows else None

    def latest(self, account: str, region: str, project: str) -> ModelRecord | None:
        rows = self.database.query(
            select(models)
            .where(_of_project(models, account, region, project))
            .order_by(models.c.version.desc())
            .limit(1)
        )
        return _record(rows[0]) if rows else None

    def list_after(
        self, account: str, region: str, project: str, after: int | None, limit: int
    ) -> list[ModelRecord]:
        rows = self.database.query(
            select(models)
            .where(_of_project(models, account, region, project), models.c.version > (after or 0))
            .order_by(models.c.version)
            .limit(limit)
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
            row = connection.execute(select(models).where(_key(models, key)).with_for_update()).first()
            if row is None:
                return None, None
            before = _record(row)
            if allowed is not None and before.status not in set(allowed):
                return before, None
            after = replace(before, **changes)
            connection.execute(models.update().where(_key(models, key)).values(_values(after)))
            return before, after

    def remove_row(self, key: ModelKey) -> bool:
        with self.database.transaction() as connection:
            return (
                connection.execute(
                    models.delete().where(_key(models, key)).returning(models.c.version)
                ).first()
                is not None
            )

    def tags(self, key: ModelKey) -> dict[str, str]:
        rows = self.database.query(
            select(model_tags.c.key, model_tags.c.value)
            .where(_key(model_tags, key))
            .order_by(model_tags.c.key)
        )
        return {tag_key: value for tag_key, value in rows}

    def change_tags(
        self, key: ModelKey, add: dict[str, str], remove: Iterable[str] = (), limit: int | None = None
    ) -> bool | None:
        """Add or overwrite, and remove tags in one transaction.

        None if the model is gone; False (and no change) if the result would exceed `limit` tags.
        """
        with self.database.transaction() as connection:
            # The model's row lock serialises tag changes, so two of them cannot pass the limit together.
            found = connection.execute(select(models.c.version).where(_key(models, key)).with_for_update())
            if found.first() is None:
                return None
            existing = set(
                connection.execute(select(model_tags.c.key).where(_key(model_tags, key))).scalars()
            )
            if limit is not None and len((existing - set(remove)) | set(add)) > limit:
                return False
            if remove:
                connection.execute(
                    model_tags.delete().where(_key(model_tags, key), model_tags.c.key.in_(list(remove)))
                )
            if add:
                statement = dialect_insert(connection, model_tags)
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=["account", "region", "project", "version", "key"],
                        set_={"value": statement.excluded.value},
                    ),
                    [{**_key_values(key), "key": tag_key, "value": value} for tag_key, value in add.items()],
                )
            return True


def _key_values(key: ModelKey) -> dict[str, Any]:
    return {"account": key.account, "region": key.region, "project": key.project, "version": key.version}


def _insert(connection: Connection, record: ModelRecord) -> None:
    connection.execute(models.insert().values(**_key_values(record.key), **_values(record)))


def _values(record: ModelRecord) -> dict[str, Any]:
    performance = record.performance
    scores = (performance.f1_score, performance.recall, performance.precision) if performance else (None,) * 3
    return {
        **{name: getattr(record, name) for name in _PLAIN},
        **dict(zip(("f1_score", "recall", "precision_score"), scores, strict=True)),
    }


def _record(row: Row) -> ModelRecord:
    found = row._mapping
    performance = None
    if found["f1_score"] is not None:
        performance = Performance(found["f1_score"], found["recall"], found["precision_score"])
    return ModelRecord(
        key=ModelKey(found["account"], found["region"], found["project"], found["version"]),
        performance=performance,
        **{name: found[name] for name in _PLAIN},
    )
