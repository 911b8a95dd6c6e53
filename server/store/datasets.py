"""Dataset rows and their entries (one JSON line per image)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from server.store.database import Database


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


_KEY = "account = ? AND region = ? AND project = ? AND dataset_type = ?"


class DatasetTable:
    def __init__(self, database: Database) -> None:
        self.database = database

    def insert(self, record: DatasetRecord) -> bool:
        with self.database.transaction() as connection:
            cursor = connection.execute(
                "INSERT OR IGNORE INTO datasets (account, region, project, dataset_type, created, updated, status, "
                "status_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*record.key, record.created, record.updated, record.status, record.status_message),
            )
            return cursor.rowcount == 1

    def get(self, key: tuple[str, str, str, str]) -> DatasetRecord | None:
        rows = self.database.query(f"SELECT * FROM datasets WHERE {_KEY}", key)
        return _dataset(rows[0]) if rows else None

    def for_project(self, account: str, region: str, project: str) -> list[DatasetRecord]:
        rows = self.database.query(
            "SELECT * FROM datasets WHERE account = ? AND region = ? AND project = ? ORDER BY dataset_type DESC",
            (account, region, project),
        )
        return [_dataset(row) for row in rows]

    def transition(
        self, key: tuple[str, str, str, str], allowed: Iterable[str] | None, status: str, message: str | None,
        updated: float, entries: Sequence[Entry] | None = None,
    ) -> bool:  # fmt: skip
        """Change the status if it is in `allowed` (None: any); with `entries`, add or replace those entries
        (by source-ref) in the same transaction, so a dataset never shows half an update."""
        with self.database.transaction() as connection:
            row = connection.execute(f"SELECT status FROM datasets WHERE {_KEY}", key).fetchone()
            if row is None or (allowed is not None and row["status"] not in set(allowed)):
                return False
            connection.execute(
                f"UPDATE datasets SET status = ?, status_message = ?, updated = ? WHERE {_KEY}",
                (status, message, updated, *key),
            )
            if entries:
                _upsert(connection, key, entries)
            return True

    def delete(self, key: tuple[str, str, str, str], allowed: Iterable[str]) -> str | None:
        """Delete the dataset and its entries if its status allows; returns the status it had (None: gone)."""
        with self.database.transaction() as connection:
            row = connection.execute(f"SELECT status FROM datasets WHERE {_KEY}", key).fetchone()
            if row is None:
                return None
            if row["status"] in set(allowed):
                connection.execute(f"DELETE FROM dataset_entries WHERE {_KEY}", key)
                connection.execute(f"DELETE FROM datasets WHERE {_KEY}", key)
            return row["status"]

    def with_status(self, statuses: Iterable[str]) -> list[DatasetRecord]:
        return [_dataset(row) for row in self.database.with_status("datasets", statuses)]

    # Entries

    def stats(self, key: tuple[str, str, str, str]) -> ImageCounts:
        rows = self.database.query(
            f"SELECT label, COUNT(*) AS n FROM dataset_entries WHERE {_KEY} GROUP BY label", key
        )
        counts = {row["label"]: row["n"] for row in rows}
        return ImageCounts(sum(counts.values()), counts.get("normal", 0), counts.get("anomaly", 0))

    def entries_after(
        self,
        key: tuple[str, str, str, str],
        after: int | None,
        limit: int,
        where: EntryFilter = EntryFilter(),
    ) -> list[Entry]:
        clauses, values = [f"{_KEY}", "seq > ?"], [*key, after or 0]
        if where.labeled is not None:
            clauses.append("label IS NOT NULL" if where.labeled else "label IS NULL")
        if where.anomaly_class is not None:
            clauses.append("label = ?")
            values.append(where.anomaly_class)
        if where.created_before is not None:
            clauses.append("created < ?")
            values.append(where.created_before)
        if where.created_after is not None:
            clauses.append("created > ?")
            values.append(where.created_after)
        if where.source_ref_contains is not None:
            clauses.append("instr(source_ref, ?) > 0")
            values.append(where.source_ref_contains)
        rows = self.database.query(
            f"SELECT * FROM dataset_entries WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (*values, limit),
        )
        return [_entry(row) for row in rows]

    def source_refs(self, key: tuple[str, str, str, str]) -> set[str]:
        rows = self.database.query(f"SELECT source_ref FROM dataset_entries WHERE {_KEY}", key)
        return {row["source_ref"] for row in rows}

    def image_size(self, account: str, region: str, project: str) -> tuple[int, int] | None:
        """The size of the project's images, from any of its datasets (all must share it)."""
        rows = self.database.query(
            "SELECT width, height FROM dataset_entries WHERE account = ? AND region = ? AND project = ? LIMIT 1",
            (account, region, project),
        )
        return (rows[0]["width"], rows[0]["height"]) if rows else None


def _upsert(connection: sqlite3.Connection, key: tuple[str, str, str, str], entries: Sequence[Entry]) -> None:
    last = connection.execute(
        f"SELECT COALESCE(MAX(seq), 0) FROM dataset_entries WHERE {_KEY}", key
    ).fetchone()[0]
    for offset, entry in enumerate(entries, start=1):
        # A replaced entry keeps its place in the listing.
        existing = connection.execute(
            f"SELECT seq FROM dataset_entries WHERE {_KEY} AND source_ref = ?", (*key, entry.source_ref)
        ).fetchone()
        seq = existing["seq"] if existing else last + offset
        connection.execute(
            "INSERT OR REPLACE INTO dataset_entries (account, region, project, dataset_type, seq, source_ref, line, "
            "label, created, image, width, height, mask) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, seq, entry.source_ref, entry.line, entry.label, entry.created, entry.image, entry.width,
             entry.height, entry.mask),
        )  # fmt: skip


def _dataset(row: sqlite3.Row) -> DatasetRecord:
    return DatasetRecord(
        account=row["account"],
        region=row["region"],
        project=row["project"],
        dataset_type=row["dataset_type"],
        created=row["created"],
        updated=row["updated"],
        status=row["status"],
        status_message=row["status_message"],
    )


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        source_ref=row["source_ref"],
        line=row["line"],
        label=row["label"],
        created=row["created"],
        image=row["image"],
        width=row["width"],
        height=row["height"],
        mask=row["mask"],
        seq=row["seq"],
    )
