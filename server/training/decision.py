"""From an anomaly map to a decision: image statistics, the supervised combination learnt from the labelled
anomalies, the threshold, and the calibration that makes the score a probability.

Everything here is computed the same way in numpy (for training) and in the exported graph (for serving):
`statistics` mirrors graphs._decision, and a test holds them together.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

STATISTICS = ("peak", "top", "mean", "spread")  # of the blurred anomaly map; `top`: the mean of its top 2 %
TOP_SHARE = 0.02
COMPONENTS = 8  # principal components of the pooled features that the supervised combination may use


def top_count(cells: int) -> int:
    return max(1, round(cells * TOP_SHARE))


def blur_kernel() -> np.ndarray:
    base = np.array([1.0, 2.0, 1.0])
    kernel = np.outer(base, base)
    return (kernel / kernel.sum()).astype(np.float32)


def blur(grid: np.ndarray, edges: bool = False) -> np.ndarray:
    """The served graph's 3x3 blur (zero padding) of a [rows, cols] map; with `edges`, each cell of its outer
    ring first takes the value of its nearest cell inside the ring."""
    height, width = grid.shape
    if edges and height > 2 and width > 2:
        grid = np.pad(grid[1:-1, 1:-1], 1, mode="edge")
    padded = np.pad(grid, 1, mode="constant")
    kernel = blur_kernel()
    return sum(kernel[i, j] * padded[i : i + height, j : j + width] for i in range(3) for j in range(3))


def unsquared(squared: np.ndarray) -> np.ndarray:
    """Nearest distances from squared ones (|p|^2 + |m|^2 - 2 p.m can fall a hair below 0)."""
    return np.sqrt(np.maximum(squared, 0.0))


def distance_map(
    squared: np.ndarray, grid: tuple[int, int], edges: bool = False, area: np.ndarray | None = None
) -> np.ndarray:
    """The blurred [rows, cols] map of nearest distances (given squared, per patch), as the graph makes it;
    with an `area` [rows, cols] (aligned parts: part_area), the distances outside it taken as 0."""
    distances = unsquared(squared).reshape(grid)
    return blur(distances if area is None else distances * area, edges)


def statistics(squared: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """[peak, top, mean, spread] of the blurred map of nearest distances (given squared, per patch)."""
    return map_statistics(distance_map(squared, grid))


def map_statistics(blurred: np.ndarray) -> np.ndarray:
    cells = blurred.reshape(-1).astype(np.float64)
    top = np.sort(cells)[-top_count(len(cells)) :]
    return np.array([cells.max(), top.mean(), cells.mean(), cells.std()])


LIKENESS_EPSILON = 1e-6


def likeness(to_normal: np.ndarray, to_defects: np.ndarray) -> np.ndarray:
    """Per patch, how much it looks like a known defect: d * d / (d + e), d its distance to the normal
    memory and e to the nearest labelled defect patch (see selection.prototype_evidence)."""
    return to_normal * to_normal / (to_normal + to_defects + LIKENESS_EPSILON)


@dataclass(frozen=True)
class Combination:
    """score = statistics . weights[:s] + ((pooled - pooled_mean) @ components) . weights[s:] + bias, for
    the s statistics a rule reads (selection.rule_statistics: the map's four, with one more for some rules).
    Memory only: weights pick the peak, no components."""

    weights: np.ndarray  # [statistics + components]
    bias: float
    pooled_mean: np.ndarray  # [channels]
    components: np.ndarray  # [channels, components] (components may be 0)

    def score(self, stats: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """Scores for stats [n, statistics] and pooled features [n, channels]."""
        inputs = np.concatenate([stats, (pooled - self.pooled_mean) @ self.components], axis=1)
        return inputs @ self.weights + self.bias


def memory_only(channels: int) -> Combination:
    return Combination(np.array([1.0, 0.0, 0.0, 0.0]), 0.0, np.zeros(channels), np.zeros((channels, 0)))


def principal_components(pooled: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    mean = pooled.mean(0)
    count = max(0, min(count, len(pooled) - 1, pooled.shape[1]))
    if count == 0:
        return mean, np.zeros((pooled.shape[1], 0))
    _, _, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    return mean, vt[:count].T


def fit_combination(
    stats: np.ndarray, pooled: np.ndarray, labels: np.ndarray, components: int, l2: float = 1.0
) -> Combination:
    """A logistic regression (anomaly positive) on the statistics and the first `components` principal
    components of the pooled features, with an L2 penalty on standardised inputs: few labelled images
    must not give it room to memorise them."""
    mean, basis = principal_components(pooled, components)
    inputs = np.concatenate([stats, (pooled - mean) @ basis], axis=1)
    centre, scale = inputs.mean(0), inputs.std(0) + 1e-9
    weights, bias = _logistic((inputs - centre) / scale, labels.astype(np.float64), l2)
    folded = weights / scale
    return Combination(folded, float(bias - folded @ centre), mean, basis)


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 50) -> tuple[np.ndarray, float]:
    """Binary logistic regression by Newton's method (a handful of inputs, so each step is exact)."""
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 1e-6  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -30, 30)))
        gradient = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


GAP_POSITION = 1 / 3  # where the threshold lies in its gap, from the normal side: a few dozen labelled
# anomalies show less of their class's spread than as many normal images show of theirs (new defects come
# weaker than the labelled ones more often than new normal images come stranger than the known ones), and at
# the middle the test images' best threshold lay lower on 10 of 15 rows (docs/quality.md)


def best_threshold(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """The threshold with the best F1 (anomaly positive), or as good but for half an error: among the cuts
    whose F1 falls short of the best by less than half what one more error would cost there (a missed
    anomaly traded for a false alarm, say), the one in the widest gap between neighbouring scores
    (the largest margin), GAP_POSITION of the way from its normal side. A cut squeezed between two of a few
    dozen held-out scores for a hair of F1 leaves new pictures on the wrong side of it (textures: one
    anomaly among the normal scores caught by a cut 0.4 wide, not 17 wide, and a test normal picture over
    it; docs/quality.md)."""
    normal, anomalous = np.asarray(normal, float), np.asarray(anomalous, float)
    if not len(anomalous):
        return float(normal.max()) + 0.05 * (float(normal.max() - normal.min()) or 1.0)
    values = np.unique(np.concatenate([normal, anomalous]))
    if len(values) == 1:
        return float(values[0])
    cuts = []  # per gap between neighbouring scores: F1, width, threshold, and F1 with one more error
    for low, high in itertools.pairwise(values):
        middle = (low + high) / 2
        tp = int((anomalous >= middle).sum())
        errors = int((normal >= middle).sum()) + len(anomalous) - tp
        f1 = 2 * tp / (2 * tp + errors) if tp else 0.0
        worse = max(2 * (tp - 1) / (2 * tp + errors - 1), 2 * tp / (2 * tp + errors + 1)) if tp else 0.0
        cuts.append((round(f1, 9), high - low, float(low + GAP_POSITION * (high - low)), worse))
    best_f1, _, _, worse = max(cuts)
    close = [cut for cut in cuts if cut[0] == best_f1 or cut[0] > best_f1 - (best_f1 - worse) / 2]
    return max(close, key=lambda cut: (cut[1], cut[0]))[2]


@dataclass(frozen=True)
class Calibration:
    """P(anomaly) = sigmoid(slope * (s - t)), with s the score and t the threshold, or with `log_score` their
    logarithms: a distance's anomalies reach many times the threshold while its normals crowd below it, and
    a slope fitted to the scores themselves left clear defects near 0.5 (second-seed plates, with Platt's
    targets: true positives' mean Confidence 0.83, against 0.90 on the logarithms)."""

    slope: float
    log_score: bool = False


PRIOR_COUNT = 0.5  # pseudo-images of each label in the calibration's targets: Jeffreys' prior. Platt's 1
# (Laplace's) left Confidence too cautious on new pictures: on the 30 rows of bench/quality.py's two seeds,
# their test pictures' log-loss 0.2265 -> 0.2011, calibration error 0.083 -> 0.051 (docs/quality.md)


def calibration(
    scores: np.ndarray, labels: np.ndarray, threshold: float, prior: float = PRIOR_COUNT
) -> Calibration:
    """The calibration that explains held-out scores best: on the scores, or on their logarithms where every
    score and the threshold are positive (distances); one slope either way, fitted to smoothed targets
    ((n + prior) / (n + 2 prior) for the n anomalous images, prior / (n + 2 prior) for the n normal ones), so
    a perfect separation on a few dozen images gives a confident but finite slope rather than a step."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    slope, loss = _platt(scores - threshold, labels, prior)
    if threshold > 0 and len(scores) and scores.min() > 0:
        log_slope, log_loss = _platt(np.log(scores) - np.log(threshold), labels, prior)
        if log_loss < loss:
            return Calibration(log_slope, log_score=True)
    return Calibration(slope)


def _platt(over: np.ndarray, labels: np.ndarray, prior: float) -> tuple[float, float]:
    """The slope a of sigmoid(a * over) with the least loss against the smoothed targets, and that loss."""
    positives, negatives = labels.sum(), (~labels).sum()
    target = np.where(labels, (positives + prior) / (positives + 2 * prior), prior / (negatives + 2 * prior))
    scale = over.std() or 1.0
    centred = over / scale
    best, best_loss = 1.0, np.inf
    for slope in np.geomspace(0.05, 200.0, 400):
        p = 1.0 / (1.0 + np.exp(-np.clip(slope * centred, -30, 30)))
        loss = -(target * np.log(p + 1e-12) + (1 - target) * np.log(1 - p + 1e-12)).mean()
        if loss < best_loss:
            best, best_loss = slope, loss
    return float(best / scale), float(best_loss)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    positives, negatives = scores[labels], scores[~labels]
    if not len(positives) or not len(negatives):
        return 0.0
    wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (
        positives[:, None] == negatives[None, :]
    ).sum()
    return float(wins / (len(positives) * len(negatives)))


def separation(scores: np.ndarray, labels: np.ndarray) -> float:
    """How far apart the classes' scores are, in pooled standard deviations (breaks AUROC ties)."""
    scores, labels = np.asarray(scores, float), np.asarray(labels, bool)
    if labels.all() or not labels.any():
        return 0.0
    spread = np.sqrt((scores[labels].var() + scores[~labels].var()) / 2) + 1e-12
    return float((scores[labels].mean() - scores[~labels].mean()) / spread)
