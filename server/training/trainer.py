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
"""

from __future__ import annotations

import itertools
import json
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


def train(job: Job, progress: Callable[[str], None] = lambda phase: None) -> Result:
    import onnxruntime

    from server.training.graphs import feature_graph, feature_grid, scoring_graph

    size = input_size(job.image_size)
    progress("Extracting features from the training images.")
    features = onnxruntime.InferenceSession(feature_graph(size).SerializeToString(),
                                            providers=["CPUExecutionProvider"])  # fmt: skip
    normals = [s for s in job.train if s.label == "normal"]
    anomalies = [s for s in job.train if s.label == "anomaly"]
    alignment = choose_alignment(normals)
    if alignment is not None:
        progress("Parts lie on a plain background: aligning them (centre, rotation) before scoring.")
    normal_maps = [_features(features, s.path, size, alignment) for s in normals]
    anomaly_maps = [_features(features, s.path, size, alignment) for s in anomalies]
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
    normal_scores = [_score(m, _memory(second), grid) for m in first]
    normal_scores += [_score(m, _memory(first), grid) for m in second]
    memory = _memory(normal_maps + turned_maps)
    anomaly_scores = [_score(m, memory, grid) for m in anomaly_maps]
    raw_threshold = _best_threshold(normal_scores, anomaly_scores)
    everything = normal_scores + anomaly_scores
    low, high = float(min(everything)), float(max(everything))
    spread = max(high - low, 1e-6)

    classes = project_classes(job.train)
    head = None
    if classes:
        progress("Learning the anomaly classes from the masks.")
        samples = normals + anomalies
        fine = [_fine_features(features, sample.path, size, alignment) for sample in samples]
        fine_grid = (grid[0] * 2, grid[1] * 2)
        targets = [patch_classes(sample, classes, fine_grid, alignment, cell=4) for sample in samples]
        head = fit_head(np.concatenate(fine), np.concatenate(targets), len(classes) + 1)

    progress("Exporting the model.")
    output = Path(job.output)
    output.mkdir(parents=True, exist_ok=True)
    graph = scoring_graph(size, memory, raw_threshold, spread, head)
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
        "input": {"name": "image", "width": size[0], "height": size[1], "scale": 1.0,
                  "mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]},
        "outputs": {"score": "score"},
        "threshold": 0.5,
        "source": "trainer",
        **(segmentation if classes else {}),
        **({"align": alignment_json(alignment)} if alignment is not None else {}),
    }  # fmt: skip
    (output / "model.json").write_text(json.dumps(description, indent=2))

    progress("Evaluating the model on the test images.")
    served = onnxruntime.InferenceSession(str(output / "model.onnx"), providers=["CPUExecutionProvider"])
    predictions = []
    pixels: dict[int, np.ndarray] = {index: np.zeros(3) for index in range(1, len(classes) + 1)}  # tp, fp, fn
    wanted = ["score", "class_scores"] if classes else ["score"]
    for sample in job.test:
        answers = served.run(wanted, {"image": _pixels(sample.path, size, True, alignment)})
        score = float(answers[0][0])
        predictions.append({"source_ref": sample.source_ref, "label": sample.label, "score": score,
                            "anomalous": score >= 0.5})  # fmt: skip
        if classes:
            _count_pixels(pixels, answers[1], sample, classes, alignment)
    results = metrics(predictions)
    if classes:
        results["PixelAnomalyClassMetrics"] = _pixel_metrics(pixels, classes)
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


def _pixels(path: str, size: tuple[int, int], normalised: bool = False, alignment=None) -> np.ndarray:
    image, _ = _open(path, alignment)
    return _tensor(image, size, normalised)


def _tensor(image, size: tuple[int, int], normalised: bool) -> np.ndarray:
    """[1, 3, H, W] float32 at the network's size; normalised as the trunk expects when asked."""
    from PIL import Image

    array = np.asarray(image.resize(size, Image.BILINEAR), dtype=np.float32)
    if normalised:
        array = (array - 127.0) / 128.0
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
    (maps,) = session.run(["features"], {"image": _tensor(aligned, size, normalised=True)})
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def _fine_features(session, path: str, size: tuple[int, int], alignment=None) -> np.ndarray:
    """[stride-4 cells, 176] for one image: what the segmentation head sees."""
    (maps,) = session.run(["fine_features"], {"image": _pixels(path, size, True, alignment)})
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def _features(session, path: str, size: tuple[int, int], alignment=None) -> np.ndarray:
    """[patches, channels] for one image."""
    (maps,) = session.run(["features"], {"image": _pixels(path, size, True, alignment)})
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def _memory(maps: list[np.ndarray]) -> np.ndarray:
    """Every normal patch, or an even random sample of them when there are more than MEMORY_MAX (the
    memory's size sets the serving cost: one distance per remembered patch and input patch)."""
    patches = np.concatenate(maps).astype(np.float32)
    if len(patches) <= MEMORY_MAX:
        return patches
    keep = np.random.default_rng(0).choice(len(patches), MEMORY_MAX, replace=False)
    return patches[np.sort(keep)]


def _score(patches: np.ndarray, memory: np.ndarray, grid: tuple[int, int]) -> float:
    """The same computation as the exported graph, in numpy: nearest distances, blur, maximum."""
    from server.training.graphs import blur_kernel

    squared = (patches**2).sum(1)[:, None] - 2 * patches @ memory.T + (memory**2).sum(1)[None, :]
    distances = np.sqrt(np.maximum(squared.min(1), 0.0))
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


# Segmentation: a per-pixel head trained on the masks


def project_classes(samples: list[Sample]) -> list[tuple[str, str]]:
    """(name, #RRGGBB) of every anomaly class in the training masks, in order of first appearance."""
    from server.inference.bundle import BACKGROUND

    classes: dict[str, str] = {}
    for sample in samples:
        for color, name in sample.colors.items():
            clean = _clean(name) or f"class{len(classes) + 1}"
            if clean.lower() != "background" and color.upper() != BACKGROUND and clean not in classes:
                classes[clean] = color.upper()
    return list(classes.items())


def _clean(name: str) -> str:
    return "".join(ch for ch in name if ch.isascii() and ch.isalnum())


def mask_classes(
    sample: Sample, classes: list[tuple[str, str]], size: tuple[int, int], alignment=None
) -> np.ndarray:
    """The class index of every pixel of a sample's mask (0: background), at `size` (width, height), moved
    as the image is when the model aligns."""
    from PIL import Image

    target = np.zeros((size[1], size[0]), dtype=np.uint8)
    if sample.mask is None:
        return target
    with Image.open(sample.mask) as mask:
        rgba_image = mask.convert("RGBA")
    if alignment is not None:
        from server.inference.alignment import transform

        _, placement = _open(sample.path, alignment)
        rgba_image = transform(rgba_image, placement, (0, 0, 0, 0), Image.NEAREST)
    rgba = np.asarray(rgba_image.resize(size, Image.NEAREST))
    index_of = {name: i for i, (name, _) in enumerate(classes, start=1)}
    opaque = rgba[:, :, 3] > 0
    for color, name in sample.colors.items():
        index = index_of.get(_clean(name))
        if index is None:
            continue
        value = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
        target[opaque & (rgba[:, :, :3] == value).all(axis=2)] = index
    return target


def patch_classes(
    sample: Sample, classes: list[tuple[str, str]], grid: tuple[int, int], alignment=None, cell: int = 8
) -> np.ndarray:
    """One class per cell of `cell` x `cell` input pixels: the class covering most of it, if it covers a
    quarter of it."""
    rows, cols = grid
    pixels = mask_classes(sample, classes, (cols * cell, rows * cell), alignment)
    cells = pixels.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows * cols, cell * cell)
    counts = np.stack([(cells == index).sum(1) for index in range(len(classes) + 1)], axis=1)
    counts[:, 0] = 0
    best = counts.argmax(1)
    return np.where(counts.max(1) >= cell * cell // 4, best, 0).astype(np.int64)


def fit_head(
    features: np.ndarray, targets: np.ndarray, count: int, steps: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (weights [count, channels], bias [count]) on standardised features,
    with classes weighted against the background's majority; the standardisation is folded in. Every
    anomaly cell is used, and a sample of at most 12 background cells for each (at least 20,000)."""
    rng = np.random.default_rng(0)
    background = np.flatnonzero(targets == 0)
    anomalous = np.flatnonzero(targets != 0)
    keep = max(12 * len(anomalous), 20_000)
    if len(background) > keep:
        chosen = np.sort(np.concatenate([anomalous, rng.choice(background, keep, replace=False)]))
        features, targets = features[chosen], targets[chosen]
    mean, std = features.mean(0), features.std(0) + 1e-6
    z = (features - mean) / std
    frequency = np.bincount(targets, minlength=count).astype(np.float64) + 1.0
    sample_weight = ((len(targets) / (count * frequency)) ** 0.5)[targets][:, None]
    weights = np.zeros((count, z.shape[1]))
    bias = np.zeros(count)
    onehot = np.eye(count)[targets]
    velocity_w, velocity_b = np.zeros_like(weights), np.zeros_like(bias)
    for _ in range(steps):
        logits = z @ weights.T + bias
        logits -= logits.max(1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(1, keepdims=True)
        gradient = (probabilities - onehot) * sample_weight
        grad_w = gradient.T @ z / len(z) + 1e-3 * weights
        grad_b = gradient.mean(0)
        velocity_w = 0.9 * velocity_w - 0.5 * grad_w
        velocity_b = 0.9 * velocity_b - 0.5 * grad_b
        weights += velocity_w
        bias += velocity_b
    folded = weights / std
    return folded.astype(np.float32), (bias - folded @ mean).astype(np.float32)


def _count_pixels(pixels: dict[int, np.ndarray], scores: np.ndarray, sample: Sample,
                  classes: list[tuple[str, str]], alignment=None) -> None:  # fmt: skip
    from PIL import Image

    with Image.open(sample.path) as image:
        size = image.size
    predicted_small = scores[0].argmax(0).astype(np.uint8)
    predicted = np.asarray(Image.fromarray(predicted_small, "L").resize(size, Image.NEAREST))
    truth = mask_classes(sample, classes, size, alignment)  # compared where the model looked
    for index, counts in pixels.items():
        mine, real = predicted == index, truth == index
        counts += [(mine & real).sum(), (mine & ~real).sum(), (~mine & real).sum()]


def _pixel_metrics(pixels: dict[int, np.ndarray], classes: list[tuple[str, str]]) -> list[dict[str, Any]]:
    entries = []
    for index, (name, _) in enumerate(classes, start=1):
        tp, fp, fn = (float(value) for value in pixels[index])
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
        entries.append(
            {"ClassName": name, "Precision": precision, "Recall": recall, "F1Score": f1, "AIOU": iou}
        )
    return entries
