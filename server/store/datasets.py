"""Dataset rows and their entries (one JSON line per image)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Row, and_, func, select

from server.store.database import Database, dialect_insert
from server.store.database import inserted as _inserted
from server.store.schema import dataset_entries, datasets


@dataclass(frozen=True)
class DatasetRecord:
    account: str
    region: str
    project: str
    dataset_type: str
    created: float
    updated: float
    status: str
    status_message: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.account, self.region, self.project, self.dataset_type)


@dataclass(frozen=True)
class Entry:
    source_ref: str
    line: str  # the JSON line, as ListDatasetEntries returns it
    label: str | None  # normal, anomaly, or None (unlabeled)
    created: float
    image: str  # blob digest
    width: int
    height: int
    mask: str | None = None
    seq: int = 0


@dataclass(frozen=True)
class EntryFilter:
    labeled: bool | None = None
    anomaly_class: str | None = None
    created_before: float | None = None
    created_after: float | None = None
    source_ref_contains: str | None = None


@dataclass(frozen=True)
class ImageCounts:
    total: int
    normal: int
    anomaly: int  # unlabelled images are total - normal - anomaly


DatasetKey = tuple[str, str, str, str]  # account, region, project, dataset_type


def _key(table, key: DatasetKey):
    columns = table.c
    return and_(
        columns.account == key[0], columns.region == key[1], columns.project == key[2],
        columns.dataset_type == key[3],
    )  # fmt: skip


class DatasetTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, record: DatasetRecord) -> bool:
        with self.database.transaction() as connection:
            statement = dialect_insert(connection, datasets).values(
                account=record.account, region=record.region, project=record.project,
                dataset_type=record.dataset_type, created=record.created, updated=record.updated,
                status=record.status, status_message=record.status_message,
            )  # fmt: skip
            return _inserted(connection, statement)

    def get(self, key: DatasetKey) -> DatasetRecord | None:
        rows = self.database.query(select(datasets).where(_key(datasets, key)))
        return _dataset(rows[0]) if rows else None

    def for_project(self, account: str, region: str, project: str) -> list[DatasetRecord]:
        columns = datasets.c
        rows = self.database.query(
            select(datasets)
            .where(columns.account == account, columns.region == region, columns.project == project)
            .order_by(columns.dataset_type.desc())
        )
        return [_dataset(row) for row in rows]

    def transition(
        self, key: DatasetKey, allowed: Iterable[str] | None, status: str, message: str | None,
        updated: float, entries: Sequence[Entry] | None = None,
    ) -> bool:  # fmt: skip
        """Change the status if it is in `allowed` (None: any); with `entries`, add or replace those entries
        (by source-ref) in the same transaction, so a dataset never shows half an update."""
        with self.database.transaction() as connection:
            current = connection.execute(
                select(datasets.c.status).where(_key(datasets, key)).with_for_update()
            ).scalar()
            if current is None or (allowed is not None and current not in set(allowed)):
                return False
            connection.execute(
                datasets.update()
                .where(_key(datasets, key))
                .values(status=status, status_message=message, updated=updated)
            )
            if entries:
                _upsert(connection, key, entries)
            return True

    def delete(self, key: DatasetKey, allowed: Iterable[str]) -> str | None:
        """Delete the dataset and its entries if its status allows; returns the status it had (None: gone)."""
        with self.database.transaction() as connection:
            current = connection.execute(
                select(datasets.c.status).where(_key(datasets, key)).with_for_update()
            ).scalar()
            if current is None:
                return None
            if current in set(allowed):
                connection.execute(dataset_entries.delete().where(_key(dataset_entries, key)))
                connection.execute(datasets.delete().where(_key(datasets, key)))
            return current

    def with_status(self, statuses: Iterable[str]) -> list[DatasetRecord]:
        return [_dataset(row) for row in self.database.with_status("datasets", statuses)]

    # Entries

    def stats(self, key: DatasetKey) -> ImageCounts:
        label = dataset_entries.c.label
        rows = self.database.query(
            select(label, func.count()).where(_key(dataset_entries, key)).group_by(label)
        )
        counts = {found: number for found, number in rows}
        return ImageCounts(sum(counts.values()), counts.get("normal", 0), counts.get("anomaly", 0))

    def entries_after(
        self,
        key: DatasetKey,
        after: int | None,
        limit: int,
        where: EntryFilter = EntryFilter(),
    ) -> list[Entry]:
        columns = dataset_entries.c
        clauses = [_key(dataset_entries, key), columns.seq > (after or 0)]
        if where.labeled is not None:
            clauses.append(columns.label.is_not(None) if where.labeled else columns.label.is_(None))
        if where.anomaly_class is not None:
            clauses.append(columns.label == where.anomaly_class)
        if where.created_before is not None:
            clauses.append(columns.created < where.created_before)
        if where.created_after is not None:
            clauses.append(columns.created > where.created_after)
        if where.source_ref_contains is not None:
            # A plain, case-sensitive substring test (LIKE would treat % and _ as patterns).
            find = func.strpos if self.database.dialect == "postgresql" else func.instr
            clauses.append(find(columns.source_ref, where.source_ref_contains) > 0)
        rows = self.database.query(select(dataset_entries).where(*clauses).order_by(columns.seq).limit(limit))
        return [_entry(row) for row in rows]

    def source_refs(self, key: DatasetKey) -> set[str]:
        rows = self.database.query(select(dataset_entries.c.source_ref).where(_key(dataset_entries, key)))
        return {row[0] for row in rows}

    def image_size(self, account: str, region: str, project: str) -> tuple[int, int] | None:
        """The size of the project's images, from any of its datasets (all must share it)."""
        columns = dataset_entries.c
        rows = self.database.query(
            select(columns.width, columns.height)
            .where(columns.account == account, columns.region == region, columns.project == project)
            .limit(1)
        )
        return (rows[0][0], rows[0][1]) if rows else None


def _upsert(connection: Connection, key: DatasetKey, entries: Sequence[Entry]) -> None:
    columns = dataset_entries.c
    last = connection.execute(
        select(func.coalesce(func.max(columns.seq), 0)).where(_key(dataset_entries, key))
    ).scalar_one()
    # A replaced entry keeps its place in the listing.
    wanted = [entry.source_ref for entry in entries]
    existing: dict[str, int] = {}
    for start in range(0, len(wanted), 500):  # bounded: SQLite limits the parameters of one statement
        existing.update(
            connection.execute(
                select(columns.source_ref, columns.seq).where(
                    _key(dataset_entries, key), columns.source_ref.in_(wanted[start : start + 500])
                )
            ).all()
        )
    rows: dict[str, dict] = {}  # by source-ref: a later line for the same image wins
    for offset, entry in enumerate(entries, start=1):
        rows[entry.source_ref] = {
            "account": key[0], "region": key[1], "project": key[2], "dataset_type": key[3],
            "seq": existing.get(entry.source_ref, last + offset), "source_ref": entry.source_ref,
            "line": entry.line, "label": entry.label, "created": entry.created, "image": entry.image,
            "width": entry.width, "height": entry.height, "mask": entry.mask,
        }  # fmt: skip
    statement = dialect_insert(connection, dataset_entries)
    changed = {name: statement.excluded[name] for name in ("seq", "line", "label", "created", "image",
                                                           "width", "height", "mask")}  # fmt: skip
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["account", "region", "project", "dataset_type", "source_ref"], set_=changed
        ),
        list(rows.values()),
    )


def _dataset(row: Row) -> DatasetRecord:
    found = row._mapping
    return DatasetRecord(
        account=found["account"],
        region=found["region"],
        project=found["project"],
        dataset_type=found["dataset_type"],
        created=found["created"],
        updated=found["updated"],
        status=found["status"],
        status_message=found["status_message"],
    )


def _entry(row: Row) -> Entry:
    found = row._mapping
    return Entry(
        source_ref=found["source_ref"],
        line=found["line"],
        label=found["label"],
        created=found["created"],
        image=found["image"],
        width=found["width"],
        height=found["height"],
        mask=found["mask"],
        seq=found["seq"],
    )
