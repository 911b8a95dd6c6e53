"""The pictures and masks as the trainer reads them: decoded as DetectAnomalies decodes them, camera-sized
photos reduced as the served model reduces them, and each training picture decoded once per training.
(Its own module so that the trainer and the segmentation head both read through it.)"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from server.training.samples import Sample

REDUCE_TO = 640  # camera-sized photos are read reduced by a whole factor to no less than this on their
# longer side (inference.images.reduced; no working or mask size is larger), in training and when served
# (model.json's reduce_to)
DECODED_BUDGET = 256 * 2**20  # bytes of decoded training pictures and masks kept while a model trains


class Decoded:
    """The training pictures and their masks, decoded once while a model trains (each candidate, the
    segmentation and the turned copies read them again), up to DECODED_BUDGET bytes; test pictures and
    masks are read once, not kept."""

    def __init__(self, paths: set[str]) -> None:
        self.paths = paths
        self.images: dict[str, Any] = {}
        self.room = DECODED_BUDGET

    def get(self, path: str, read: Callable[[str], Any]):
        image = self.images.get(path)
        if image is None:
            image = read(path)
            size = image.width * image.height * len(image.getbands())
            if path in self.paths and size <= self.room:
                self.images[path] = image
                self.room -= size
        return image


_DECODED: ContextVar[Decoded | None] = ContextVar("decoded_training_images", default=None)


@contextmanager
def decoded_while_training(training: Iterable[Sample]) -> Iterator[None]:
    """Keeps the `training` samples' pictures and masks once decoded, until the block ends."""
    samples = list(training)
    masks = {sample.mask for sample in samples if sample.mask is not None}
    token = _DECODED.set(Decoded({sample.path for sample in samples} | masks))
    try:
        yield
    finally:
        _DECODED.reset(token)


def open_rgb(path: str):
    """A picture as DetectAnomalies would decode it (server.inference.images.to_rgb), reduced as the served
    model reduces it (REDUCE_TO); while a model trains, a training picture decoded before (read-only:
    callers make new images from it)."""
    return _kept(path, _decode)


def open_mask(path: str):
    """A mask in RGBA at the size of its picture as open_rgb gives it (reduced, nearest-neighbour); while
    a model trains, a training picture's mask decoded before (read-only)."""
    return _kept(path, _decode_mask)


def _kept(path: str, read: Callable[[str], Any]):
    """`read(path)`, or while a model trains the copy kept of it (Decoded)."""
    decoded = _DECODED.get()
    return decoded.get(path, read) if decoded is not None else read(path)


def _decode(path: str):
    from PIL import Image

    from server.inference.images import reduced, to_rgb

    with Image.open(path) as image:
        rgb = reduced(to_rgb(image), REDUCE_TO)
        return rgb.copy() if rgb is image else rgb  # closing the file closes the image it was read into


def _decode_mask(path: str):
    from PIL import Image

    from server.inference.images import reduced_size

    with Image.open(path) as mask:
        rgba = mask.convert("RGBA")
    size = reduced_size(rgba.size, REDUCE_TO)
    return rgba if size == rgba.size else rgba.resize(size, Image.Resampling.NEAREST)
