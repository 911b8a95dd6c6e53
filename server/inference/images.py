"""Decode a DetectAnomalies body safely: declared type, size limits before pixels are decoded, truncation."""

from __future__ import annotations

import io
import struct
import warnings

from PIL import Image, UnidentifiedImageError

from server.spec.errors import validation_error
from server.spec.limits import CONTENT_TYPES
from server.spec.limits import IMAGE_MAX_BYTES as MAX_IMAGE_BYTES
from server.spec.limits import IMAGE_MAX_SIDE as MAX_SIDE
from server.spec.limits import IMAGE_MIN_SIDE as MIN_SIDE

CONTENT_TYPE_MESSAGE = (
    "content-type must be one of the following. image/jpeg, image/png"  # the service's words
)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_content_type(content_type: str | None) -> str:
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise validation_error(CONTENT_TYPE_MESSAGE)
    return kind


def decode_image(body: bytes, content_type: str) -> Image.Image:
    """An RGB image, or ValidationException saying what is wrong with the body."""
    if len(body) > MAX_IMAGE_BYTES:
        raise validation_error(f"The image is {len(body)} bytes; the limit is {MAX_IMAGE_BYTES} bytes")
    expected = CONTENT_TYPES[check_content_type(content_type)]
    with warnings.catch_warnings():
        # Pillow warns about (and beyond twice the limit refuses) huge images; both are refused here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(body), formats=[expected])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise validation_error(
                f"The image is too large: at most {MAX_SIDE}x{MAX_SIDE} pixels are accepted"
            ) from None
        except UnidentifiedImageError:
            raise validation_error(
                f"The body is not a valid {expected} image (Content-Type {content_type})"
            ) from None
        except (OSError, SyntaxError, ValueError, struct.error) as error:  # a header cut short or malformed
            raise validation_error(f"The {expected} image is corrupt or truncated: {error}") from None
        width, height = image.size
        if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
            raise validation_error(
                f"The image is {width}x{height} pixels; width and height must be {MIN_SIDE} to {MAX_SIDE}"
            )
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, struct.error, Image.DecompressionBombWarning) as error:
            raise validation_error(f"The {expected} image is corrupt or truncated: {error}") from None
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """The RGB picture a model sees: the trainer opens its images this way too, so that a model learns
    from the pixels it is later asked about (16-bit grey scaled to 8 bits, transparency on white)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, as they look in a viewer on a white page.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert("RGB")


def reduction(size: tuple[int, int], side: int | None) -> int:
    """The whole factor `reduced` shrinks a picture of `size` (width, height) by: the largest that keeps its
    longer side at least `side` pixels (1 without a `side`)."""
    return 1 if side is None else max(1, max(size) // side)


def reduced(image: Image.Image, side: int | None) -> Image.Image:
    """`image` shrunk by reduction()'s factor, each pixel the mean of a factor x factor block (Pillow's
    reduce; a last, partial block is averaged over what it holds). A trained model reads its pictures this
    way in training and when served (model.json's `reduce_to`): a camera's photo of several megapixels is
    then aligned, turned and resized at a fraction of its pixels, and the trainer keeps more of them decoded."""
    factor = reduction(image.size, side)
    return image if factor == 1 else image.reduce(factor)


def reduced_size(size: tuple[int, int], side: int | None) -> tuple[int, int]:
    """The size (width, height) `reduced` gives a picture of `size`."""
    factor = reduction(size, side)
    return -(-size[0] // factor), -(-size[1] // factor)
