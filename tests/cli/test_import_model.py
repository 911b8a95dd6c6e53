"""`lookoutvision-emulator import-model` into a data directory and onto a running server; `serve --demo`."""

from __future__ import annotations

import os
import subprocess
import sys

from lookoutvision_emulator import EmulatorProcess, client
from tests.conftest import FAKE_CREDENTIALS, NO_RETRIES
from tests.support.live import host
from tests.support.onnx_models import anomalib2_like, classifier_bundle, image_bytes, solid


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "server", "import-model", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_import_into_a_data_directory_then_serve(tmp_path):
    data = str(tmp_path / "data")
    result = run("--project", "parts", "--bundle", str(classifier_bundle(tmp_path / "b")), "--data-dir", data)
    assert result.returncode == 0, result.stderr
    assert "as version 1 of project parts" in result.stdout
    anomalib2_like(tmp_path / "a2.onnx")
    result = run("--project", "parts", "--onnx", str(tmp_path / "a2.onnx"), "--data-dir", data, "--image-size",
                 "64x64", "--class-name", "crack", "--class-color", "#00FF00")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "anomalib-2 segmentation model as version 2" in result.stdout
    with EmulatorProcess(data) as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        host(lfv, "parts", "2")
        answer = lfv.detect_anomalies(
            ProjectName="parts",
            ModelVersion="2",
            Body=image_bytes(solid(64, 64, (240, 0, 0))),
            ContentType="image/png",
        )["DetectAnomalyResult"]
        assert answer["Anomalies"][1]["Name"] == "crack"


def test_upload_to_a_running_server(tmp_path):
    with EmulatorProcess() as emulator:
        result = run("--project", "parts", "--bundle", str(classifier_bundle(tmp_path / "b")), "--url",
                     emulator.url, "--description", "uploaded")  # fmt: skip
        assert result.returncode == 0, result.stderr
        lfv = client(emulator.url)
        assert (
            lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Description"]
            == "uploaded"
        )
        bad = run("--project", "parts", "--onnx", str(tmp_path / "b" / "model.json"), "--url", emulator.url)
        assert bad.returncode == 1 and "not a loadable ONNX model" in bad.stderr


def test_import_errors_are_one_clear_line(tmp_path):
    missing = run("--project", "parts", "--bundle", str(tmp_path), "--data-dir", str(tmp_path / "d"))
    assert missing.returncode == 1 and "no model.onnx" in missing.stderr and "Traceback" not in missing.stderr
    size = run("--project", "p", "--bundle", str(classifier_bundle(tmp_path / "b")), "--image-size", "big")
    assert size.returncode == 1 and "--image-size must look like 550x380" in size.stderr


def test_serve_demo_answers_detect_anomalies_at_once():
    with EmulatorProcess(extra_args=["--demo"]) as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        models = lfv.list_models(ProjectName="demo")["Models"]
        assert [(m["ModelVersion"], m["Status"]) for m in models] == [("1", "HOSTED"), ("2", "HOSTED")]
        part = solid(200, 120, (128, 128, 128))
        part[40:50, 20:180] = (220, 30, 30)  # a red scratch
        body = image_bytes(part)
        classified = lfv.detect_anomalies(
            ProjectName="demo", ModelVersion="1", Body=body, ContentType="image/png"
        )
        assert classified["DetectAnomalyResult"]["IsAnomalous"] is True
        segmented = lfv.detect_anomalies(
            ProjectName="demo", ModelVersion="2", Body=body, ContentType="image/png"
        )
        names = [entry["Name"] for entry in segmented["DetectAnomalyResult"]["Anomalies"]]
        assert names == ["background", "scratch"]
        clean = lfv.detect_anomalies(
            ProjectName="demo", ModelVersion="1", Body=image_bytes(solid(200, 120, (128, 128, 128))),
            ContentType="image/png",
        )  # fmt: skip
        assert clean["DetectAnomalyResult"]["IsAnomalous"] is False


def test_import_into_s3_storage_then_serve(tmp_path, s3_url, s3):
    """With `--storage-url s3://...` the bundle goes to the shared storage, as a server would write it."""
    s3.create_bucket(Bucket="shared")
    env = {**FAKE_CREDENTIALS, "LOOKOUTVISION_EMULATOR_STORAGE_URL": "s3://shared/l4v",
           "LOOKOUTVISION_EMULATOR_S3_ENDPOINT_URL": s3_url}  # fmt: skip
    data = str(tmp_path / "data")
    command = [sys.executable, "-m", "server", "import-model", "--project", "parts", "--bundle",
               str(classifier_bundle(tmp_path / "b")), "--data-dir", data]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="shared", Prefix="l4v/").get("Contents", [])]
    assert any(key.endswith("model.onnx") for key in keys), keys
    with EmulatorProcess(data, env=env) as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        host(lfv, "parts", "1")
        answer = lfv.detect_anomalies(
            ProjectName="parts", ModelVersion="1", Body=image_bytes(solid(96, 80, (240, 0, 0))),
            ContentType="image/png",
        )["DetectAnomalyResult"]  # fmt: skip
        assert answer["IsAnomalous"] is True
