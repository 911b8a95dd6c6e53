from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from server.inference.images import decode_image, reduced, reduced_size, reduction
from server.spec.errors import ServiceError


def encode(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (Image.new("L", (64, 64), 77), (77, 77, 77)),
        (Image.new("RGBA", (64, 64), (10, 20, 30, 0)), (255, 255, 255)),  # transparent shows white
        (Image.new("RGBA", (64, 64), (10, 20, 30, 255)), (10, 20, 30)),
        (Image.new("I;16", (64, 64), 256 * 90), (90, 90, 90)),
        (Image.new("P", (64, 64), 3), None),
    ],
)
def test_every_png_mode_becomes_rgb(image, expected):
    decoded = decode_image(encode(image), "image/png")
    assert decoded.mode == "RGB" and decoded.size == (64, 64)
    if expected is not None:
        assert tuple(np.asarray(decoded)[5, 5]) == expected


def test_cmyk_jpeg_becomes_rgb():
    decoded = decode_image(encode(Image.new("CMYK", (64, 64), (0, 0, 0, 0)), "JPEG"), "image/jpeg")
    assert decoded.mode == "RGB"


def test_limits_are_inclusive():
    assert decode_image(encode(Image.new("RGB", (64, 4096))), "image/png").size == (64, 4096)
    with pytest.raises(ServiceError, match="must be 64 to 4096"):
        decode_image(encode(Image.new("RGB", (63, 100))), "image/png")


@pytest.mark.parametrize(
    ("size", "side", "factor"),
    [((2400, 1680), 640, 3), ((1279, 900), 640, 1), ((1280, 900), 640, 2), ((900, 2561), 640, 4),
     ((4096, 4096), 640, 6), ((2400, 1680), None, 1)],
)  # fmt: skip
def test_pictures_are_reduced_by_the_largest_factor_that_keeps_the_side(size, side, factor):
    assert reduction(size, side) == factor
    picture = Image.new("RGB", size, (30, 60, 90))
    shrunk = reduced(picture, side)
    assert shrunk.size == reduced_size(size, side) and max(shrunk.size) >= min(max(size), side or 0)
    assert shrunk is picture if factor == 1 else shrunk.size == picture.reduce(factor).size


def test_a_reduced_pixel_is_the_mean_of_its_block():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)  # neither side a multiple of the factor
    shrunk = np.asarray(reduced(Image.fromarray(pixels), 3)).astype(int)
    assert shrunk.shape == (3, 3, 3)
    assert np.abs(shrunk[1, 2] - pixels[3:6, 6:9].reshape(-1, 3).mean(0)).max() <= 0.5
    assert np.abs(shrunk[2, 0] - pixels[6:7, 0:3].reshape(-1, 3).mean(0)).max() < 1  # a partial block
