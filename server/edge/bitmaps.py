"""RGB888 bitmaps of DetectAnomalies: pixels from the message or from a POSIX shared memory segment, and
segmentation masks written back the same two ways.

A client that sends frames through shared memory usually reuses one segment for every frame, so its
mapping is kept (a few, least recently used first out) and checked against the segment's inode and size
on each call: a segment that was removed and created again under the same name is mapped afresh.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from server.spec.limits import IMAGE_MAX_SIDE, IMAGE_MIN_SIDE

CHANNELS = 3  # interleaved R, G, B bytes per pixel
_NAME_MAX = 255  # NAME_MAX of a shm_open name, without its leading slash


class BitmapError(ValueError):
    """The request's bitmap or mask parameters are unusable; the message says why (INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class Segment:
    name: str
    offset: int
    size: int


def check_size(width: int, height: int) -> int:
    """The byte count of a width x height RGB888 bitmap, after checking the sides."""
    if not (IMAGE_MIN_SIDE <= width <= IMAGE_MAX_SIDE and IMAGE_MIN_SIDE <= height <= IMAGE_MAX_SIDE):
        raise BitmapError(
            f"The bitmap is {width}x{height} pixels; width and height must be {IMAGE_MIN_SIDE} to "
            f"{IMAGE_MAX_SIDE}"
        )
    return width * height * CHANNELS


def segment(handle: Any, needed: int, what: str) -> Segment:
    """A SharedMemoryHandle message, checked: a name, and a byte range large enough for `needed`."""
    name = handle.name.lstrip("/")
    if not name or "/" in name or "\0" in name or len(name) > _NAME_MAX:
        raise BitmapError(f"The {what} shared memory name {handle.name!r} is not a POSIX segment name")
    if handle.size < needed:
        raise BitmapError(f"The {what} shared memory range is {handle.size} bytes; {needed} bytes are needed")
    return Segment(name, int(handle.offset), int(handle.size))


class SharedMemory:
    """Maps clients' segments (read-only for images, read-write for masks); thread-safe."""

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._maps: OrderedDict[str, tuple[tuple[int, int, int], mmap.mmap]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, where: Segment, length: int) -> np.ndarray:
        """`length` bytes at the segment's offset, without copying them."""
        return np.frombuffer(self._mapping(where), np.uint8, count=length, offset=where.offset)

    def write(self, where: Segment, data: bytes) -> None:
        mapping = self._open(where, writable=True)
        try:
            mapping[where.offset : where.offset + len(data)] = data
        finally:
            mapping.close()

    def _mapping(self, where: Segment) -> mmap.mmap:
        fd = self._shm_open(where.name, os.O_RDONLY)
        try:
            info = os.fstat(fd)
            identity = (info.st_dev, info.st_ino, info.st_size)
            _check_range(where, info.st_size)
            with self._lock:
                kept = self._maps.get(where.name)
                if kept is not None and kept[0] == identity:
                    self._maps.move_to_end(where.name)
                    return kept[1]
            # Replaced mappings are not closed here: a request may still read them; they are unmapped
            # when the last view of them goes.
            mapping = mmap.mmap(fd, info.st_size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        with self._lock:
            self._maps[where.name] = (identity, mapping)
            self._maps.move_to_end(where.name)
            while len(self._maps) > self._keep:
                self._maps.popitem(last=False)
        return mapping

    def _open(self, where: Segment, writable: bool) -> mmap.mmap:
        fd = self._shm_open(where.name, os.O_RDWR if writable else os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            _check_range(where, size)
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            return mmap.mmap(fd, size, prot=prot)
        finally:
            os.close(fd)

    @staticmethod
    def _shm_open(name: str, flags: int) -> int:
        # _posixshmem is what multiprocessing.shared_memory uses; its SharedMemory class would register
        # the client's segment with Python's resource tracker, which unlinks it when this process exits.
        import _posixshmem

        try:
            return int(_posixshmem.shm_open("/" + name, flags, 0))
        except FileNotFoundError:
            raise BitmapError(f"There is no shared memory segment named {name!r}") from None
        except PermissionError:
            raise BitmapError(f"The agent may not open the shared memory segment {name!r}") from None
        except OSError as error:
            raise BitmapError(f"Cannot open the shared memory segment {name!r}: {error}") from None

    def close(self) -> None:
        with self._lock:
            self._maps.clear()


def _check_range(where: Segment, segment_size: int) -> None:
    if where.offset + where.size > segment_size:
        raise BitmapError(
            f"offset {where.offset} + size {where.size} is beyond the end of shared memory segment "
            f"{where.name!r} ({segment_size} bytes)"
        )


def bitmap_image(bitmap: Any, memory: SharedMemory) -> Image.Image:
    """The RGB image of a Bitmap message (pixels copied once, into Pillow's image)."""
    width, height = bitmap.width, bitmap.height
    needed = check_size(width, height)
    kind = bitmap.WhichOneof("data")
    if kind == "byte_data":
        data = bitmap.byte_data
        if len(data) != needed:
            raise BitmapError(
                f"byte_data holds {len(data)} bytes; a {width}x{height} RGB888 bitmap is {needed} bytes"
            )
        return Image.frombuffer("RGB", (width, height), data, "raw", "RGB", 0, 1)
    if kind == "shared_memory_handle":
        where = segment(bitmap.shared_memory_handle, needed, "bitmap")
        pixels = memory.read(where, needed).reshape(height, width, CHANNELS)
        return Image.fromarray(pixels)  # a copy: the client may write its next frame now
    raise BitmapError("The bitmap has no pixels: set byte_data or shared_memory_handle")
