"""Datasets: created empty or from a manifest, updated by JSON lines, imported in the background.

Import: CREATE_IN_PROGRESS -> CREATE_COMPLETE | CREATE_FAILED (the message names the first bad line).
Update: UPDATE_IN_PROGRESS -> UPDATE_COMPLETE | UPDATE_FAILED_ROLLBACK_IN_PROGRESS ->
UPDATE_FAILED_ROLLBACK_COMPLETE. Entries are written in one transaction at the end, so a failed import or
update leaves the entries that were there before. Images and masks are copied into the data directory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.backend.projects import Projects
from server.backend.scope import Scope
from server.backend.timing import Settle, Timing
from server.datasets.checks import check_image, check_mask
from server.datasets.manifest import ManifestError, ManifestLine, parse_manifest
from server.datasets.sources import SourceError, Sources
from server.spec.errors import DATASET, conflict, not_found
from server.store.blobs import Blobs
from server.store.datasets import DatasetRecord, DatasetTable, Entry, EntryFilter, ImageCounts

log = logging.getLogger(__name__)

CREATE_IN_PROGRESS, CREATE_COMPLETE, CREATE_FAILED = "CREATE_IN_PROGRESS", "CREATE_COMPLETE", "CREATE_FAILED"
UPDATE_IN_PROGRESS, UPDATE_COMPLETE = "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"
ROLLBACK_IN_PROGRESS = "UPDATE_FAILED_ROLLBACK_IN_PROGRESS"
ROLLBACK_COMPLETE = "UPDATE_FAILED_ROLLBACK_COMPLETE"
USABLE = (CREATE_COMPLETE, UPDATE_COMPLETE, ROLLBACK_COMPLETE)
BUSY = (CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS, ROLLBACK_IN_PROGRESS)
MAX_IMAGES = {"train": 16_000, "test": 4_000}
CREATED_MESSAGE = "The dataset was created successfully."

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class ManifestObject:
    """Where a dataset's Ground Truth manifest lies in S3 (CreateDataset's DatasetSource)."""

    bucket: str
    key: str
    version: str | None = None


class Datasets:
    def __init__(
        self,
        table: DatasetTable,
        projects: Projects,
        blobs: Blobs,
        sources: Callable[[str], Sources],
        timing: Timing,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.projects = projects
        self.blobs = blobs
        self.sources = sources  # region -> Sources
        self.timing = timing
        self.clock = clock

    def create(
        self, scope: Scope, project: str, dataset_type: str, manifest: ManifestObject | None = None
    ) -> DatasetRecord:
        self.projects.get(scope, project)
        now = self._now()
        # Without a manifest the dataset is created empty, at once.
        status, message = CREATE_COMPLETE, CREATED_MESSAGE
        if manifest:
            status, message = CREATE_IN_PROGRESS, "The dataset is being created."
        record = DatasetRecord(scope.account, scope.region, project, dataset_type, now, now, status, message)
        if not self.table.insert(record):
            raise conflict(DATASET, dataset_type, f"Project {project} already has a {dataset_type} dataset")
        if manifest:
            self.timing.launch(
                "dataset_import", lambda settle: self._create(record.key, manifest, settle), lease=record.key
            )
        return record

    def get(self, scope: Scope, project: str, dataset_type: str) -> DatasetRecord:
        self.projects.get(scope, project)
        record = self.table.get((scope.account, scope.region, project, dataset_type))
        if record is None:
            raise not_found(DATASET, dataset_type, f"Project {project} has no {dataset_type} dataset")
        return record

    def stats(self, record: DatasetRecord) -> ImageCounts:
        return self.table.stats(record.key)

    def for_project(self, scope: Scope, project: str) -> list[DatasetRecord]:
        return self.table.for_project(scope.account, scope.region, project)

    def delete(self, scope: Scope, project: str, dataset_type: str) -> None:
        record = self.get(scope, project, dataset_type)
        status = self.table.delete(record.key, allowed=(*USABLE, CREATE_FAILED))
        if status is None:
            raise not_found(DATASET, dataset_type, f"Project {project} has no {dataset_type} dataset")
        if status in BUSY:
            raise conflict(
                DATASET, dataset_type, f"The {dataset_type} dataset is {status}; wait until it is done"
            )

    def entries(
        self, scope: Scope, project: str, dataset_type: str, after: int | None, limit: int, where: EntryFilter
    ) -> list[Entry]:
        record = self.get(scope, project, dataset_type)
        return self.table.entries_after(record.key, after, limit, where)

    def update(self, scope: Scope, project: str, dataset_type: str, changes: bytes) -> str:
        record = self.get(scope, project, dataset_type)
        if not self.table.transition(record.key, USABLE, UPDATE_IN_PROGRESS, "The dataset is being updated.",
                                     self._now()):  # fmt: skip
            current = self.table.get(record.key)
            state = current.status if current else "deleted"
            raise conflict(
                DATASET, dataset_type, f"The {dataset_type} dataset is {state}; it cannot be updated now"
            )
        self.timing.launch(
            "dataset_import", lambda settle: self._update(record.key, changes, settle), lease=record.key
        )
        return UPDATE_IN_PROGRESS

    def recover(self) -> None:
        """After a restart nothing stays in progress: imports fail, updates roll back (entries were kept)."""
        now = self._now()
        for record in self.table.with_status((CREATE_IN_PROGRESS,)):
            self.table.transition(record.key, None, CREATE_FAILED,
                                  "The server restarted during the import; delete the dataset and create it again.",
                                  now)  # fmt: skip
        for record in self.table.with_status((UPDATE_IN_PROGRESS, ROLLBACK_IN_PROGRESS)):
            self.table.transition(record.key, None, ROLLBACK_COMPLETE,
                                  "The server restarted during the update; the previous entries were kept.",
                                  now)  # fmt: skip

    def lost(self, key: Key, why: str) -> None:
        """The replica importing into this dataset is gone: the import fails, an update rolls back."""
        now = self._now()
        self.table.transition(key, (CREATE_IN_PROGRESS,), CREATE_FAILED,
                              f"{why} during the import; delete the dataset and create it again.", now)  # fmt: skip
        self.table.transition(key, (UPDATE_IN_PROGRESS, ROLLBACK_IN_PROGRESS), ROLLBACK_COMPLETE,
                              f"{why} during the update; the previous entries were kept.", now)  # fmt: skip

    def in_progress(self) -> set[Key]:
        return {record.key for record in self.table.with_status(BUSY)}

    # Background work

    def _create(self, key: Key, manifest: ManifestObject, settle: Settle) -> None:
        try:
            sources = self.sources(key[1])
            content = sources.manifest(manifest.bucket, manifest.key, manifest.version)
            entries = self._entries(key, parse_manifest(content), sources, replacing=False)
        except (ManifestError, SourceError) as error:
            settle()
            self.table.transition(key, (CREATE_IN_PROGRESS,), CREATE_FAILED, _message(error), self._now())
            return
        except Exception as error:
            log.exception("dataset import %s failed", key)
            settle()
            self.table.transition(key, (CREATE_IN_PROGRESS,), CREATE_FAILED, f"Internal error: {error}"[:1000],
                                  self._now())  # fmt: skip
            return
        settle()
        self.table.transition(
            key, (CREATE_IN_PROGRESS,), CREATE_COMPLETE, CREATED_MESSAGE, self._now(), entries
        )

    def _update(self, key: Key, changes: bytes, settle: Settle) -> None:
        try:
            entries = self._entries(key, parse_manifest(changes), self.sources(key[1]), replacing=True)
        except Exception as error:
            if not isinstance(error, (ManifestError, SourceError)):
                log.exception("dataset update %s failed", key)
            settle()
            self.table.transition(
                key, (UPDATE_IN_PROGRESS,), ROLLBACK_IN_PROGRESS, _message(error), self._now()
            )
            self.table.transition(
                key, (ROLLBACK_IN_PROGRESS,), ROLLBACK_COMPLETE, _message(error), self._now()
            )
            return
        settle()
        self.table.transition(key, (UPDATE_IN_PROGRESS,), UPDATE_COMPLETE, "The dataset was updated successfully.",
                              self._now(), entries)  # fmt: skip

    def _entries(self, key: Key, lines: list[ManifestLine], sources: Sources, replacing: bool) -> list[Entry]:
        account, region, project, dataset_type = key
        existing = self.table.source_refs(key) if replacing else set()
        total = len(existing | {line.source_ref for line in lines})
        if total > MAX_IMAGES[dataset_type]:
            raise ManifestError(
                f"{total} images; a {dataset_type} dataset holds at most {MAX_IMAGES[dataset_type]}"
            )
        size = self.table.image_size(account, region, project)
        now = self._now()
        entries = []
        for line in lines:
            where = f"Line {line.number} ({line.source_ref})"
            content = sources.read(line.source_ref)
            width, height = check_image(content, where)
            if size is None:
                size = (width, height)
            elif (width, height) != size:
                raise ManifestError(
                    f"{where}: the image is {width}x{height}, but the project's images are {size[0]}x{size[1]}"
                )
            mask = None
            if line.mask_ref is not None:
                mask_content = sources.read(line.mask_ref)
                check_mask(mask_content, size, line.classes, f"Line {line.number} ({line.mask_ref})")
                mask = self.blobs.put(mask_content)
            entries.append(Entry(
                source_ref=line.source_ref, line=line.normalised(), label=line.label,
                created=line.created if line.created is not None else now, image=self.blobs.put(content),
                width=width, height=height, mask=mask,
            ))  # fmt: skip
        return entries

    def _now(self) -> float:
        return round(self.clock(), 3)


def _message(error: Exception) -> str:
    return str(error)[:1000]
