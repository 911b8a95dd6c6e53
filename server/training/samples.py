"""What the trainer's parts share: a labelled image, the image as the network sees it, and a CPU session.
(Its own module so that the trainer and the segmentation head can both use them without importing each other.)"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sample:
    path: str  # an image file
    label: str  # normal or anomaly
    source_ref: str
    mask: str | None = None  # a mask file (segmentation projects)
    colors: dict[str, str] = field(default_factory=dict)  # mask colour #RRGGBB -> anomaly class name


@dataclass(frozen=True)
class Seen:
    """A sample as the network sees it: its image (aligned when the model aligns) resized to the input,
    and the placement alignment applied (None without alignment), which its mask must follow too; for a
    graph with a detail input (graphs.DETAIL), the same image at that finer size too."""

    sample: Sample
    pixels: np.ndarray  # uint8 [H, W, 3]
    size: tuple[int, int]  # the image's own (width, height) as read (pictures.open_rgb: large ones reduced)
    placement: Any = None
    detail: np.ndarray | None = None  # uint8 [h, w, 3] at the detail size
    gap: np.ndarray | None = None  # bool [h, w] at the mask's size: inference.part_gap's map

    def tensor(self) -> np.ndarray:
        return network_input(self.pixels)

    def served_feeds(self) -> dict[str, np.ndarray]:
        """The served graph's inputs: feeds(), and the gap map when the model reads one (graphs.GAP)."""
        from server.training.graphs import GAP

        if self.gap is None:
            return self.feeds()
        return {**self.feeds(), GAP: self.gap[None, None].astype(np.float32)}

    def feeds(self) -> dict[str, np.ndarray]:
        """The graph's inputs: the image, and its detail when it has one."""
        from server.training.graphs import DETAIL

        if self.detail is None:
            return {"image": self.tensor()}
        return {"image": self.tensor(), DETAIL: network_input(self.detail)}

    @property
    def mask_size(self) -> tuple[int, int]:
        """(width, height) of the pixels a mask is drawn on: the detail's, or else the input's."""
        pixels = self.pixels if self.detail is None else self.detail
        return pixels.shape[1], pixels.shape[0]


def network_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] pixels at the input's size -> [1, 3, H, W] float32, normalised as the trunk expects
    (the bundle's `input_description` says the same to the runtime)."""
    planes = np.ascontiguousarray(pixels.transpose(2, 0, 1)).astype(np.float32)  # moved while a byte each
    planes -= 127.0
    planes *= np.float32(1 / 128)  # a power of two: the same floats as dividing, in a third of the time
    return planes[np.newaxis]


def cpu_session(model: bytes | str, threads: int | None = None):
    """An onnxruntime session on the CPU with the server's options (its threads stop spinning between
    runs, so the numpy and Pillow work between them keeps its cores), on every core unless `threads`."""
    import onnxruntime

    from server.inference.devices import CPU
    from server.inference.runtime import session_options

    return onnxruntime.InferenceSession(
        model, session_options(threads or os.cpu_count() or 1), providers=[CPU]
    )
