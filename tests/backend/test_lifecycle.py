"""The model-version lifecycle: one writer, named transitions, typed records (in-process, no server)."""

from __future__ import annotations

import ast
import json
import sqlite3
from pathlib import Path

import pytest

from server.backend import statuses
from server.backend.assembly import Backend
from server.backend.lifecycle import Evaluation, OutputLocation
from server.backend.scope import Scope
from server.inference.bundle import read_bundle
from server.spec.errors import ServiceError
from server.store.database import DATABASE_FILE, Database
from server.store.migrations import HEAD_REVISION, MIGRATIONS
from server.store.models import Performance
from tests.backend.conftest import FakeClock
from tests.support.onnx_models import classifier_bundle

SERVER = Path(__file__).resolve().parents[2] / "server"
WRITERS = {"insert_next", "write_transition", "remove_row"}  # ModelTable's methods that change a version


def test_only_the_lifecycle_writes_model_versions() -> None:
    callers = set()
    for path in SERVER.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in WRITERS:
                callers.add(path.relative_to(SERVER).as_posix())
    assert callers == {"backend/lifecycle.py"}


def _import(backend: Backend, scope: Scope, tmp_path: Path, performance: Performance | None = None):
    folder = classifier_bundle(tmp_path / "bundle")
    folder.mkdir(exist_ok=True)
    return backend.models.add(scope, "parts", folder / "model.onnx", read_bundle(folder), "v", performance)


def test_import_start_stop_delete(backend: Backend, scope: Scope, clock: FakeClock, tmp_path: Path) -> None:
    (tmp_path / "bundle").mkdir()
    backend.projects.create(scope, "parts")
    clock.advance(5)
    record = _import(backend, scope, tmp_path)
    assert (record.status, record.status_message) == (statuses.TRAINED, statuses.IMPORTED_MESSAGE)
    assert record.created == round(clock.now, 3) and record.task == "classification"
    assert record.performance is None and record.output_bucket is None

    assert backend.hosting.start(scope, "parts", "1", 1, None) == statuses.STARTING_HOSTING
    hosted = backend.models.get(scope, "parts", "1")
    assert (hosted.status, hosted.min_units) == (statuses.HOSTED, 1)  # fixture timing: at once
    with pytest.raises(ServiceError) as refused:
        backend.models.delete(scope, "parts", "1")
    assert refused.value.code == "ConflictException" and "HOSTED" in refused.value.message
    with pytest.raises(ServiceError) as again:
        backend.hosting.start(scope, "parts", "1", 1, None)
    assert again.value.code == "ConflictException"

    backend.hosting.stop(scope, "parts", "1")
    stopped = backend.models.get(scope, "parts", "1")
    assert (stopped.status, stopped.status_message) == (statuses.TRAINED, statuses.STOPPED_MESSAGE)
    backend.models.delete(scope, "parts", "1")
    with pytest.raises(ServiceError) as gone:
        backend.models.get(scope, "parts", "1")
    assert gone.value.code == "ResourceNotFoundException"


def test_a_scored_version_says_it_was_trained(backend: Backend, scope: Scope, tmp_path: Path) -> None:
    (tmp_path / "bundle").mkdir()
    backend.projects.create(scope, "parts")
    record = _import(backend, scope, tmp_path, Performance(0.9, 0.8, 1.0))
    assert record.status_message == statuses.MESSAGES[statuses.TRAINED]
    assert backend.models.get(scope, "parts", "1").performance == Performance(0.9, 0.8, 1.0)


def test_training_transitions_and_recovery(backend: Backend, scope: Scope, clock: FakeClock) -> None:
    backend.projects.create(scope, "parts")
    lifecycle = backend.lifecycle
    first = lifecycle.begin_training(scope, "parts", None, OutputLocation("out", "runs/"), None)
    second = lifecycle.begin_training(scope, "parts", None, OutputLocation("out"), "key-id")
    assert first is not None and second is not None and second.key.version == 2
    lifecycle.training_progress(first.key, "Extracting features.")
    assert backend.models.get(scope, "parts", "1").status_message == "Training: Extracting features."
    evaluation = Evaluation(
        "segmentation", Performance(1.0, 1.0, 1.0), "runs/m.json", "runs/r.json", clock.now
    )
    trained = lifecycle.training_succeeded(first.key, "trainer", evaluation)
    assert trained is not None and trained.status == statuses.TRAINED and trained.task == "segmentation"
    assert (trained.output_bucket, trained.output_prefix, trained.evaluation_result_key) == (
        "out",
        "runs/",
        "runs/r.json",
    )
    # A finished training cannot finish again, nor fail afterwards.
    assert lifecycle.training_succeeded(first.key, "trainer", evaluation) is None
    lifecycle.training_failed(first.key, "late")
    assert backend.models.get(scope, "parts", "1").status == statuses.TRAINED

    to_host, to_delete = lifecycle.recover()  # the second is still TRAINING: a restart fails it
    assert to_host == [] and to_delete == []
    failed = backend.models.get(scope, "parts", "2")
    assert failed.status == statuses.TRAINING_FAILED and "restarted during training" in failed.status_message
    assert failed.kms_key_id == "key-id" and failed.output_prefix is None


def test_a_missing_project_creates_nothing(backend: Backend, scope: Scope) -> None:
    assert backend.lifecycle.begin_training(scope, "nowhere", None, OutputLocation("out"), None) is None


def test_migration_moves_details_into_columns(tmp_path: Path) -> None:
    """A data directory from before the typed record (schema 4) opens with its facts in place."""
    connection = sqlite3.connect(tmp_path / DATABASE_FILE)
    for step in MIGRATIONS[:4]:
        connection.executescript(step)
    connection.execute("PRAGMA user_version = 4")
    details = {
        "output_config": {"S3Location": {"Bucket": "out", "Prefix": "p/"}}, "kms_key_id": "k", "task": "segmentation",
        "source": "trainer", "performance": {"F1Score": 0.5, "Recall": 0.25, "Precision": 1.0},
        "evaluation_manifest": {"Bucket": "out", "Key": "p/m.json"},
        "evaluation_result": {"Bucket": "out", "Key": "p/r.json"},
        "evaluation_end": 1700000000.5, "peak_memory_mb": 300,
    }  # fmt: skip
    connection.execute("INSERT INTO projects (account, region, name, created, last_model_version) "
                       "VALUES ('123456789012', 'us-east-1', 'p', 0, 1)")  # fmt: skip
    connection.execute(
        "INSERT INTO models (account, region, project, version, created, status, details) "
        "VALUES ('123456789012', 'us-east-1', 'p', 1, 0, 'TRAINED', ?)",
        (json.dumps(details),),
    )
    connection.commit()
    connection.close()

    database = Database(tmp_path)
    try:
        assert database.schema_version == int(HEAD_REVISION)
        record = Backend(database, tmp_path).models.get(Scope("123456789012", "us-east-1"), "p", "1")
    finally:
        database.close()
    assert (record.task, record.source, record.kms_key_id) == ("segmentation", "trainer", "k")
    assert (record.output_bucket, record.output_prefix) == ("out", "p/")
    assert record.performance == Performance(0.5, 0.25, 1.0)
    assert (record.evaluation_manifest_key, record.evaluation_result_key) == ("p/m.json", "p/r.json")
    assert record.evaluation_end == 1700000000.5
