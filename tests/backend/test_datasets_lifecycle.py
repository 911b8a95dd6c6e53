"""Datasets across restarts, and from an allowed folder on disk: each with its own server."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from lookoutvision_emulator import EmulatorProcess, client
from tests.conftest import FAKE_CREDENTIALS, NO_RETRIES
from tests.handlers.test_datasets import SOURCE
from tests.support.manifests import classification_line, part, upload


def wait_status(lfv, wanted: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = lfv.describe_dataset(ProjectName="parts", DatasetType="train")["DatasetDescription"]
        if description["Status"] == wanted or time.monotonic() > deadline:
            return description
        time.sleep(0.02)


@pytest.mark.parametrize("kill", [False, True], ids=["stop", "kill-9"])
def test_a_restart_never_leaves_a_dataset_in_progress(tmp_path, s3_url, s3, kill):
    lines = [classification_line(f"s3://data/images/{i}.png", "normal") for i in range(3)]
    upload(
        s3,
        "data",
        {**{f"images/{i}.png": part(seed=i) for i in range(3)}, "train.manifest": "\n".join(lines)},
    )
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
    data = tmp_path / "data"
    with EmulatorProcess(data, env=env) as first, httpx.Client(base_url=first.url) as http:
        lfv = client(first.url, config=NO_RETRIES)
        lfv.create_project(ProjectName="parts")
        lfv.create_dataset(ProjectName="parts", DatasetType="train", DatasetSource=SOURCE)
        assert wait_status(lfv, "CREATE_COMPLETE")["ImageStats"]["Total"] == 3
        http.post("/_emulator/delays", json={"dataset_import": 60})
        change = classification_line("s3://data/images/0.png", "anomaly").encode()
        lfv.update_dataset_entries(ProjectName="parts", DatasetType="train", Changes=change)
        lfv.create_project(ProjectName="second")
        lfv.create_dataset(ProjectName="second", DatasetType="train", DatasetSource=SOURCE)
        first.stop(kill=kill)
    with EmulatorProcess(data, env=env) as second:
        lfv = client(second.url, config=NO_RETRIES)
        updated = lfv.describe_dataset(ProjectName="parts", DatasetType="train")["DatasetDescription"]
        assert updated["Status"] == "UPDATE_FAILED_ROLLBACK_COMPLETE"
        assert updated["ImageStats"] == {
            "Total": 3,
            "Labeled": 3,
            "Normal": 3,
            "Anomaly": 0,
        }  # kept as before
        created = lfv.describe_dataset(ProjectName="second", DatasetType="train")["DatasetDescription"]
        assert created["Status"] == "CREATE_FAILED" and "restarted" in created["StatusMessage"]


def test_manifests_and_images_from_an_allowed_folder(tmp_path):
    root = tmp_path / "root"
    (root / "images").mkdir(parents=True)
    for i in range(2):
        (root / "images" / f"{i}.png").write_bytes(part(seed=i))
    outside = tmp_path / "secret.png"
    outside.write_bytes(part(seed=5))
    lines = [classification_line("images/0.png", "normal"),
             classification_line(f"file://{root / 'images' / '1.png'}", "anomaly"),
             classification_line("s3://lookoutvision-local/images/0.png", "normal")]  # fmt: skip
    lines[2] = lines[2].replace("images/0.png", "images/1.png")
    (root / "train.manifest").write_text("\n".join(lines[:2]))
    (root / "escape.manifest").write_text(classification_line("../secret.png", "normal"))
    (root / "absolute.manifest").write_text(classification_line(f"file://{outside}", "normal"))
    with EmulatorProcess(extra_args=["--dataset-root", str(root)]) as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        lfv.create_project(ProjectName="parts")
        local = {
            "GroundTruthManifest": {"S3Object": {"Bucket": "lookoutvision-local", "Key": "train.manifest"}}
        }
        lfv.create_dataset(ProjectName="parts", DatasetType="train", DatasetSource=local)
        done = wait_status(lfv, "CREATE_COMPLETE")
        assert done["ImageStats"] == {"Total": 2, "Labeled": 2, "Normal": 1, "Anomaly": 1}
        for name in ("escape.manifest", "absolute.manifest"):
            lfv.create_project(ProjectName=name.split(".")[0])
            source = {"GroundTruthManifest": {"S3Object": {"Bucket": "lookoutvision-local", "Key": name}}}
            lfv.create_dataset(ProjectName=name.split(".")[0], DatasetType="train", DatasetSource=source)
            deadline = time.monotonic() + 30
            while True:
                failed = lfv.describe_dataset(ProjectName=name.split(".")[0], DatasetType="train")[
                    "DatasetDescription"
                ]
                if failed["Status"] != "CREATE_IN_PROGRESS" or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert (
                failed["Status"] == "CREATE_FAILED" and "outside the dataset root" in failed["StatusMessage"]
            )
        entries = lfv.list_dataset_entries(ProjectName="parts", DatasetType="train")["DatasetEntries"]
        assert json.loads(entries[0])["source-ref"] == "images/0.png"
