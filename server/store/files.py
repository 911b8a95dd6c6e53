"""Model bundle folders in the data directory: models/<account>/<region>/<project>/<version>/."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

from server.store.models import ModelKey
from server.store.paths import check_parts, inside
from server.store.remote import RemoteFiles

STAGING_PREFIX = ".staging-"  # a bundle being written; one left at start-up was cut off by a crash


class ModelFiles:
    def __init__(self, root: Path, remote: RemoteFiles | None = None, cache_limit: int = 16) -> None:
        """With `remote` (S3 storage) bundles are written there too, and this folder is a cache of at
        most `cache_limit` bundles, fetched when used (the least recently used one goes first)."""
        self.root = root / "models"
        self.remote = remote
        self.cache_limit = cache_limit
        self._fetching = threading.Lock()

    def folder(self, key: ModelKey) -> Path:
        """The bundle's folder here (fetched first with S3 storage)."""
        local = self._local(key)
        if self.remote is None:
            return local
        with self._fetching:
            if not local.exists():
                self._fetch(key, local)
                self._evict(besides=local)
            os.utime(local)  # most recently used
        return local

    def _local(self, key: ModelKey) -> Path:
        """Checked even though requests were validated: a key also comes from the emulator's own
        endpoints, the CLI and the database, and a bad one must never reach rmtree."""
        check_parts(key.account, key.region, key.project, key.version)
        return inside(self.root, self.root / key.account / key.region / key.project / str(key.version))

    def _remote_folder(self, key: ModelKey) -> str:
        return f"models/{key.account}/{key.region}/{key.project}/{key.version}"

    def _fetch(self, key: ModelKey, target: Path) -> None:
        assert self.remote is not None
        names = self.remote.names(self._remote_folder(key))
        if not names:
            raise FileNotFoundError(
                f"the bundle of {key.project} version {key.version} is not in the storage"
            )
        staging = target.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        try:
            for name in names:
                self.remote.fetch(f"{self._remote_folder(key)}/{name}", staging / name)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _evict(self, besides: Path) -> None:
        cached = [path for path in self.root.glob("*/*/*/*") if path.is_dir() and path.name.isdigit()]
        cached.sort(key=lambda path: path.stat().st_mtime)
        for path in cached[: max(0, len(cached) - self.cache_limit)]:
            if path != besides:
                shutil.rmtree(path, ignore_errors=True)

    def write(self, key: ModelKey, contents: dict[str, Path | bytes]) -> Path:
        """Write the bundle's files (a file copied, or bytes), then move the folder into place in one rename.
        What the files are is the bundle format's business (server/inference/bundle.py), not the store's."""
        target = self._local(key)
        staging = target.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            for name, content in contents.items():
                if Path(name).name != name or name in ("", ".", ".."):
                    raise ValueError(f"{name!r} is not a file name")
                if isinstance(content, Path):
                    shutil.copyfile(content, staging / name)
                else:
                    (staging / name).write_bytes(content)
                with open(staging / name, "rb") as handle:
                    os.fsync(handle.fileno())
            if self.remote is not None:  # shared before it is visible: another replica may host it next
                for name in contents:
                    self.remote.put(f"{self._remote_folder(key)}/{name}", (staging / name).read_bytes())
            if target.exists():  # left behind by a crash between rename and commit
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def remove(self, key: ModelKey) -> None:
        shutil.rmtree(self._local(key), ignore_errors=True)  # _local() refused anything outside
        if self.remote is not None:
            self.remote.delete_folder(self._remote_folder(key))

    def wipe(self) -> None:
        discard_folder(self.root)
        if self.remote is not None:
            self.remote.delete_folder("models")

    def remove_staging(self) -> None:
        """Bundles whose writing a crash cut off (models/<account>/<region>/<project>/.staging-*)."""
        for staging in self.root.glob(f"*/*/*/{STAGING_PREFIX}*"):
            shutil.rmtree(staging, ignore_errors=True)

    def remove_leftovers(self) -> None:
        """Delete what a wipe interrupted by a crash left behind."""
        for trash in self.root.parent.glob(".trash-*"):
            shutil.rmtree(trash, ignore_errors=True)


def discard_folder(folder: Path) -> None:
    """Empty at once: the folder is renamed aside (one rename) and deleted in the background."""
    if folder.exists():
        trash = folder.parent / f".trash-{uuid.uuid4().hex}"
        os.replace(folder, trash)
        threading.Thread(
            target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True}, daemon=True
        ).start()
