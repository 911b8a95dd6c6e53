"""The trainer's reading of pictures and masks: reduced as served models reduce them, kept while a model
trains."""

from __future__ import annotations

import numpy as np
from PIL import Image

from server.inference.images import reduced
from server.training import pictures
from server.training.samples import Sample


def test_camera_sized_pictures_and_their_masks_are_read_reduced_alike(tmp_path):
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (1401, 2003, 3), dtype=np.uint8))  # over twice 640 px
    picture.save(tmp_path / "photo.png")
    mask = Image.new("RGB", picture.size, (255, 255, 255))
    mask.paste((255, 0, 0), (1000, 700, 1012, 712))
    mask.save(tmp_path / "mask.png")
    read = pictures.open_rgb(str(tmp_path / "photo.png"))
    assert read.size == (668, 467)  # reduced by 3: at least 640 px on the longer side
    assert np.array_equal(np.asarray(read), np.asarray(reduced(picture, pictures.REDUCE_TO)))
    read_mask = pictures.open_mask(str(tmp_path / "mask.png"))
    assert read_mask.mode == "RGBA" and read_mask.size == read.size
    painted = np.argwhere(np.asarray(read_mask)[:, :, 1] == 0)  # the square, where the reduced picture has it
    assert 232 <= painted[:, 0].min() <= painted[:, 0].max() <= 238
    assert 332 <= painted[:, 1].min() <= painted[:, 1].max() <= 338


def test_smaller_pictures_are_read_as_they_are(tmp_path):
    picture = Image.new("RGB", (1279, 900), (10, 200, 30))
    picture.save(tmp_path / "photo.png")
    assert pictures.open_rgb(str(tmp_path / "photo.png")).size == (1279, 900)


def test_training_pictures_and_masks_are_kept_only_while_training(tmp_path):
    for name in ("a", "b", "a-mask"):
        Image.new("RGB", (64, 64), (255, 255, 255)).save(tmp_path / f"{name}.png")
    training = [Sample(str(tmp_path / "a.png"), "anomaly", "a", str(tmp_path / "a-mask.png"))]
    with pictures.decoded_while_training(training):
        assert pictures.open_rgb(str(tmp_path / "a.png")) is pictures.open_rgb(str(tmp_path / "a.png"))
        assert pictures.open_mask(str(tmp_path / "a-mask.png")) is pictures.open_mask(
            str(tmp_path / "a-mask.png")
        )
        assert pictures.open_rgb(str(tmp_path / "b.png")) is not pictures.open_rgb(str(tmp_path / "b.png"))
    assert pictures.open_rgb(str(tmp_path / "a.png")) is not pictures.open_rgb(str(tmp_path / "a.png"))
