"""Run a bundle with onnxruntime: image in, decision, confidence and (for segmentation) a class map out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from server.inference.bundle import (
    MODEL_FILE,
    BundleError,
    ModelDescription,
    Normalization,
    check_against_graph,
)
from server.inference.devices import CPU, CUDA
from server.inference.float_search import float_search_model
from server.inference.images import reduced
from server.inference.masks import class_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    is_anomalous: bool
    confidence: float  # confidence in is_anomalous, 0.5..1
    score: float  # the (normalised) anomaly score the decision came from
    class_map: np.ndarray | None  # uint8 [H, W] at the image's size: 0 background, i = classes[i-1]


def normalise(values: Any, stats: Normalization | None) -> Any:
    """A score (float) or a map (array) on the 0..1 scale, threshold at 0.5; as it came without stats."""
    if stats is None:
        return values
    return np.clip((values - stats.threshold) / (stats.maximum - stats.minimum) + 0.5, 0.0, 1.0)


def confidence(score: float, threshold: float, anomalous: bool) -> float:
    """How far the score is from the threshold, towards the side of the decision, mapped to 0.5..1.

    A score at the threshold gives 0.5; a score of 1 (anomalous) or 0 (normal) gives 1. With anomalib's
    normalised scores (threshold 0.5) this is simply 0.5 + |score - 0.5|.
    """
    if anomalous:
        distance = (score - threshold) / (1.0 - threshold) if threshold < 1.0 else 1.0
    else:
        distance = (threshold - score) / threshold if threshold > 0.0 else 1.0
    return float(min(1.0, max(0.5, 0.5 + 0.5 * distance)))


def session_options(threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Worker threads spin between operators (fast), but once a run ends they would spin on for tens of
    # milliseconds, taking a core from the event loop, mask encoding and other units: stop them.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


def resolve_providers(device: str) -> list[str]:
    import onnxruntime

    if device == "cpu":
        return [CPU]
    available = onnxruntime.get_available_providers()
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        log.warning("device 'cuda' asked for, but onnxruntime has no CUDA provider here: running on the CPU")
    return [CPU]


def session_model(
    folder: Path, description: ModelDescription, providers: list[str]
) -> tuple[str | bytes, bool]:
    """What a session on `providers` loads (a path or the serialised graph), and whether a trained model's
    integer search was turned into floats: CUDA has no kernels for it, in floats it stays on the GPU."""
    if CUDA in providers and description.source == "trainer":
        floats = float_search_model(folder / MODEL_FILE)
        if floats is not None:
            return floats, True
    return str(folder / MODEL_FILE), False


class ModelRunner:
    """One onnxruntime session of a bundle. Thread-safe, but the caller decides how many runs overlap."""

    def __init__(
        self, folder: Path, description: ModelDescription, device: str = "cpu", threads: int = 1
    ) -> None:
        import onnxruntime

        self.description = description
        providers = resolve_providers(device)
        model, self.search_in_floats = session_model(folder, description, providers)
        if self.search_in_floats:
            log.info("%s: the integer nearest search runs in floats on CUDA", folder)
        try:
            self.session = onnxruntime.InferenceSession(
                model, sess_options=session_options(threads), providers=providers
            )
        except Exception as error:  # onnxruntime's exceptions are private types
            raise BundleError(f"{MODEL_FILE} is not a loadable ONNX model: {error}") from None
        check_against_graph(
            description,
            {item.name: list(item.shape) for item in self.session.get_inputs()},
            {item.name: list(item.shape) for item in self.session.get_outputs()},
        )
        self.providers = self.session.get_providers()
        self._wanted = description.outputs.names()
        spec = description.input
        levels = np.arange(256, dtype=np.float32) / np.float32(spec.scale)
        # per input channel: what each 8-bit value becomes, in float32 as the arithmetic would give it
        self._tables = [
            ((levels - np.float32(mean)) / np.float32(std)).tolist()
            for mean, std in zip(spec.mean, spec.std, strict=True)
        ]
        self._alignment = None
        if description.align is not None:
            from server.inference.alignment import from_json

            self._alignment = from_json(description.align)

    def warm_up(self) -> None:
        """Run once, so the first real request does not pay for lazy initialisation."""
        spec = self.description.input
        width = spec.width or self.description.image_width or 256
        height = spec.height or self.description.image_height or 256
        self.predict(Image.new("RGB", (width, height), (128, 128, 128)))

    def predict(self, image: Image.Image) -> Prediction:
        description = self.description
        size = image.size
        image = reduced(image, description.reduce_to)
        read_size, placement = image.size, None
        if self._alignment is not None:
            from server.inference.alignment import align

            image, placement = align(image, self._alignment)
        feeds = self.feeds(image)
        results = dict(zip(self._wanted, self.session.run(self._wanted, feeds), strict=True))
        outputs = description.outputs
        raw_map = _plane(results[outputs.anomaly_map]) if outputs.anomaly_map else None
        if outputs.score:
            score = float(normalise(_scalar(results[outputs.score]), description.score_normalization))
        else:
            assert raw_map is not None  # a bundle without a score output has a map (checked when loaded)
            score = float(normalise(float(raw_map.max()), description.score_normalization))
        anomalous = (
            bool(_scalar(results[outputs.decision])) if outputs.decision else score >= description.threshold
        )
        class_map = None
        if description.task == "segmentation":
            # drawn at the photo's own size, or in the aligned frame and moved back into the (reduced) photo
            class_map = self._class_map(results, raw_map, size if placement is None else image.size)
            if description.fill_part_gaps and class_map.any():
                class_map = self._filled(class_map, image, feeds)
        if class_map is not None and placement is not None:
            from server.inference.alignment import transform

            back = transform(
                Image.fromarray(class_map, "L"),
                placement,
                0,
                Image.Resampling.NEAREST,
                inverse=True,
                size=read_size,
            )
            class_map = _resize(np.asarray(back), size, Image.Resampling.NEAREST)
        return Prediction(anomalous, confidence(score, description.threshold, anomalous), score, class_map)

    def _filled(self, class_map: np.ndarray, image: Image.Image, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The class map with its pieces' gaps filled (part_gap.fill_gaps), from the gap map the graph took
        when it has a gap input, else worked out at the map's size."""
        from server.inference.part_gap import fill_gaps, gap_at, part_gap

        size = (class_map.shape[1], class_map.shape[0])
        gap = self.description.gap_input
        plane = feeds[gap.name][0, 0] if gap is not None else part_gap(image, size)
        return fill_gaps(class_map, gap_at(plane, size))

    def feeds(self, image: Image.Image) -> dict[str, np.ndarray]:
        """The graph's inputs for an image: the image at the input's size, at the detail input's, and the
        gap map (inference.part_gap) at the gap input's, from the picture already resized to it."""
        spec, detail, gap = self.description.input, self.description.detail_input, self.description.gap_input
        pictures = {spec.name: _resized(image, (spec.width, spec.height))}
        if detail is not None:
            pictures[detail.name] = _resized(image, (detail.width, detail.height))
        tensors = {name: self._tensor(picture, picture.size) for name, picture in pictures.items()}
        if gap is not None:
            from server.inference.part_gap import part_gap

            size = (gap.width, gap.height)
            shown = next((picture for picture in pictures.values() if picture.size == size), image)
            tensors[gap.name] = part_gap(shown, size)[np.newaxis, np.newaxis]
        return tensors

    def _tensor(self, image: Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
        spec = self.description.input
        if size is None and spec.width and spec.height:
            size = (spec.width, spec.height)
        if size is not None and image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        if image.mode != "RGB":
            image = image.convert("RGB")
        planes = image.split()
        if spec.color_order == "BGR":
            planes = planes[::-1]
        if spec.dtype != "float32":
            pixels = np.stack([np.asarray(plane) for plane in planes], axis=0 if spec.layout == "NCHW" else 2)
            return pixels[np.newaxis]
        # Each channel's 256 values through its table by Pillow (an 8-bit plane to a float one): the same
        # numbers as the float arithmetic on the whole picture, in about half its time (608x416: 3.9
        # against 7.1 ms with the resize; bench/served_steps.py)
        width, height = image.size
        nchw = spec.layout == "NCHW"
        tensor = np.empty((1, 3, height, width) if nchw else (1, height, width, 3), np.float32)
        for channel, (plane, table) in enumerate(zip(planes, self._tables, strict=True)):
            values = np.asarray(plane.point(table, "F"))
            if nchw:
                tensor[0, channel] = values
            else:
                tensor[0, :, :, channel] = values
        return tensor

    def _class_map(self, results: dict, raw_map: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
        description = self.description
        outputs = description.outputs
        if outputs.class_map:
            values = np.asarray(results[outputs.class_map])[0]
            if values.ndim == 3 and values.shape[0] > 1:  # per-class scores: the best class wins
                labels = class_labels(values, size)
                return np.where(labels <= len(description.classes), labels, 0).astype(np.uint8)
            labels = values.reshape(values.shape[-2:])
            labels = np.where((labels >= 0) & (labels <= len(description.classes)), labels, 0).astype(
                np.uint8
            )
            return _resize(labels, size, Image.Resampling.NEAREST)
        if outputs.mask:
            mask = _plane(results[outputs.mask]).astype(bool).astype(np.uint8)
            return _resize(mask, size, Image.Resampling.NEAREST)
        # An anomaly map is smooth: resize the scores, then threshold at full size for clean edges.
        assert raw_map is not None
        scores = normalise(raw_map.astype(np.float32), description.map_normalization)
        if scores.shape != (size[1], size[0]):
            scores = np.asarray(
                Image.fromarray(scores.astype(np.float32), "F").resize(size, Image.Resampling.BILINEAR)
            )
        return (scores >= description.pixel_threshold).astype(np.uint8)


def _resized(image: Image.Image, size: tuple[int | None, int | None]) -> Image.Image:
    """The image at `size` (bilinear), or as it is where the size is free or already the image's."""
    width, height = size
    if width is None or height is None or image.size == (width, height):
        return image
    return image.resize((width, height), Image.Resampling.BILINEAR)


def warmed_runners(
    folder: Path, description: ModelDescription, device: str, threads: int
) -> Callable[[], ModelRunner]:
    """What inference units make their runners with: each one loaded and warmed up before it serves."""

    def make() -> ModelRunner:
        runner = ModelRunner(folder, description, device, threads)
        runner.warm_up()
        return runner

    return make


def _scalar(value: np.ndarray) -> float:
    return np.asarray(value).reshape(-1)[0].item()


def _plane(value: np.ndarray) -> np.ndarray:
    """The first image's 2-D plane of a [B,1,h,w], [B,h,w] or [h,w] output."""
    array = np.asarray(value)
    while array.ndim > 2:
        array = array[0]
    return array


def _resize(labels: np.ndarray, size: tuple[int, int], method: int) -> np.ndarray:
    if labels.shape == (size[1], size[0]):
        return labels
    return np.asarray(Image.fromarray(labels, "L").resize(size, method))
