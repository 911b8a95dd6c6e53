"""Model bundle folders in the data directory: models/<account>/<region>/<project>/<version>/."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from server.inference.bundle import DESCRIPTION_FILE, MODEL_FILE
from server.store.models import ModelKey


class ModelFiles:
    def __init__(self, root: Path) -> None:
        self.root = root / "models"

    def folder(self, key: ModelKey) -> Path:
        # Every part was validated by the service model's patterns (or is our own number), so none
        # can climb out of the root.
        return self.root / key.account / key.region / key.project / str(key.version)

    def write(self, key: ModelKey, model: Path, description: dict[str, Any]) -> Path:
        """Copy the graph and write the description, then move the folder into place in one rename."""
        target = self.folder(key)
        staging = target.parent / f".staging-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            shutil.copyfile(model, staging / MODEL_FILE)
            (staging / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2), encoding="utf-8")
            for name in (MODEL_FILE, DESCRIPTION_FILE):
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
        shutil.rmtree(self.folder(key), ignore_errors=True)

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
