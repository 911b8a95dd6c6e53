"""Same pixels, same model: the Edge Agent's answer is the cloud API's DetectAnomalies answer."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from server.edge import edge_agent_pb2 as pb2
from tests.edge.conftest import detect, running
from tests.support.live import host, import_model
from tests.support.onnx_models import classifier_bundle, image_bytes, segmenter_bundle


def pictures(width: int, height: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    noisy = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    reddish = noisy.copy()
    reddish[..., 0] = np.maximum(reddish[..., 0], 140)
    bluish = noisy.copy()
    bluish[: height // 2, :, 2] = 255
    return [noisy, reddish, bluish, noisy // 4]


@pytest.mark.parametrize("kind", ["classification", "segmentation"])
def test_edge_and_http_give_the_same_answer(kind, tmp_path, http, lfv, make_agent):
    bundle = tmp_path / "bundle"
    if kind == "classification":
        classifier_bundle(bundle)
        size = (300, 200)
    else:
        size = (96, 64)
        segmenter_bundle(bundle, size)
    import_model(http, "same", bundle)
    host(lfv, "same", "1")
    components = tmp_path / "components"
    shutil.copytree(bundle, components / "same-1")
    _, stub = make_agent(components)
    assert running(stub, "same-1") == pb2.RUNNING
    decisions = set()
    for pixels in pictures(*size):
        cloud = lfv.detect_anomalies(ProjectName="same", ModelVersion="1", Body=image_bytes(pixels),
                                     ContentType="image/png")["DetectAnomalyResult"]  # fmt: skip
        edge = detect(stub, "same-1", pixels)
        assert edge.is_anomalous == cloud["IsAnomalous"]
        decisions.add(edge.is_anomalous)
        assert edge.confidence == pytest.approx(cloud["Confidence"], rel=1e-6)  # float32 on the edge
        if kind == "segmentation":
            assert [(item.name, item.pixel_anomaly.hex_color) for item in edge.anomalies] == [
                (item["Name"], item["PixelAnomaly"]["Color"]) for item in cloud["Anomalies"]
            ]
            assert [item.pixel_anomaly.total_percentage_area for item in edge.anomalies] == pytest.approx(
                [item["PixelAnomaly"]["TotalPercentageArea"] for item in cloud["Anomalies"]]
            )
            cloud_mask = np.asarray(Image.open(io.BytesIO(cloud["AnomalyMask"])).convert("RGB"))
            edge_mask = np.frombuffer(edge.anomaly_mask.byte_data, np.uint8).reshape(cloud_mask.shape)
            assert (edge_mask == cloud_mask).all()
    assert decisions == {True, False}  # both sides of the threshold were compared
