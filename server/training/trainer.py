"""Train an anomaly model from labelled images: EfficientNet-Lite0 patch features and a memory of normal
patches, exported as one ONNX graph that serves through the same runtime as any bundle.

- Features: the trunk's stride-8 map (40 channels) with the stride-16 map (112) upsampled beside it,
  3x3 average pooled: 152 values per patch of the input, resized so its longer side is 320 px.
- Scoring: each patch's distance to the nearest remembered normal patch; the map is blurred a little and
  its maximum is the image score. The memory holds the normal images' patches (a random sample of at
  most MEMORY_MAX of them for large datasets).
- Threshold: chosen from the data, not from normal images alone. Normal scores come from two halves of
  the normal images scoring each other (so no image is scored against itself), anomalous scores from the
  project's anomalous training images; the threshold maximises F1 between them. Scores are exported
  normalised, anomalib-style, so 0.5 is the threshold and the bundle's Confidence follows from it.
- Segmentation (projects with masks): see server/training/segmentation.py.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LONG_SIDE = 320
MEMORY_MAX = 40_000
FORMAT = "lookoutvision-emulator-bundle/1"


@dataclass(frozen=True)
class Sample:
    path: str  # an image file
    label: str  # normal or anomaly
    source_ref: str
    mask: str | None = None  # a mask file (segmentation projects)
    colors: dict[str, str] = field(default_factory=dict)  # mask colour #RRGGBB -> anomaly class name


@dataclass(frozen=True)
class Job:
    train: list[Sample]
    test: list[Sample]
    image_size: tuple[int, int]
    output: str  # folder for model.onnx and model.json


@dataclass
class Result:
    threshold: float
    metrics: dict[str, Any]
    predictions: list[dict] = field(
        default_factory=list
    )  # per test image: source_ref, label, score, anomalous
    train_images: int = 0
    test_images: int = 0


def input_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """The network's input: at most LONG_SIDE px on the longer side, sides multiples of 32."""
    width, height = image_size
    scale = min(1.0, LONG_SIDE / max(width, height))
    return (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))


def input_description(size: tuple[int, int]) -> dict:
    """The bundle's `input` for the trainer's graphs: what network_input does, for the runtime."""
    return {"name": "image", "width": size[0], "height": size[1], "scale": 1.0,
            "mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]}  # fmt: skip


def cpu_session(model: bytes | str):
    """An onnxruntime session on the CPU with the server's options (its threads stop spinning between
    runs, so the numpy and Pillow work between them keeps its cores)."""
    import onnxruntime

    from server.inference.runtime import session_options

    return onnxruntime.InferenceSession(
        model, session_options(os.cpu_count() or 1), providers=["CPUExecutionProvider"]
    )


def train(job: Job, progress: Callable[[str], None] = lambda phase: None) -> Result:
    from server.training.graphs import feature_graph, feature_grid, scoring_graph
    from server.training.segmentation import PixelCounts, fit_segmentation, project_classes

    size = input_size(job.image_size)
    progress("Extracting features from the training images.")
    normals = [s for s in job.train if s.label == "normal"]
    anomalies = [s for s in job.train if s.label == "anomaly"]
    alignment = choose_alignment(normals)
    if alignment is not None:
        progress("Parts lie on a plain background: aligning them (centre, rotation) before scoring.")
    classes = project_classes(job.train)
    features = cpu_session(feature_graph(size, segmentation=bool(classes)).SerializeToString())
    seen: list[Seen] = []  # the images as the network saw them, kept only when the segmentation needs them
    normal_maps, anomaly_maps = [], []
    for sample in normals + anomalies:
        item = see(sample, size, alignment)
        (normal_maps if sample.label == "normal" else anomaly_maps).append(_features(features, item))
        if classes:
            seen.append(item)
    turned_maps = []
    if alignment is not None:
        # Turned parts come back through a resampling; remember normal parts that went the same way.
        rng = np.random.default_rng(0)
        turned_maps = [_turned_features(features, s.path, size, alignment, rng) for s in normals]

    progress("Choosing the decision threshold.")
    half = len(normal_maps) // 2
    # Each half of the normal parts (as photographed, and turned when the model aligns) is scored by a
    # memory of the other half, so no image meets itself.
    first, second = normal_maps[:half] + turned_maps[:half], normal_maps[half:] + turned_maps[half:]
    grid = feature_grid(size)
    by_second, by_first = Nearest(_memory(second)), Nearest(_memory(first))
    normal_scores = [_score(m, by_second, grid) for m in first] + [_score(m, by_first, grid) for m in second]
    memory = _memory(normal_maps + turned_maps)
    by_all = Nearest(memory)
    anomaly_scores = [_score(m, by_all, grid) for m in anomaly_maps]
    raw_threshold = _best_threshold(normal_scores, anomaly_scores)
    everything = normal_scores + anomaly_scores
    low, high = float(min(everything)), float(max(everything))
    spread = max(high - low, 1e-6)

    head = refine = None
    if classes:
        progress("Learning the anomaly classes from the masks.")
        head, refine = fit_segmentation(features, seen, classes)
        seen.clear()

    progress("Exporting the model.")
    output = Path(job.output)
    output.mkdir(parents=True, exist_ok=True)
    graph = scoring_graph(size, memory, raw_threshold, spread, head, refine)
    (output / "model.onnx").write_bytes(graph.SerializeToString())
    segmentation = {
        "task": "segmentation",
        "outputs": {"score": "score", "class_map": "class_scores"},
        "classes": [{"name": name, "color": color} for name, color in classes],
    }
    description = {
        "format": FORMAT,
        "task": "classification",
        "image_width": job.image_size[0],
        "image_height": job.image_size[1],
        "input": input_description(size),
        "outputs": {"score": "score"},
        "threshold": 0.5,
        "source": "trainer",
        **(segmentation if classes else {}),
        **({"align": alignment_json(alignment)} if alignment is not None else {}),
    }  # fmt: skip
    (output / "model.json").write_text(json.dumps(description, indent=2))

    progress("Evaluating the model on the test images.")
    served = cpu_session(str(output / "model.onnx"))
    predictions = []
    pixels = PixelCounts(classes)
    wanted = ["score", "class_scores"] if classes else ["score"]
    for sample in job.test:
        item = see(sample, size, alignment)
        answers = served.run(wanted, {"image": item.tensor()})
        score = float(answers[0][0])
        predictions.append({"source_ref": sample.source_ref, "label": sample.label, "score": score,
                            "anomalous": score >= 0.5})  # fmt: skip
        if classes:
            pixels.add(answers[1], item)
    results = metrics(predictions)
    if classes:
        results["PixelAnomalyClassMetrics"] = pixels.metrics()
    return Result(
        threshold=raw_threshold,
        metrics=results,
        predictions=predictions,
        train_images=len(job.train),
        test_images=len(job.test),
    )


def _open(path: str, alignment=None):
    """An image as the model sees it: aligned when the model aligns."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    placement = None
    if alignment is not None:
        from server.inference.alignment import align

        rgb, placement = align(rgb, alignment)
    return rgb, placement


def choose_alignment(normals: list[Sample]):
    """Align when the data allow it: every normal part lies on one plain background colour."""
    from server.inference.alignment import TOLERANCE, Alignment, plain_background, reference_for

    images = [_open(sample.path)[0] for sample in normals]
    background = plain_background(images, TOLERANCE)
    if background is None:
        return None
    return Alignment(background, TOLERANCE, reference_for(images[0], background, TOLERANCE))


def alignment_json(alignment) -> dict:
    from server.inference.alignment import to_json

    return to_json(alignment)


@dataclass(frozen=True)
class Seen:
    """A sample as the network sees it: its image (aligned when the model aligns) resized to the input,
    and the placement alignment applied (None without alignment), which its mask must follow too."""

    sample: Sample
    pixels: np.ndarray  # uint8 [H, W, 3]
    size: tuple[int, int]  # the image's own (width, height)
    placement: Any = None

    def tensor(self) -> np.ndarray:
        return network_input(self.pixels)


def see(sample: Sample, size: tuple[int, int], alignment=None) -> Seen:
    from PIL import Image

    image, placement = _open(sample.path, alignment)
    return Seen(sample, np.asarray(image.resize(size, Image.BILINEAR)), image.size, placement)


def network_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] pixels at the input's size -> [1, 3, H, W] float32, normalised as the trunk expects
    (the bundle's `input_description` says the same to the runtime)."""
    array = (pixels.astype(np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(array.transpose(2, 0, 1)[np.newaxis])


def _turned_features(
    session, path: str, size: tuple[int, int], alignment, rng: np.random.Generator
) -> np.ndarray:
    from PIL import Image

    from server.inference.alignment import align

    with Image.open(path) as image:
        turned = image.convert("RGB").rotate(float(rng.uniform(0, 360)), resample=Image.BILINEAR,
                                             fillcolor=alignment.background)  # fmt: skip
    aligned, _ = align(turned, alignment)
    (maps,) = session.run(
        ["features"], {"image": network_input(np.asarray(aligned.resize(size, Image.BILINEAR)))}
    )
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def _features(session, seen: Seen) -> np.ndarray:
    """[patches, channels] for one image."""
    (maps,) = session.run(["features"], {"image": seen.tensor()})
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def _memory(maps: list[np.ndarray]) -> np.ndarray:
    """Every normal patch, or an even random sample of them when there are more than MEMORY_MAX (the
    memory's size sets the serving cost: one distance per remembered patch and input patch)."""
    patches = np.concatenate(maps).astype(np.float32)
    if len(patches) <= MEMORY_MAX:
        return patches
    keep = np.random.default_rng(0).choice(len(patches), MEMORY_MAX, replace=False)
    return patches[np.sort(keep)]


class Nearest:
    """Squared distances to the nearest of a memory's patches, in numpy, by the same arithmetic as the
    exported graph: |p|^2 + min(|m|^2 - 2 p.m), over chunks of the memory so the products stay small."""

    def __init__(self, memory: np.ndarray, chunk: int = 2048) -> None:
        self.chunks = [
            (
                np.ascontiguousarray(-2.0 * memory[start : start + chunk].T),
                (memory[start : start + chunk] ** 2).sum(1),
            )
            for start in range(0, len(memory), chunk)
        ]

    def squared(self, patches: np.ndarray) -> np.ndarray:
        best = np.full(len(patches), np.inf, dtype=np.float32)
        for minus_two_t, norms in self.chunks:
            bracket = patches @ minus_two_t
            bracket += norms
            np.minimum(best, bracket.min(1), out=best)
        return best + (patches**2).sum(1)


def _score(patches: np.ndarray, nearest: Nearest, grid: tuple[int, int]) -> float:
    """The same computation as the exported graph, in numpy: nearest distances, blur, maximum."""
    from server.training.graphs import blur_kernel

    distances = np.sqrt(np.maximum(nearest.squared(patches), 0.0))
    height, width = grid
    grid = distances.reshape(height, width)
    padded = np.pad(grid, 1, mode="constant")
    kernel = blur_kernel()
    blurred = sum(kernel[i, j] * padded[i : i + height, j : j + width] for i in range(3) for j in range(3))
    return float(blurred.max())


def _best_threshold(normal: list[float], anomalous: list[float]) -> float:
    """The threshold with the best F1 (anomaly positive); ties go to the midpoint of the widest gap."""
    if not anomalous:
        return float(max(normal)) * 1.05
    values = sorted(set(normal + anomalous))
    candidates = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
    best, best_f1 = candidates[0], -1.0
    for candidate in candidates:
        tp = sum(score >= candidate for score in anomalous)
        fp = sum(score >= candidate for score in normal)
        fn = len(anomalous) - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best_f1:
            best, best_f1 = candidate, f1
    return float(best)


def metrics(predictions: list[dict]) -> dict[str, float]:
    """Precision, recall, F1 (anomaly positive), ROC AUC and average precision of scored test images."""
    labels = np.array([p["label"] == "anomaly" for p in predictions])
    flags = np.array([p["anomalous"] for p in predictions])
    scores = np.array([p["score"] for p in predictions], dtype=np.float64)
    tp = int((labels & flags).sum())
    fp = int((~labels & flags).sum())
    fn = int((labels & ~flags).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"Precision": precision, "Recall": recall, "F1Score": f1, "ROCAUC": _auc(labels, scores),
            "AveragePrecision": _average_precision(labels, scores)}  # fmt: skip


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives, negatives = scores[labels], scores[~labels]
    if not len(positives) or not len(negatives):
        return 0.0
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (
        positives[:, None] == negatives[None, :]
    ).sum()
    return float(wins / (len(positives) * len(negatives)))


def _average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    if not labels.any():
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision_at * hits).sum() / hits.sum())
