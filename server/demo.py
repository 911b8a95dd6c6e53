"""`serve --demo`: project `demo` with the shipped classification (version 1) and segmentation (version 2)
models hosted, so DetectAnomalies answers right away."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from server.backend import statuses
from server.backend.assembly import Backend
from server.backend.model_imports import ImportOptions, find_bundle_files, import_model
from server.backend.scope import Scope

PROJECT = "demo"
BUNDLES = ("classification", "segmentation")


class DemoBundlesMissing(FileNotFoundError):
    """The demo bundles are not where they were looked for."""


def demo_dir(configured: str | Path = "") -> Path:
    """The folder holding the demo bundles: `configured` (the demo_dir setting) or the package data that
    every install of the `server` package carries (server/demo_models/, built by models/make_demo.py)."""
    folder = (
        Path(configured).expanduser() if configured else Path(str(resources.files("server") / "demo_models"))
    )
    missing = [name for name in BUNDLES if not (folder / name / "model.onnx").is_file()]
    if missing:
        where = (
            "the demo_dir setting"
            if configured
            else "the installed package (reinstall lookoutvision-emulator)"
        )
        raise DemoBundlesMissing(
            f"the demo bundles {' and '.join(missing)} are not in {folder}: check {where}"
        )
    return folder


def install_demo(
    backend: Backend, scope: Scope, wait_seconds: float = 60.0, folder: Path | None = None
) -> None:
    """Import the demo models once per data directory, host them, and wait until they are HOSTED."""
    folder = folder or demo_dir()
    existing = {record.key.version for record in backend.models.table.list_after(scope.account, scope.region,
                                                                                  PROJECT, None, 100)}  # fmt: skip
    if not existing:
        for name in BUNDLES:
            options = ImportOptions(description=f"demo-{name}")
            import_model(backend, scope, PROJECT, *find_bundle_files(folder / name), options)
    for record in backend.models.table.list_after(scope.account, scope.region, PROJECT, None, 100):
        if record.status in statuses.STARTABLE:
            backend.hosting.start(scope, PROJECT, str(record.key.version), 1, None)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        records = backend.models.table.list_after(scope.account, scope.region, PROJECT, None, 100)
        if all(record.status not in (statuses.STARTING_HOSTING,) for record in records):
            return
        time.sleep(0.01)
