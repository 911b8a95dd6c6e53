"""Model bundle folders in the data directory: models/<account>/<region>/<project>/<version>/."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

from server.store.models import ModelKey
from server.store.paths import check_parts, inside

STAGING_PREFIX = ".staging-"  # a bundle being written; one left at start-up was cut off by a crash


class ModelFiles:
    def __init__(self, root: Path) -> None:
        self.root = root / "models"

    def folder(self, key: ModelKey) -> Path:
        """Checked even though requests were validated: a key also comes from the emulator's own
        endpoints, the CLI and the database, and a bad one must never reach rmtree."""
        check_parts(key.account, key.region, key.project, key.version)
        return inside(self.root, self.root / key.account / key.region / key.project / str(key.version))

    def write(self, key: ModelKey, contents: dict[str, Path | bytes]) -> Path:
        """Write the bundle's files (a file copied, or bytes), then move the folder into place in one rename.
        What the files are is the bundle format's business (server/inference/bundle.py), not the store's."""
        target = self.folder(key)
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
            if target.exists():  # left behind by a crash between rename and commit
                shutil.rmtree(target)
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def remove(self, key: ModelKey) -> None:
        shutil.rmtree(self.folder(key), ignore_errors=True)  # folder() refused anything outside

    def wipe(self) -> None:
        discard_folder(self.root)

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
