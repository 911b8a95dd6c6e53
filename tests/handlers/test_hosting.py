"""StartModel, StopModel and DetectAnomalies through boto3 against the live server, with models whose
outputs are known exactly."""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from botocore.config import Config
from PIL import Image

from tests.conftest import NO_RETRIES
from tests.support.live import host, import_model, wait_for
from tests.support.onnx_models import (
    anomalib1_like,
    anomalib2_like,
    classifier_bundle,
    detail_segmenter_bundle,
    image_bytes,
    segmenter_bundle,
    solid,
)

UNCHECKED = NO_RETRIES.merge(Config(parameter_validation=False))
GREY = (100, 100, 100)
RED = (230, 20, 20)
BLUE = (20, 20, 230)


@pytest.fixture
def classifier(tmp_path, http, lfv):
    import_model(http, "parts", classifier_bundle(tmp_path / "classifier", image_size=(96, 80)))
    return "parts", "1"


@pytest.fixture
def segmenter(tmp_path, http, lfv):
    import_model(http, "parts", segmenter_bundle(tmp_path / "segmenter", image_size=(96, 80)))
    return "parts", "1"


def detect(lfv, project, version, body, content_type="image/png"):
    return lfv.detect_anomalies(
        ProjectName=project, ModelVersion=version, Body=body, ContentType=content_type
    )["DetectAnomalyResult"]


def test_imported_model_is_trained_without_performance(lfv, classifier):
    description = lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]
    assert description["Status"] == "TRAINED"
    assert description["ModelArn"] == "arn:aws:lookoutvision:us-east-1:123456789012:model/parts/1"
    assert "Performance" not in description and "MinInferenceUnits" not in description
    listed = lfv.list_models(ProjectName="parts")["Models"]
    assert [(m["ModelVersion"], m["Status"]) for m in listed] == [("1", "TRAINED")]
    assert (
        lfv.describe_model(ProjectName="parts", ModelVersion="latest")["ModelDescription"]["ModelVersion"]
        == "1"
    )


def test_start_and_stop_go_through_their_states(lfv, classifier):
    started = lfv.start_model(ProjectName="parts", ModelVersion="1", MinInferenceUnits=2, MaxInferenceUnits=3)
    assert started["Status"] == "STARTING_HOSTING"
    assert started["ResponseMetadata"]["HTTPStatusCode"] == 202
    hosted = wait_for(lfv, "parts", "1")
    assert (hosted["Status"], hosted["MinInferenceUnits"], hosted["MaxInferenceUnits"]) == ("HOSTED", 2, 3)
    stopped = lfv.stop_model(ProjectName="parts", ModelVersion="1")
    assert stopped["Status"] == "STOPPING_HOSTING"
    assert stopped["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert wait_for(lfv, "parts", "1")["Status"] == "TRAINED"
    with pytest.raises(lfv.exceptions.ConflictException):
        detect(lfv, "parts", "1", image_bytes(solid(96, 80, RED)))


def test_wrong_states_are_conflicts(lfv, classifier):
    with pytest.raises(lfv.exceptions.ConflictException) as not_hosted:
        lfv.stop_model(ProjectName="parts", ModelVersion="1")
    assert (not_hosted.value.response["ResourceType"], not_hosted.value.response["ResourceId"]) == (
        "MODEL",
        "1",
    )
    with pytest.raises(lfv.exceptions.ConflictException) as detecting:
        detect(lfv, "parts", "1", image_bytes(solid(96, 80, RED)))
    assert "start it" in detecting.value.response["Error"]["Message"]
    host(lfv, "parts", "1")
    with pytest.raises(lfv.exceptions.ConflictException):
        lfv.start_model(ProjectName="parts", ModelVersion="1", MinInferenceUnits=1)
    with pytest.raises(lfv.exceptions.ConflictException):
        lfv.delete_model(ProjectName="parts", ModelVersion="1")
    with pytest.raises(lfv.exceptions.ConflictException):
        lfv.delete_project(ProjectName="parts")


@pytest.mark.parametrize(
    ("units", "max_units", "field"), [(2, 1, "MaxInferenceUnits"), (0, None, "minInferenceUnits")]
)
def test_inference_units_are_validated(make_client, classifier, units, max_units, field):
    lfv = make_client(config=UNCHECKED)
    extra = {"MaxInferenceUnits": max_units} if max_units else {}
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.start_model(ProjectName="parts", ModelVersion="1", MinInferenceUnits=units, **extra)
    assert field in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(("units", "max_units"), [(17, None), (1, 500), (100000, None)])
def test_inference_units_have_a_quota(lfv, classifier, units, max_units):
    extra = {"MaxInferenceUnits": max_units} if max_units else {}
    with pytest.raises(lfv.exceptions.ServiceQuotaExceededException) as caught:
        lfv.start_model(ProjectName="parts", ModelVersion="1", MinInferenceUnits=units, **extra)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert (response["QuotaCode"], response["ServiceCode"]) == ("inference-units-per-model", "lookoutvision")
    assert (
        lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Status"] == "TRAINED"
    )


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
@pytest.mark.parametrize("red", [30, 100, 200, 250])
def test_classification_result(lfv, classifier, kind, red):
    host(lfv, *classifier)
    body = image_bytes(solid(96, 80, (red, 60, 60)), kind, **({"quality": 100} if kind == "JPEG" else {}))
    result = detect(lfv, *classifier, body, f"image/{kind.lower()}")
    assert set(result) == {"Source", "IsAnomalous", "Confidence"}
    assert result["Source"] == {"Type": "direct"}
    score = red / 255  # mean red level; the threshold is 0.5
    assert result["IsAnomalous"] is (score >= 0.5)
    # Confidence in the decision: the distance from the threshold towards the decided side.
    expected = score if score >= 0.5 else 1 - score
    assert math.isclose(result["Confidence"], expected, abs_tol=0.01 if kind == "JPEG" else 1e-5)


def scene() -> np.ndarray:
    pixels = solid(96, 80, GREY)
    pixels[:, :20] = RED  # a stripe on the left
    pixels[50:70, 60:90] = BLUE  # a block
    return pixels


def expected_classes(pixels: np.ndarray) -> np.ndarray:
    red = pixels[:, :, 0] / 255 > 0.5
    blue = pixels[:, :, 2] / 255 > 0.5
    return np.where(red, 1, np.where(blue, 2, 0))


def test_segmentation_mask_pixel_by_pixel(lfv, segmenter):
    host(lfv, *segmenter)
    pixels = scene()
    result = detect(lfv, *segmenter, image_bytes(pixels))
    assert result["IsAnomalous"] is True
    mask = Image.open(io.BytesIO(result["AnomalyMask"]))
    assert (mask.format, mask.mode, mask.size) == ("PNG", "RGB", (96, 80))
    palette = np.array([(255, 255, 255), (255, 0, 0), (0, 0, 255)], np.uint8)
    assert np.array_equal(np.asarray(mask), palette[expected_classes(pixels)])

    total = 96 * 80
    background = (total - 20 * 80 - 600) / total
    assert result["Anomalies"] == [
        {"Name": "background", "PixelAnomaly": {"TotalPercentageArea": background, "Color": "#FFFFFF"}},
        {"Name": "scratch", "PixelAnomaly": {"TotalPercentageArea": 20 * 80 / total, "Color": "#FF0000"}},
        {"Name": "dent", "PixelAnomaly": {"TotalPercentageArea": 600 / total, "Color": "#0000FF"}},
    ]  # fmt: skip
    assert math.isclose(sum(a["PixelAnomaly"]["TotalPercentageArea"] for a in result["Anomalies"]), 1.0)


def test_segmentation_of_a_normal_image_lists_only_background(lfv, segmenter):
    host(lfv, *segmenter)
    result = detect(lfv, *segmenter, image_bytes(solid(96, 80, GREY)))
    assert result["IsAnomalous"] is False
    assert result["Anomalies"] == [
        {"Name": "background", "PixelAnomaly": {"TotalPercentageArea": 1.0, "Color": "#FFFFFF"}}
    ]
    assert set(np.asarray(Image.open(io.BytesIO(result["AnomalyMask"]))).reshape(-1, 3).tolist()[0]) == {255}


def test_a_class_present_only_once_is_the_only_entry(lfv, segmenter):
    host(lfv, *segmenter)
    pixels = solid(96, 80, GREY)
    pixels[10:20, 10:20] = BLUE
    names = [entry["Name"] for entry in detect(lfv, *segmenter, image_bytes(pixels))["Anomalies"]]
    assert names == ["background", "dent"]


def test_model_input_smaller_than_the_image(lfv, tmp_path, http):
    import_model(http, "resized", segmenter_bundle(tmp_path / "s", image_size=(128, 64), input_size=(32, 16)))
    host(lfv, "resized", "1")
    pixels = solid(128, 64, GREY)
    pixels[:, :64] = RED
    mask = np.asarray(Image.open(io.BytesIO(detect(lfv, "resized", "1", image_bytes(pixels))["AnomalyMask"])))
    assert mask.shape == (64, 128, 3)
    assert (mask[:, :60] == (255, 0, 0)).all() and (mask[:, 68:] == (255, 255, 255)).all()


def test_a_model_with_a_detail_input_draws_its_mask_from_the_finer_picture(lfv, tmp_path, http):
    """A bundle whose graph takes the picture twice (model.json's detail_input), served through the API: a
    scratch 2 pixels wide, a quarter of a pixel at the first input's size, is drawn where it is."""
    bundle = detail_segmenter_bundle(
        tmp_path / "d", input_size=(16, 8), detail_size=(64, 32), image_size=(128, 64)
    )
    import_model(http, "fine", bundle)
    host(lfv, "fine", "1")
    pixels = solid(128, 64, GREY)
    pixels[:, 40:42] = RED
    result = detect(lfv, "fine", "1", image_bytes(pixels))
    mask = np.asarray(Image.open(io.BytesIO(result["AnomalyMask"])))
    columns = np.flatnonzero((mask[32] == (255, 0, 0)).all(axis=1))
    assert mask.shape == (64, 128, 3) and len(columns) and columns.min() >= 36 and columns.max() <= 45, (
        columns
    )
    assert [entry["Name"] for entry in result["Anomalies"]] == ["background", "scratch"]


def test_latest_serves_the_highest_version(lfv, tmp_path, http):
    import_model(http, "parts", classifier_bundle(tmp_path / "a"))
    import_model(http, "parts", segmenter_bundle(tmp_path / "b", image_size=(96, 80)))
    host(lfv, "parts", "2")
    assert "Anomalies" in detect(lfv, "parts", "latest", image_bytes(scene()))


@pytest.mark.parametrize("units", [1, 2])
def test_many_concurrent_requests_all_get_their_own_answer(make_client, classifier, units):
    lfv = make_client(
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=16)
    )
    host(lfv, *classifier, units=units)
    reds = [int(value) for value in np.linspace(10, 250, 48)]
    bodies = {red: image_bytes(solid(96, 80, (red, 0, 0))) for red in reds}

    def ask(red: int) -> tuple[int, dict]:
        return red, detect(lfv, *classifier, bodies[red])

    # At most as many at once as the units and their queues hold (8 waiting per unit by default): beyond
    # that the server rightly throttles, however fast it is (test_detect_errors covers that).
    with ThreadPoolExecutor(min(12, units * (1 + 8))) as pool:
        answers = list(pool.map(ask, reds))
    for red, result in answers:
        score = red / 255
        assert result["IsAnomalous"] is (score >= 0.5)
        assert math.isclose(result["Confidence"], score if score >= 0.5 else 1 - score, abs_tol=1e-4)


def test_anomalib_2_export_imports_and_serves(lfv, tmp_path, http):
    anomalib2_like(tmp_path / "weights" / "onnx" / "model.onnx", size=64)
    answer = import_model(http, "anomalib", tmp_path, className="crack", classColor="#00ff00")
    assert (answer["Task"], answer["Source"]) == ("segmentation", "anomalib-2")
    host(lfv, "anomalib", "1")
    pixels = solid(64, 64, GREY)
    pixels[:, :48] = RED  # mean red = (48 * 230 + 16 * 100) / 64 / 255 > 0.5
    result = detect(lfv, "anomalib", "1", image_bytes(pixels))
    assert result["IsAnomalous"] is True
    assert [entry["Name"] for entry in result["Anomalies"]] == ["background", "crack"]
    assert result["Anomalies"][1]["PixelAnomaly"] == {"TotalPercentageArea": 0.75, "Color": "#00FF00"}
    mask = np.asarray(Image.open(io.BytesIO(result["AnomalyMask"])))
    assert (mask[:, :48] == (0, 255, 0)).all() and (mask[:, 48:] == 255).all()
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        detect(lfv, "anomalib", "1", image_bytes(solid(96, 80, GREY)))
    assert "64x64" in caught.value.response["Error"]["Message"]


def test_anomalib_2_export_without_statistics_decides_on_the_score(lfv, tmp_path, http):
    answer = import_model(
        http, "raw", anomalib2_like(tmp_path / "model.onnx", with_labels=False).read_bytes()
    )
    assert answer["Source"] == "anomalib-2"
    host(lfv, "raw", "1")
    assert detect(lfv, "raw", "1", image_bytes(solid(64, 64, (200, 0, 0))))["IsAnomalous"] is True
    assert detect(lfv, "raw", "1", image_bytes(solid(64, 64, (60, 0, 0))))["IsAnomalous"] is False


def test_anomalib_1_export_uses_its_metadata(lfv, tmp_path, http):
    anomalib1_like(tmp_path, size=64)
    answer = import_model(http, "old", tmp_path)
    assert (answer["Task"], answer["Source"]) == ("segmentation", "anomalib-1")
    host(lfv, "old", "1")
    pixels = solid(64, 64, GREY)
    pixels[:16, :] = RED
    result = detect(lfv, "old", "1", image_bytes(pixels))
    # The raw map is 10 x red; normalised with threshold 5 over 0..10 it is the red level again.
    assert result["IsAnomalous"] is True
    assert math.isclose(result["Confidence"], 230 / 255, abs_tol=1e-4)
    assert result["Anomalies"][1] == {
        "Name": "anomaly",
        "PixelAnomaly": {"TotalPercentageArea": 0.25, "Color": "#FF0000"},
    }
    normal = detect(lfv, "old", "1", image_bytes(solid(64, 64, GREY)))
    assert normal["IsAnomalous"] is False and math.isclose(normal["Confidence"], 1 - 100 / 255, abs_tol=1e-4)
