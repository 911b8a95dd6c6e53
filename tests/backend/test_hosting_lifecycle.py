"""Hosting across restarts and failures, throttling and scaling of inference units: each with its own server."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from botocore.config import Config

from lookoutvision_emulator import EmulatorProcess, client
from tests.conftest import NO_RETRIES
from tests.support.live import host, import_model, wait_for
from tests.support.onnx_models import classifier_bundle, image_bytes, slow_bundle, solid

RED = image_bytes(solid(96, 80, (230, 0, 0)))


@pytest.mark.parametrize("kill", [False, True], ids=["stop", "kill-9"])
def test_hosted_models_are_hosted_again_after_a_restart(tmp_path, kill):
    data = tmp_path / "data"
    with EmulatorProcess(data) as first, httpx.Client(base_url=first.url) as http:
        lfv = client(first.url, config=NO_RETRIES)
        import_model(http, "parts", classifier_bundle(tmp_path / "a"))
        import_model(http, "parts", classifier_bundle(tmp_path / "b"))
        host(lfv, "parts", "1", units=2, max_units=3)
        first.stop(kill=kill)
    with EmulatorProcess(data) as second:
        lfv = client(second.url, config=NO_RETRIES)
        restored = wait_for(lfv, "parts", "1")
        assert (restored["Status"], restored["MinInferenceUnits"], restored["MaxInferenceUnits"]) == (
            "HOSTED",
            2,
            3,
        )
        assert (
            lfv.describe_model(ProjectName="parts", ModelVersion="2")["ModelDescription"]["Status"]
            == "TRAINED"
        )
        result = lfv.detect_anomalies(
            ProjectName="parts", ModelVersion="1", Body=RED, ContentType="image/png"
        )
        assert result["DetectAnomalyResult"]["IsAnomalous"] is True


def test_a_bundle_that_cannot_load_ends_in_hosting_failed(tmp_path):
    data = tmp_path / "data"
    with EmulatorProcess(data) as emulator, httpx.Client(base_url=emulator.url) as http:
        lfv = client(emulator.url, config=NO_RETRIES)
        import_model(http, "parts", classifier_bundle(tmp_path / "a"))
        stored = data / "models" / "123456789012" / "us-east-1" / "parts" / "1" / "model.onnx"
        stored.write_bytes(b"this is no longer an onnx graph")
        lfv.start_model(ProjectName="parts", ModelVersion="1", MinInferenceUnits=1)
        failed = wait_for(lfv, "parts", "1")
        assert failed["Status"] == "HOSTING_FAILED"
        assert "not a loadable ONNX model" in failed["StatusMessage"]
        with pytest.raises(lfv.exceptions.ConflictException):
            lfv.detect_anomalies(ProjectName="parts", ModelVersion="1", Body=RED, ContentType="image/png")
        lfv.delete_model(ProjectName="parts", ModelVersion="1")
        assert not stored.parent.exists()


def test_requests_beyond_the_queue_are_throttled(tmp_path):
    env = {"LOOKOUTVISION_EMULATOR_QUEUE_PER_UNIT": "0", "LOOKOUTVISION_EMULATOR_INFERENCE_THREADS": "1"}
    with EmulatorProcess(env=env) as emulator, httpx.Client(base_url=emulator.url) as http:
        lfv = client(
            emulator.url,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=8),
        )
        import_model(http, "slow", slow_bundle(tmp_path / "slow"))
        host(lfv, "slow", "1")
        body = image_bytes(solid(192, 192, (120, 120, 120)))
        together = threading.Barrier(8)

        def ask(_: int) -> tuple[int, str | None]:
            together.wait(timeout=30)  # 8 requests at once: one unit, no queue
            try:
                lfv.detect_anomalies(ProjectName="slow", ModelVersion="1", Body=body, ContentType="image/png")
                return 200, None
            except lfv.exceptions.ThrottlingException as error:
                return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response[
                    "ResponseMetadata"
                ]["HTTPHeaders"].get("retry-after")

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(ask, range(16)))
    assert (200, None) in outcomes
    assert (429, "1") in outcomes


def test_units_grow_under_sustained_queueing_and_shrink_back(tmp_path):
    env = {
        "LOOKOUTVISION_EMULATOR_SCALE_UP_AFTER": "0.05",
        "LOOKOUTVISION_EMULATOR_SCALE_DOWN_AFTER": "0.5",
        "LOOKOUTVISION_EMULATOR_INFERENCE_THREADS": "1",
    }
    with EmulatorProcess(env=env) as emulator, httpx.Client(base_url=emulator.url) as http:
        lfv = client(
            emulator.url,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=8),
        )
        import_model(http, "slow", slow_bundle(tmp_path / "slow"))
        host(lfv, "slow", "1", units=1, max_units=2)
        body = image_bytes(solid(192, 192, (120, 120, 120)))

        def units() -> int:
            return http.get("/_emulator/hosting").json()["models"][0]["units"]

        assert units() == 1
        with ThreadPoolExecutor(7) as pool:
            asked = [pool.submit(lfv.detect_anomalies, ProjectName="slow", ModelVersion="1", Body=body,
                                 ContentType="image/png") for _ in range(24)]  # fmt: skip
            seen = set()
            while not all(future.done() for future in asked):  # watch the units while the load lasts
                seen.add(units())
                time.sleep(0.02)
            for future in asked:
                future.result()
        assert max(seen) == 2
        deadline = time.monotonic() + 10
        while units() != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert units() == 1
