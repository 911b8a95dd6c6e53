from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from server.inference.images import decode_image
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
