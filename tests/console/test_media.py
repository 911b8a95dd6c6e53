"""The console's file helper: what it accepts, where it writes, how masks become overlays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from server.console.media import Media, MediaError, image_type, overlay
from server.settings import Settings
from tests.console.parts import plate
from tests.support.onnx_models import image_bytes, solid


def test_only_png_and_jpeg_are_images():
    assert image_type(plate(0)[0]) == "image/png"
    assert image_type(image_bytes(solid(64, 64, (1, 2, 3)), "JPEG")) == "image/jpeg"
    for content in (b"", b"hello", image_bytes(solid(8, 8, (0, 0, 0)), "GIF"), plate(0)[0][:60]):
        with pytest.raises(MediaError):
            image_type(content)


def test_overlay_keeps_only_the_classes():
    mask = solid(4, 2, (255, 255, 255))
    mask[0, 0], mask[1, 1], mask[1, 2] = (255, 0, 0), (0, 0, 0), (10, 20, 30)
    pixels = np.asarray(Image.open(io.BytesIO(overlay(image_bytes(mask), {"#0A141E"}))))
    assert pixels.shape == (2, 4, 4)
    assert pixels[..., 3].tolist() == [[255, 0, 0, 0], [0, 0, 0, 0]]
    with pytest.raises(MediaError, match="not an image"):
        overlay(b"no", set())


def test_uploads_land_below_the_dataset_root_under_safe_names(tmp_path):
    media = Media(Settings(dataset_root=str(tmp_path), local_bucket="bucket"))
    image = plate(3)[0]
    first = media.save_upload("p1", "train", "../../../../etc/cron.d/x y?.png", image)
    again = media.save_upload("p1", "train", "..\\..\\x y?.png", image)
    assert first == "s3://bucket/console-uploads/p1/train/x-y.png"
    assert again == "s3://bucket/console-uploads/p1/train/x-y-2.png"
    assert sorted(path.name for path in (tmp_path / "console-uploads" / "p1" / "train").iterdir()) == [
        "x-y-2.png",
        "x-y.png",
    ]
    assert media.read("us-east-1", first) == image
    with pytest.raises(MediaError, match="at most 8388608"):
        media.save_upload("p1", "train", "big.png", image + b"\0" * 8_400_000)


def test_uploads_need_a_dataset_root():
    with pytest.raises(MediaError, match="--dataset-root"):
        Media(Settings(dataset_root="")).save_upload("p1", "train", "a.png", plate(0)[0])
