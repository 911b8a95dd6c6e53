"""One emulator process on a PostgreSQL database, its replacement after a kill -9, and the storage folder."""

from __future__ import annotations

import pytest

from lookoutvision_emulator import EmulatorProcess, client
from server.store.database import Database, DatabaseInUseError
from server.store.models import ModelRecord, ModelTable
from server.store.projects import ProjectRecord, ProjectTable
from tests.conftest import FAKE_CREDENTIALS, NO_RETRIES

ACCOUNT, REGION = "123456789012", "us-east-1"


def test_a_second_emulator_on_the_same_database_is_refused_until_the_first_is_gone(postgres, tmp_path):
    url = postgres.new_database()
    args = ["--database-url", url]
    with EmulatorProcess(tmp_path / "a", extra_args=args, env=FAKE_CREDENTIALS) as first:
        client(first.url, config=NO_RETRIES).create_project(ProjectName="parts")
        # What the first process leaves when it dies during a training of its own.
        database = Database(None, url)
        ProjectTable(database).insert(ProjectRecord(ACCOUNT, REGION, "lost", 1.0))
        ModelTable(database).insert_next(
            ACCOUNT, REGION, "lost", lambda key: ModelRecord(key, 1.0, "TRAINING")
        )

        second = EmulatorProcess(tmp_path / "b", extra_args=args, env=FAKE_CREDENTIALS)
        with pytest.raises(RuntimeError, match="another emulator is using the database"):
            second.start()
        second.__exit__()
        first.stop(kill=True)

    with EmulatorProcess(tmp_path / "b", extra_args=args, env=FAKE_CREDENTIALS) as replacement:
        lfv = client(replacement.url, config=NO_RETRIES)
        assert {p["ProjectName"] for p in lfv.list_projects()["Projects"]} == {"parts", "lost"}
        model = lfv.describe_model(ProjectName="lost", ModelVersion="1")["ModelDescription"]
        assert model["Status"] == "TRAINING_FAILED" and "restarted" in model["StatusMessage"]
    database.close()


def test_the_sole_use_lock_is_released_with_the_database(postgres):
    url = postgres.new_database()
    first = Database(None, url)
    first.claim_sole_use()
    second = Database(None, url)
    with pytest.raises(DatabaseInUseError, match="not supported yet"):
        second.claim_sole_use()
    first.close()
    second.claim_sole_use()  # the first one's lock went with its connection
    second.close()


def test_model_bundles_go_to_the_storage_folder(tmp_path):
    files = tmp_path / "files"
    args = ["--storage-url", str(files), "--demo"]
    with EmulatorProcess(tmp_path / "data", extra_args=args, env=FAKE_CREDENTIALS) as process:
        lfv = client(process.url, config=NO_RETRIES)
        assert lfv.list_models(ProjectName="demo")["Models"]
    assert list((files / "models").rglob("model.onnx"))
    assert not list((tmp_path / "data").rglob("model.onnx"))
