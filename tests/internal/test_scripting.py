"""Scripted DetectAnomalies answers and state-change delays, driven like a user's tests drive them."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from lookoutvision_emulator import EmulatorProcess, RunningEmulator, client
from lookoutvision_emulator.control import EmulatorError
from tests.conftest import NO_RETRIES
from tests.support.live import host, import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, solid

PNG = image_bytes(solid(96, 80, (100, 100, 100)))


@pytest.fixture
def controls(emulator, http) -> RunningEmulator:
    return RunningEmulator(emulator.url)


def detect(lfv, version="1", body=PNG, content_type="image/png", project="line"):
    return lfv.detect_anomalies(
        ProjectName=project, ModelVersion=version, Body=body, ContentType=content_type
    )["DetectAnomalyResult"]


def test_a_queue_of_answers_then_the_real_model(controls, lfv, http, tmp_path):
    import_model(http, "line", classifier_bundle(tmp_path / "b"))
    host(lfv, "line", "1")
    controls.set_results("line", "1", [{"IsAnomalous": True, "Confidence": 0.91},
                                       {"IsAnomalous": False, "Confidence": 0.6}])  # fmt: skip
    assert detect(lfv) == {"Source": {"Type": "direct"}, "IsAnomalous": True, "Confidence": 0.91}
    assert detect(lfv)["Confidence"] == 0.6
    real = detect(lfv)  # the grey image's mean red is 100/255: normal, confidence 1 - 0.39
    assert real["IsAnomalous"] is False and real["Confidence"] == pytest.approx(1 - 100 / 255, abs=1e-4)


def test_a_fixed_answer_needs_no_model_at_all(controls, lfv):
    mask = image_bytes(solid(96, 80, (255, 255, 255)))
    answer = {"IsAnomalous": True, "Confidence": 0.99, "AnomalyMask": mask, "Anomalies": [
        {"Name": "background", "PixelAnomaly": {"TotalPercentageArea": 0.9, "Color": "#FFFFFF"}},
        {"Name": "dent", "PixelAnomaly": {"TotalPercentageArea": 0.1, "Color": "#FF0000"}}]}  # fmt: skip
    controls.set_result("line", "*", answer)
    for version in ("1", "7", "latest"):
        result = detect(lfv, version)
        assert result["AnomalyMask"] == mask and result["Anomalies"][1]["Name"] == "dent"
    assert Image.open(io.BytesIO(result["AnomalyMask"])).size == (96, 80)


def test_a_scripted_error(controls, lfv):
    controls.set_error("line", "1", "ThrottlingException", "slow down", RetryAfterSeconds=5)
    with pytest.raises(lfv.exceptions.ThrottlingException) as caught:
        detect(lfv)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "5"
    assert caught.value.response["Error"]["Message"] == "slow down"


def test_scripted_answers_still_check_the_request(controls, lfv):
    controls.set_result("line", "1", {"IsAnomalous": True, "Confidence": 0.9})
    with pytest.raises(lfv.exceptions.ValidationException, match="content-type must be one of"):
        detect(lfv, content_type="image/gif")
    with pytest.raises(lfv.exceptions.ValidationException, match="not a valid PNG"):
        detect(lfv, body=b"not an image")


@pytest.mark.parametrize(
    ("results", "fragment"),
    [
        ([{"IsAnomalous": "yes", "Confidence": 0.9}], "must be a boolean"),
        ([{"IsAnomalous": True}], "needs Confidence"),
        ([{"IsAnomalous": True, "Confidence": 0.9, "AnomalyMask": "***"}], "base64"),
        ([{"Error": {"Code": "TeapotException", "Message": "x"}}], "must be one of"),
        (
            [{"Error": {"Code": "ConflictException", "Message": "x", "Colour": "red"}}],
            "has no fields ['Colour']",
        ),
        ([], "non-empty list"),
    ],
)
def test_bad_scripts_are_refused(controls, results, fragment):
    with pytest.raises(EmulatorError, match="400") as caught:
        controls.set_results("line", "1", results)
    assert fragment in str(caught.value)


def test_reset_forgets_scripts(controls, lfv, http):
    controls.set_result("line", "1", {"IsAnomalous": True, "Confidence": 0.9})
    http.post("/_emulator/reset")
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        detect(lfv)


def test_delays_hold_the_transitional_states(controls, lfv, http, tmp_path):
    import_model(http, "line", classifier_bundle(tmp_path / "b"))
    assert controls.set_delays(hosting=0.6, stopping=0.4)["hosting"] == 0.6
    started = time.monotonic()
    lfv.start_model(ProjectName="line", ModelVersion="1", MinInferenceUnits=1)
    seen = []
    while not seen or seen[-1] != "HOSTED":
        seen.append(lfv.describe_model(ProjectName="line", ModelVersion="1")["ModelDescription"]["Status"])
        assert time.monotonic() - started < 20
        time.sleep(0.05)
    assert seen.count("STARTING_HOSTING") >= 3 and time.monotonic() - started >= 0.6
    lfv.stop_model(ProjectName="line", ModelVersion="1")
    assert (
        lfv.describe_model(ProjectName="line", ModelVersion="1")["ModelDescription"]["Status"]
        == "STOPPING_HOSTING"
    )
    http.post("/_emulator/reset")
    assert controls.set_delays() == {"hosting": 0.0, "stopping": 0.0, "training": 0.0, "dataset_import": 0.0,
                                     "packaging": 0.0}  # fmt: skip
    with pytest.raises(ValueError, match="unknown delays"):
        controls.set_delays(boot=1)
    with pytest.raises(EmulatorError, match="0 to 3600"):
        controls._call("POST", "/_emulator/delays", {"hosting": -1})


def test_fixture_mode_makes_state_changes_immediate(tmp_path, s3_url, s3):
    s3.create_bucket(Bucket="out")
    env = {"AWS_ENDPOINT_URL_S3": s3_url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with EmulatorProcess(extra_args=["--fixture-mode"], env=env) as emulator:
        controls = RunningEmulator(emulator.url)
        lfv = client(emulator.url, config=NO_RETRIES)
        controls.import_model("line", classifier_bundle(tmp_path / "b"))
        assert (
            lfv.start_model(ProjectName="line", ModelVersion="1", MinInferenceUnits=1)["Status"]
            == "STARTING_HOSTING"
        )
        assert (
            lfv.describe_model(ProjectName="line", ModelVersion="1")["ModelDescription"]["Status"] == "HOSTED"
        )
        assert detect(lfv, body=image_bytes(solid(64, 64, (250, 0, 0))))["IsAnomalous"] is True
        lfv.stop_model(ProjectName="line", ModelVersion="1")
        assert (
            lfv.describe_model(ProjectName="line", ModelVersion="1")["ModelDescription"]["Status"]
            == "TRAINED"
        )
        config = {"Greengrass": {"S3OutputLocation": {"Bucket": "out"}, "ComponentName": "c",
                                 "TargetDevice": "jetson_xavier"}}  # fmt: skip
        job = lfv.start_model_packaging_job(ProjectName="line", ModelVersion="1", Configuration=config)[
            "JobName"
        ]
        status = lfv.describe_model_packaging_job(ProjectName="line", JobName=job)[
            "ModelPackagingDescription"
        ]
        assert status["Status"] == "SUCCEEDED"
        # With a delay, fixture mode still shows the transitional state.
        controls.set_delays(packaging=0.5)
        config["Greengrass"]["ComponentVersion"] = "2.0.0"
        job = lfv.start_model_packaging_job(ProjectName="line", ModelVersion="1", Configuration=config)[
            "JobName"
        ]
        status = lfv.describe_model_packaging_job(ProjectName="line", JobName=job)[
            "ModelPackagingDescription"
        ]
        assert status["Status"] in ("CREATED", "RUNNING")
