"""`serve --demo`: project `demo` with the shipped classification (version 1) and segmentation (version 2)
models hosted, so DetectAnomalies answers right away."""

from __future__ import annotations

import os
import time
from pathlib import Path

from server.backend import statuses
from server.backend.assembly import Backend
from server.backend.model_imports import ImportOptions, find_bundle_files, import_model
from server.backend.scope import Scope

PROJECT = "demo"
BUNDLES = ("classification", "segmentation")
DEMO_DIR_VARIABLE = "LOOKOUTVISION_EMULATOR_DEMO_DIR"


def demo_dir() -> Path:
    configured = os.environ.get(DEMO_DIR_VARIABLE)
    folder = Path(configured) if configured else Path(__file__).resolve().parents[1] / "models" / "demo"
    if not all((folder / name).is_dir() for name in BUNDLES):
        raise FileNotFoundError(
            f"the demo bundles are not in {folder}: run from a source checkout (pip install -e .) "
            f"or set {DEMO_DIR_VARIABLE} to a folder holding {' and '.join(BUNDLES)}/"
        )
    return folder


def install_demo(backend: Backend, scope: Scope, wait_seconds: float = 60.0) -> None:
    """Import the demo models once per data directory, host them, and wait until they are HOSTED."""
    folder = demo_dir()
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
