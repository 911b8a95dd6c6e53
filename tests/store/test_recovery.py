"""Start-up after a kill -9: no model, dataset or job stays in a transitional state, and nothing
half-written is left in the data directory.

A kill cannot be timed to land inside one call, so each test kills the server, puts the data directory
in the state such a kill leaves (the status a call had committed before it died, the files it had begun
to write), and starts the server on it again.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from lookoutvision_emulator import EmulatorProcess, client
from tests.conftest import NO_RETRIES
from tests.support.crash import Ledger, check_recovered, crash_round, dataset_root, leftovers, set_status
from tests.support.live import import_model, quiet_s3_env, wait_for
from tests.support.onnx_models import classifier_bundle

MODELS = Path("models/123456789012/us-east-1/p")


def killed_with_a_model(data_dir: Path, bundle: Path) -> None:
    with EmulatorProcess(data_dir) as first, httpx.Client(base_url=first.url) as http:
        import_model(http, "p", bundle)
        first.stop(kill=True)


def test_a_deletion_cut_off_by_a_crash_is_finished(tmp_path):
    data = tmp_path / "data"
    killed_with_a_model(data, classifier_bundle(tmp_path / "bundle"))
    assert (data / MODELS / "1").is_dir()
    set_status(data, "models", "DELETING")  # DeleteModel had committed DELETING, then died
    with EmulatorProcess(data) as second:
        lfv = client(second.url, config=NO_RETRIES)
        with pytest.raises(lfv.exceptions.ResourceNotFoundException):
            lfv.describe_model(ProjectName="p", ModelVersion="1")
        assert lfv.list_models(ProjectName="p")["Models"] == []
        assert not (data / MODELS / "1").exists()
        lfv.delete_project(ProjectName="p")  # nothing is left that would block it


@pytest.mark.parametrize(
    ("status", "after"),
    [
        ("TRAINING", "TRAINING_FAILED"),
        ("STARTING_HOSTING", "HOSTED"),
        ("HOSTED", "HOSTED"),
        ("STOPPING_HOSTING", "TRAINED"),
    ],
)
def test_every_transitional_model_state_ends(tmp_path, status, after):
    data = tmp_path / "data"
    killed_with_a_model(data, classifier_bundle(tmp_path / "bundle"))
    set_status(data, "models", status)
    with EmulatorProcess(data) as second:
        assert wait_for(client(second.url, config=NO_RETRIES), "p", "1")["Status"] == after


def test_half_written_files_are_removed_at_start_up(tmp_path):
    data = tmp_path / "data"
    killed_with_a_model(data, classifier_bundle(tmp_path / "bundle"))
    bundle_files = sorted(path.name for path in (data / MODELS / "1").iterdir())
    staging = data / MODELS / ".staging-0123abcd"  # ModelFiles.write, before its rename
    staging.mkdir()
    (staging / "model.onnx").write_bytes(b"half")
    blob_staging = data / "blobs" / "ab" / f".ab{'0' * 62}.0123abcd"  # Blobs.put, before its rename
    blob_staging.parent.mkdir(parents=True)
    blob_staging.write_bytes(b"half")
    kept_blob = blob_staging.parent / f"ab{'1' * 62}"
    kept_blob.write_bytes(b"whole")
    training = data / "work" / "lfv-training-0123abcd"  # a training run's work folder
    training.mkdir(parents=True)
    (training / "model.onnx").write_bytes(b"half")
    with EmulatorProcess(data):
        assert not staging.exists()
        assert not blob_staging.exists()
        assert not training.exists()
        assert leftovers(data) == []
        assert kept_blob.read_bytes() == b"whole"
        assert sorted(path.name for path in (data / MODELS / "1").iterdir()) == bundle_files


def test_a_real_kill_in_every_transitional_state(tmp_path):
    """Delays hold each state change open; kill -9 lands while all of them are in progress at once."""
    data = tmp_path / "data"
    env = quiet_s3_env()  # S3 at a closed loopback port: imports and packaging fail once they run
    bundle = classifier_bundle(tmp_path / "bundle")
    with EmulatorProcess(data, env=env) as first, httpx.Client(base_url=first.url) as http:
        lfv = client(first.url, config=NO_RETRIES)
        for _ in range(3):
            import_model(http, "p", bundle)
        lfv.start_model(ProjectName="p", ModelVersion="2", MinInferenceUnits=1)
        assert wait_for(lfv, "p", "2")["Status"] == "HOSTED"
        lfv.create_dataset(ProjectName="p", DatasetType="test")  # empty: complete at once
        delays = {"hosting": 600, "stopping": 600, "dataset_import": 600, "packaging": 600}
        http.post("/_emulator/delays", json=delays).raise_for_status()
        lfv.start_model(ProjectName="p", ModelVersion="1", MinInferenceUnits=1)
        lfv.stop_model(ProjectName="p", ModelVersion="2")
        source = {"GroundTruthManifest": {"S3Object": {"Bucket": "data", "Key": "train.manifest"}}}
        lfv.create_dataset(ProjectName="p", DatasetType="train", DatasetSource=source)
        lfv.update_dataset_entries(
            ProjectName="p", DatasetType="test", Changes=b'{"source-ref": "s3://d/a.png"}'
        )
        greengrass = {
            "S3OutputLocation": {"Bucket": "out"},
            "ComponentName": "com.example.p",
            "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"},
        }
        lfv.start_model_packaging_job(
            ProjectName="p", ModelVersion="3", JobName="job", Configuration={"Greengrass": greengrass}
        )
        before = {
            v: lfv.describe_model(ProjectName="p", ModelVersion=v)["ModelDescription"]["Status"] for v in "12"
        }
        assert before == {"1": "STARTING_HOSTING", "2": "STOPPING_HOSTING"}
        first.stop(kill=True)
    with EmulatorProcess(data, env=env) as second:
        lfv = client(second.url, config=NO_RETRIES)
        assert wait_for(lfv, "p", "1")["Status"] == "HOSTED"  # it was starting: started again
        assert wait_for(lfv, "p", "2")["Status"] == "TRAINED"  # it was stopping: stopped
        train = lfv.describe_dataset(ProjectName="p", DatasetType="train")["DatasetDescription"]
        assert train["Status"] == "CREATE_FAILED"
        test = lfv.describe_dataset(ProjectName="p", DatasetType="test")["DatasetDescription"]
        assert test["Status"] == "UPDATE_FAILED_ROLLBACK_COMPLETE"
        job = lfv.describe_model_packaging_job(ProjectName="p", JobName="job")["ModelPackagingDescription"]
        assert job["Status"] == "FAILED"
        # Nothing is stuck: every model can be stopped or deleted now.
        lfv.stop_model(ProjectName="p", ModelVersion="1")
        lfv.delete_model(ProjectName="p", ModelVersion="3")


@pytest.mark.parametrize("seed", [1, 2])
def test_random_kills_over_mixed_writes(tmp_path, seed):
    """Two rounds of bench/crash.py (which runs 50): every acknowledged write survives a kill -9."""
    bundle = classifier_bundle(tmp_path / "bundle")
    result = crash_round(tmp_path / "round", seed, bundle, dataset_root(tmp_path / "images"))
    assert result.acknowledged > 0 and result.checked > 0
    assert result.failures == []


def test_the_crash_check_sees_a_lost_write(tmp_path):
    """The check above would notice: promises the server does not keep are reported, one by one."""
    with EmulatorProcess() as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        lfv.create_project(ProjectName="kept")
        ledger = Ledger(projects={"kept", "lost"}, deleted_projects={"gone"})
        ledger.models[("kept", "1")] = {"hosted": True, "tags": {}}
        failures: list[str] = []
        assert check_recovered(lfv, ledger, failures, settle_timeout=5) == 4
    assert failures == ["acknowledged project lost is missing", "acknowledged model kept/1 is missing"]
