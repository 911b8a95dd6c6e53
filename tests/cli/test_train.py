"""`lookoutvision-emulator train`: models from folders of images (and masks), then served."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lookoutvision_emulator import EmulatorProcess, client
from server.cli import main
from tests.conftest import NO_RETRIES
from tests.handlers.test_training import defect_part, part
from tests.support.live import host


def train(tmp_path, *extra: str, normal: str = "normal", anomaly: str = "anomaly") -> list[str]:
    return ["train", "--project", "parts", "--normal", str(tmp_path / normal), "--anomaly", str(tmp_path / anomaly),
            "--data-dir", str(tmp_path / "data"), *extra]  # fmt: skip


def test_train_from_folders_then_serve(tmp_path):
    for label, count in (("normal", 22), ("anomaly", 10)):
        folder = tmp_path / label
        folder.mkdir()
        for index in range(count):
            (folder / f"{index:03d}.png").write_bytes(
                part(index + (100 if label == "anomaly" else 0), label == "anomaly")
            )
    data = str(tmp_path / "data")
    command = [sys.executable, "-m", "server", "train", "--project", "parts", "--normal", str(tmp_path / "normal"),
               "--anomaly", str(tmp_path / "anomaly"), "--data-dir", data]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "trained version 1 of project parts (25 training and 7 test images)" in result.stdout
    with EmulatorProcess(data) as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        model = lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]
        assert model["Status"] == "TRAINED" and model["Performance"]["F1Score"] > 0.5
        host(lfv, "parts", "1")
        answer = lfv.detect_anomalies(ProjectName="parts", ModelVersion="1", Body=part(999, True),
                                      ContentType="image/png")["DetectAnomalyResult"]  # fmt: skip
        assert answer["IsAnomalous"] is True


def test_train_refuses_too_few_images(tmp_path):
    for label in ("normal", "anomaly"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.png").write_bytes(part(1, label == "anomaly"))
    command = [sys.executable, "-m", "server", "train", "--project", "p", "--normal", str(tmp_path / "normal"),
               "--anomaly", str(tmp_path / "anomaly"), "--data-dir", str(tmp_path / "d")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "needs at least 20 and 10" in result.stderr


def segmentation_folders(tmp_path, normal: int = 22, each: int = 6) -> None:
    """Normal parts, then blotches (#FF0000) and thin scratches (#0000FF) with masks of the same names."""
    for folder in ("normal", "anomaly", "masks"):
        (tmp_path / folder).mkdir()
    for index in range(normal):
        (tmp_path / "normal" / f"n{index:03d}.png").write_bytes(defect_part(index, None)[0])
    for index in range(2 * each):
        kind = "blotch" if index < each else "scratch"
        image, mask, _ = defect_part(200 + index, kind)
        (tmp_path / "anomaly" / f"a{index:03d}.png").write_bytes(image)
        (tmp_path / "masks" / f"a{index:03d}.png").write_bytes(mask)


def test_train_with_masks_makes_a_segmentation_model(tmp_path):
    segmentation_folders(tmp_path)
    command = [sys.executable, "-m", "server", *train(tmp_path, "--masks", str(tmp_path / "masks"),
               "--class", "blotch=#FF0000", "--class", "scratch=#0000ff")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "blotch: pixel IoU" in result.stdout and "scratch: pixel IoU" in result.stdout
    with EmulatorProcess(tmp_path / "data") as emulator:
        lfv = client(emulator.url, config=NO_RETRIES)
        host(lfv, "parts", "1")
        image, _, box = defect_part(950, "blotch")
        answer = lfv.detect_anomalies(ProjectName="parts", ModelVersion="1", Body=image,
                                      ContentType="image/png")["DetectAnomalyResult"]  # fmt: skip
    assert [entry["Name"] for entry in answer["Anomalies"]][:2] == ["background", "blotch"]
    painted = (np.asarray(Image.open(io.BytesIO(answer["AnomalyMask"]))) == (255, 0, 0)).all(axis=2)
    assert painted[box[0] : box[2], box[1] : box[3]].mean() > 0.8


def _wrong_size_mask(tmp_path) -> None:
    Image.new("RGB", (40, 40), (255, 255, 255)).save(tmp_path / "masks" / "a000.png")


def _stray_colour(tmp_path) -> None:
    mask = Image.open(io.BytesIO(defect_part(200, "blotch")[1])).convert("RGB")
    mask.putpixel((0, 0), (0, 255, 0))
    mask.save(tmp_path / "masks" / "a000.png")


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [
        (lambda path: (path / "masks" / "a003.png").unlink(), [], "no mask for"),
        (_wrong_size_mask, [], "is 40x40; its image is 96x96"),
        (_stray_colour, [], "colours no --class names: #00FF00"),
        (None, ["--class", "blotch"], "give NAME=#RRGGBB"),
        (None, ["--class", "other=#FF0000"], "#FF0000 is named twice"),
    ],
)
def test_train_refuses_masks_it_cannot_use(tmp_path, capsys, change, extra, message):
    segmentation_folders(tmp_path, normal=2, each=2)
    if change is not None:
        change(tmp_path)
    classes = ["--class", "blotch=#FF0000", "--class", "scratch=#0000FF"]
    assert main(train(tmp_path, "--masks", str(tmp_path / "masks"), *classes, *extra)) == 1
    assert message in capsys.readouterr().err


def test_class_names_need_masks(tmp_path, capsys):
    segmentation_folders(tmp_path, normal=2, each=2)
    assert main(train(tmp_path, "--class", "blotch=#FF0000")) == 1
    assert "it needs --masks" in capsys.readouterr().err
