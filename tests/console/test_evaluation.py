"""A model trained here: the console shows its evaluation on the test set image by image, read from the
EvaluationManifest the trainer wrote to S3 (moto's server)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from lookoutvision_emulator import EmulatorProcess
from tests.conftest import FAKE_CREDENTIALS
from tests.console.parts import write_dataset


@pytest.fixture
def plates_web(tmp_path, s3_url, s3):
    s3.create_bucket(Bucket="out")
    root = tmp_path / "datasets"
    manifest = write_dataset(root, "plates", normal=20, anomalous=10, size=96)
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
    server = EmulatorProcess(tmp_path / "data", extra_args=["--dataset-root", str(root)], env=env)
    with server, httpx.Client(base_url=server.url, headers={"Origin": server.url}, timeout=30) as web:
        web.post("/console/projects", data={"name": "plates"})
        web.post("/console/projects/plates/datasets", data={"type": "train", "manifest": manifest})
        deadline = time.monotonic() + 60
        while "CREATE_COMPLETE" not in web.get("/console/projects/plates/datasets/train").text:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        yield web


def test_the_evaluation_image_by_image(plates_web):
    web = plates_web
    created = web.post("/console/projects/plates/models", data={"bucket": "out", "prefix": "models/"})
    assert created.headers["location"].startswith("/console/projects/plates/models/1?notice=Training+started")
    deadline = time.monotonic() + 600
    messages = set()
    while True:
        page = web.get("/console/projects/plates/models/1").text
        status = re.search(r'id="model-status">([A-Z_]+)<', page).group(1)
        if status != "TRAINING":
            break
        assert '<meta http-equiv="refresh"' in page  # the page follows the training by itself
        messages.add(re.search(r'id="model-message">([^<]*)<', page).group(1))
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status == "TRAINED", re.search(r'id="model-message">([^<]*)<', page).group(1)
    assert any(message.startswith("Training: ") for message in messages)
    tiles = re.findall(r'<li class="tile (right|wrong)">', page)
    assert len(tiles) == 6  # every 5th image of each label
    assert page.count("true <span") == 6 and page.count("predicted <span") == 6
    assert "EvaluationManifest-plates-1.json" in page
    assert len(re.findall(r'class="mask"', page)) == 2  # the anomalous test images' ground-truth masks
