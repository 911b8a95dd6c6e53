"""Segmentation for projects with masks: which class each pixel of a part belongs to.

Two logistic regressions, both exported into the served graph:
- the head classifies 4x4-pixel cells from the stride-4 features beside the upsampled patch features;
- the refinement rescores every pixel of the input from the head's upsampled scores and the pixel's own
  features (colour, colour against its neighbourhood and how far from it either way, stride-2 features),
  so edges follow the defect rather than the cells. Thin defects need it: a 4-px scratch is one cell wide.
  Where a class is thin at the working size, the pixels are the image's at its own size (the served graph's
  second input: trainer.finer_masks). Its class scores carry offsets chosen on held-out masks
  (RefinementSamples.held_out_offsets): fitted on a few dozen masks, it paints too little of new defects.
The head's evidence (its strongest anomaly score in an image) can also inform the image's decision: see
held_out_evidence and selection.offer_mask_rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from server.training.graphs import COLOUR_FEATURES

if TYPE_CHECKING:
    from server.training.samples import Sample, Seen

CELL = 4  # input pixels per side of the head's cells (the stride-4 features)
# Samples taken from each training image, bounded so that memory stays flat for large datasets.
ANOMALY_CELLS = 2_000  # anomalous cells for the head (all of them, up to this)
BACKGROUND_CELLS = 600  # background cells for the head
NEAR = 9  # the refinement learns from pixels within NEAR // 2 of anything marked...
NEAR_PIXELS = 6_000  # ...up to this many...
ELSEWHERE = 500  # ...and from this many elsewhere...
HARD_PIXELS = 500  # ...and, fitted again, from this many far pixels per image that its first fit painted...
POOL_STANDING_OUT = 2_000  # ...of a pool of the far pixels that stand out most from their surroundings...
POOL_RANDOM = 1_000  # ...and of this many random far ones
CHECK_PIXELS = 3_000  # far pixels per image the held-out masks are judged on (held_out_offsets)

Head = tuple[np.ndarray, np.ndarray]  # weights [classes, channels], bias [classes]


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
    sample: Sample, classes: list[tuple[str, str]], size: tuple[int, int], placement: Any = None
) -> np.ndarray:
    """The class index of every pixel of a sample's mask (0: background), at `size` (width, height), moved
    by the `placement` that alignment gave its image."""
    from PIL import Image

    target = np.zeros((size[1], size[0]), dtype=np.uint8)
    if sample.mask is None:
        return target
    from server.training.pictures import open_mask

    rgba_image = open_mask(sample.mask)  # at its picture's size as the trainer reads it (reduced)
    if placement is not None:
        from server.inference.alignment import transform

        rgba_image = transform(rgba_image, placement, (0, 0, 0, 0), Image.Resampling.NEAREST)
    rgba = np.asarray(rgba_image.resize(size, Image.Resampling.NEAREST)).astype(np.uint32)
    # one number per pixel (0xRRGGBB; transparent pixels none of the colours), compared once per colour
    codes = np.where(rgba[:, :, 3] > 0, (rgba[:, :, 0] << 16) | (rgba[:, :, 1] << 8) | rgba[:, :, 2], 1 << 24)
    index_of = {name: i for i, (name, _) in enumerate(classes, start=1)}
    for color, name in sample.colors.items():
        index = index_of.get(_clean(name))
        if index is not None:
            target[codes == int(color[1:7], 16)] = index
    return target


THIN_SHARE = 0.5  # a class is thin when this share of its pixels lies within one working pixel of its edge


def thin_defects(
    samples: list[Sample], classes: list[tuple[str, str]], size: tuple[int, int], reach: int
) -> bool:
    """Whether some class of the samples' masks, read at `size` (width, height), is thin: at least THIN_SHARE
    of its pixels within `reach` pixels of its edge (cracks, scratches, pin-holes, a board's shorts), so that its shape
    is lost at a working size `reach` times coarser. The cookies' cracked areas: 0.17 of their pixels; thin
    cracks 1.0, tiles' cracks 1.0 and blow-holes 0.79, texture scratches 1.0 (docs/quality.md)."""
    counts = np.zeros((len(classes) + 1, 2))
    for sample in samples:
        truth = mask_classes(sample, classes, size)
        for index in np.unique(truth[truth != 0]):
            marked = truth == index
            inner = ~widened(~marked, reach)  # the pixels whose whole square of side 2 reach + 1 is marked
            counts[index] += [marked.sum(), (marked & ~inner).sum()]
    shares = counts[1:, 1] / np.maximum(counts[1:, 0], 1)
    return bool((shares >= THIN_SHARE).any())


SMALL_SPAN = 16  # working pixels (two of the trunk's 8-pixel cells): labelled pieces spanning less are small


def piece_spans(samples: list[Sample], classes: list[tuple[str, str]], size: tuple[int, int]) -> np.ndarray:
    """How far each labelled piece of the samples' masks, read at `size` (width, height), reaches: the
    longer side of its bounding box in pixels, measured on the head's CELL x CELL cells (a piece is a group
    of touching cells that something in the mask paints, whatever its class)."""
    spans = []
    for sample in samples:
        marked = mask_classes(sample, classes, size) != 0
        rows, cols = -(-marked.shape[0] // CELL), -(-marked.shape[1] // CELL)
        padded = np.pad(marked, ((0, rows * CELL - marked.shape[0]), (0, cols * CELL - marked.shape[1])))
        cells = np.asarray(padded.reshape(rows, CELL, cols, CELL).any(axis=(1, 3)))
        if not cells.any():
            continue
        _, where = np.unique(_pieces(cells)[cells], return_inverse=True)  # each marked cell's piece
        row, col = np.nonzero(cells)
        # per piece: -top, -left, bottom, right
        extent = np.full((where.max() + 1, 4), np.iinfo(np.int64).min)
        for column, values in enumerate((-row, -col, row, col)):
            np.maximum.at(extent[:, column], where, values)
        spans.append((np.maximum(extent[:, 2] + extent[:, 0], extent[:, 3] + extent[:, 1]) + 1) * CELL)
    return np.concatenate(spans) if spans else np.zeros(0, np.int64)


def _pieces(marked: np.ndarray) -> np.ndarray:
    """A label per marked element of a small grid (its 8-connected group's lowest flat index), by passing
    the lowest label to each marked neighbour until none changes; unmarked elements get the grid's size."""
    outside, (height, width) = marked.size, marked.shape
    labels = np.where(marked, np.arange(marked.size).reshape(marked.shape), outside)
    while True:
        padded = np.pad(labels, 1, constant_values=outside)
        lowest = labels.copy()
        for dy in range(3):
            for dx in range(3):
                np.minimum(lowest, padded[dy : dy + height, dx : dx + width], out=lowest)
        lowest = np.where(marked, lowest, outside)
        if np.array_equal(lowest, labels):
            return labels
        labels = lowest


def median_span(samples: list[Sample], classes: list[tuple[str, str]], size: tuple[int, int]) -> float | None:
    """The median span (piece_spans) of the labelled pieces of the samples' masks read at `size`; None when
    they paint none. Under SMALL_SPAN the pieces are smaller than two of the trunk's cells, which barely see
    them at that size (the scans' defects: 8 px at 320 px; the tiles' pieces 28-40, the textures' 32-36,
    the cookies' cracks 92; docs/quality.md)."""
    spans = piece_spans(samples, classes, size)
    return float(np.median(spans)) if len(spans) else None


def cell_classes(truth: np.ndarray, count: int, cell: int = CELL) -> np.ndarray:
    """One class per `cell` x `cell` block of a per-pixel class map: the anomaly class covering most of
    it if it covers a quarter of it, else background. Returns [cells] in row-major order."""
    rows, cols = truth.shape[0] // cell, truth.shape[1] // cell
    grid = truth[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
    blocks = grid.transpose(0, 2, 1, 3).reshape(rows * cols, cell * cell)
    counts = np.stack([(blocks == index).sum(1) for index in range(count)], axis=1)
    counts[:, 0] = 0
    best = counts.argmax(1)
    return np.where(counts.max(1) >= cell * cell // 4, best, 0).astype(np.int64)


@dataclass
class HeadCells:
    """What the head learns from: per training image, its sampled cells' inputs and classes, and its
    class map at the size the mask is drawn on (for the refinement)."""

    count: int  # classes, the background included
    cells: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    truths: list[np.ndarray] = field(default_factory=list)

    def fit(self, images: list[int] | None = None) -> Head:
        """The head fitted on these images' cells (positions in the lists; None: all of them)."""
        chosen = range(len(self.cells)) if images is None else images
        return fit_logistic(np.concatenate([self.cells[i] for i in chosen]),
                            np.concatenate([self.labels[i] for i in chosen]), self.count, balance=0.5)  # fmt: skip


def head_cells(seen: list[Seen], classes: list[tuple[str, str]], fine_of: Callable) -> HeadCells:
    """Samples each image's cells: all anomalous ones (up to ANOMALY_CELLS) and BACKGROUND_CELLS others."""
    count = len(classes) + 1
    rng = np.random.default_rng(0)
    result = HeadCells(count)
    for item in seen:
        height, width = item.pixels.shape[:2]
        truth = mask_classes(item.sample, classes, (width, height), item.placement)
        fine = fine_of(item)
        fine = fine.reshape(fine.shape[0], -1).T
        targets = cell_classes(truth, count)
        keep = np.concatenate([_some(np.flatnonzero(targets != 0), ANOMALY_CELLS, rng),
                               _some(np.flatnonzero(targets == 0), BACKGROUND_CELLS, rng)])  # fmt: skip
        result.cells.append(fine[keep])
        result.labels.append(targets[keep])
        if item.detail is not None:
            truth = mask_classes(item.sample, classes, item.mask_size, item.placement)
        result.truths.append(truth)
    return result


def fit_segmentation(
    session,
    seen: list[Seen],
    classes: list[tuple[str, str]],
    levels: list[np.ndarray] | None = None,
    cells: HeadCells | None = None,
    fine_session=None,
) -> tuple[Head, Head]:
    """The head and the refinement for the training images `seen`, through the feature graph `session`
    (and `fine_session`, see _fine_features).
    With `levels` (each image's held-out anomaly level, [rows, cols] at stride 8: how far its patches lie
    from the normal memory), the head reads that level beside the features: where a defect is, the memory
    already knows, and the head learns which class it is and how far it reaches. `cells`: the images'
    head samples, when already taken (see held_out_evidence, which also gathers the refinement's pixels).
    Fine features are computed twice rather than kept: an image's weigh 4.5 MB at 320 px, 18 MB at 640."""
    fine_of = _fine_features(session, seen, levels, fine_session)
    cells = cells or head_cells(seen, classes, fine_of)
    head = cells.fit()
    return head, fit_refinement(session, head, seen, cells.truths, fine_of)


EVIDENCE_FOLDS = 3  # heads fitted for the held-out evidence (each takes about half a second)


def held_out_evidence(
    session,
    seen: list[Seen],
    learn_from: list[int],
    folds: np.ndarray,
    classes: list[tuple[str, str]],
    levels: list[np.ndarray],
    fine_session=None,
) -> tuple[np.ndarray | None, HeadCells, RefinementSamples | None]:
    """Each image's mask evidence (graphs._mask_evidence) from a head fitted on the images `learn_from`
    (positions in `seen`, in order) outside its group of folds, so that a decision rule can learn how far
    to trust it; the head samples of `learn_from`, for the final head; and, gathered in the same pass
    over the images, the pixels the refinement learns from with that final head (its `fit`, after its
    `held_out_offsets`: left to the caller, which may learn another working size's masks and keep those).
    The evidence (and the pixels) are None when some group would have no labelled defect to learn from.
    `session` and `fine_session`: see _fine_features."""
    from server.training.graphs import evidence_graph
    from server.training.samples import cpu_session

    fine_of = _fine_features(session, seen, levels, fine_session)
    cells = head_cells([seen[i] for i in learn_from], classes, fine_of)
    height, width = seen[0].pixels.shape[:2]
    graph = cpu_session(evidence_graph(cells.count, (height // CELL, width // CELL)).SerializeToString())
    groups = folds % EVIDENCE_FOLDS
    heads = {}
    for group in np.unique(groups):
        others = [n for n, index in enumerate(learn_from) if groups[index] != group]
        if not any((cells.labels[n] != 0).any() for n in others):
            return None, cells, None
        heads[group] = cells.fit(others)
    refining = RefinementSamples(cells.fit(), seen[0], heads)
    learnt = {index: n for n, index in enumerate(learn_from)}
    evidence = np.zeros(len(seen))
    for index, item in enumerate(seen):
        if index in learnt:  # the refinement's pixels too: the pass it would make again is saved
            fine, pixels = fine_and_pixels(session, item)
            fine = fine_of(item, fine)
            refining.add(fine, pixels, cells.truths[learnt[index]], int(groups[index]))
        else:
            fine = fine_of(item)
        logits = head_scores(heads[groups[index]], fine)
        (value,) = graph.run(["stat_masks"], {"cell_logits": logits[None].astype(np.float32)})
        evidence[index] = float(value.reshape(-1)[0])
    return evidence, cells, refining


def _fine_features(session, seen: list[Seen], levels: list[np.ndarray] | None, fine_session=None):
    """A function giving an image's head inputs [channels, H/4, W/4]: its fine features, and its anomaly
    level resized as the served graph resizes it when there are levels. The fine features come from
    `fine_session` when given: the feature graph `session` without its pixel features (graphs.feature_graph),
    the same fine features for less work."""
    from server.training.graphs import level_graph
    from server.training.samples import cpu_session

    index = {id(item): position for position, item in enumerate(seen)}
    upsample = cpu_session(level_graph(levels[0].shape).SerializeToString()) if levels else None

    def fine_of(item: Seen, fine: np.ndarray | None = None) -> np.ndarray:
        if fine is None and fine_session is not None:
            (fine,) = fine_session.run(["fine_features"], {"image": item.tensor()})
        elif fine is None:
            (fine,) = session.run(["fine_features"], item.feeds())
        if upsample is None or levels is None:
            return fine[0]
        level = levels[index[id(item)]][None, None].astype(np.float32)
        (level_up,) = upsample.run(["level_up"], {"level": level})
        return np.concatenate([fine[0], level_up[0]])

    return fine_of


def fit_refinement(
    session, head: Head, seen: list[Seen], truths: list[np.ndarray], fine_of: Callable | None = None
) -> Head:
    """A logistic regression from the head's upsampled scores and the pixel features to each pixel's class
    (see RefinementSamples), for the images `seen` and their masks' classes `truths` (at their mask_size)."""
    refining = RefinementSamples(head, seen[0])
    for item, truth in zip(seen, truths, strict=True):
        fine, pixels = fine_and_pixels(session, item)
        refining.add(fine_of(item, fine) if fine_of is not None else fine[0], pixels, truth)
    return refining.fit()


@dataclass(frozen=True)
class PixelFeatures:
    """An image's pixel features as the refinement reads them, at the pixels it samples: the colour
    features, the trunk's stride-2 map resized to their size (as the served graph's Resize does it, at those
    pixels alone: an image's whole map of 28 channels weighs 46 MB at 640 px, of which a few thousand
    pixels are read), and the gap map last when the image has one (as the served graph adds graphs.GAP)."""

    colour: np.ndarray  # [channels, H, W]: without `stride2`, every channel
    stride2: np.ndarray | None = None  # [channels, h, w]
    gap: np.ndarray | None = None  # [H, W]

    def at(self, pixels: np.ndarray) -> np.ndarray:
        """The features [channels, len(pixels)] at the flat `pixels`."""
        parts = [self.colour.reshape(len(self.colour), -1)[:, pixels]]
        if self.stride2 is not None:
            parts.append(upsampled_at(self.stride2, pixels, self.colour.shape[1:]).T)
        if self.gap is not None:
            parts.append(self.gap.reshape(1, -1)[:, pixels].astype(np.float32))
        return np.concatenate(parts)


def fine_and_pixels(session, item: Seen) -> tuple[np.ndarray, PixelFeatures]:
    """An image's fine features [1, channels, H/4, W/4] and pixel features through the feature graph
    `session` (graphs.feature_graph with its pixel features)."""
    fine, colour, stride2 = session.run(
        ["fine_features", "colour_features", "stride2_features"], item.feeds()
    )
    return fine, PixelFeatures(colour[0], stride2[0], item.gap)


GAP_SHARE = 0.05  # the gap map is read where at least this share of the labelled pixels lies in gaps
PARTS_SHARE = 0.8  # ...and where at least this share of the normal images shows one part on its background


def parts_shown(seen: list[Seen]) -> bool:
    """Whether the normal images of `seen` show one part each on its background (inference.part_gap.one_part),
    as PARTS_SHARE of them at least: a texture's or a board's gaps are not missing pieces."""
    from PIL import Image

    from server.inference.part_gap import one_part

    normals = [item for item in seen if item.sample.label == "normal"]
    shown = sum(one_part(Image.fromarray(item.pixels)) for item in normals)
    return bool(normals) and shown >= PARTS_SHARE * len(normals)


def gap_share(seen: list[Seen], classes: list[tuple[str, str]]) -> float:
    """The share of the labelled defect pixels of `seen` (with gap maps) that lie where background shows
    inside the part's hull (inference.part_gap): high where masks paint missing pieces."""
    inside = labelled = 0
    for item in seen:
        if item.gap is None or item.sample.mask is None:
            continue
        marked = mask_classes(item.sample, classes, item.mask_size, item.placement) != 0
        labelled += int(marked.sum())
        inside += int((marked & item.gap).sum())
    return inside / labelled if labelled else 0.0


class RefinementSamples:
    """The pixels the refinement learns from, image by image. It decides edges, so it learns from the
    pixels near anything the head or the mask marks, plus a few from elsewhere, without class weights
    (the pixels' own balance is what IoU counts). A few random pixels rarely include a normal surface's
    pores and marks, which a linear rule that learnt how dark a blow-hole is then paints: so each image
    also keeps a pool of far pixels (those that stand out most from their surroundings, and some random),
    and the refinement is fitted again with the pool's pixels that its first fit paints, as background
    (tiles' blow-holes: IoU 0.485 -> 0.671 at the working size, 0.164 -> 0.638 with masks at their own size;
    where the first fit paints none, as on the boards, it stays; docs/quality.md). The images are seen as
    `like` is: at its input's size, with its mask drawn at its mask_size."""

    def __init__(self, head: Head, like: Seen, heads: dict[int, Head] | None = None) -> None:
        from server.training.graphs import upsample_graph
        from server.training.samples import cpu_session

        self.head = head
        self.count = len(head[1])
        height, width = like.pixels.shape[:2]
        detail = like.mask_size if like.detail is not None else None
        self.upsample = cpu_session(
            upsample_graph(self.count, (height // CELL, width // CELL), detail).SerializeToString()
        )
        self.rng = np.random.default_rng(1)
        self.inputs: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        self.pools: list[np.ndarray] = []  # per image: far pixels the first fit may paint (all background)
        # With `heads` (per group of folds, the head fitted without it), what fitting again without a group
        # needs (see held_out_offsets): per image, its group, and each group's head's scores at its sampled
        # pixels, its pool and the pixels the offsets are judged on (with those pixels' features and classes,
        # and how many of the image's pixels each stands for).
        self.heads = heads or {}
        self.check_rng = np.random.default_rng(2)  # its own: the fit's samples stay those drawn without it
        self.groups: list[int] = []
        self.scored: list[dict[int, list[np.ndarray]]] = []  # per image and group: [sampled, pool, judged]
        self.check_inputs: list[np.ndarray] = []
        self.check_targets: list[np.ndarray] = []
        self.check_weights: list[np.ndarray] = []
        self.offsets = np.zeros(self.count, np.float32)  # added to the fitted refinement's class scores

    def add(self, fine: np.ndarray, pixels: PixelFeatures, truth: np.ndarray, group: int = 0) -> None:
        """One image: its head inputs [channels, H/4, W/4], pixel features and classes [h, w], at the size its
        mask is drawn on; `group`: its group of folds (with heads)."""
        logits = head_scores(self.head, fine)
        (coarse,) = self.upsample.run(["coarse_up"], {"class_logits": logits[None].astype(np.float32)})
        painted = coarse[0, 1:].max(0) > coarse[0, 0]  # some anomaly class outscores the background
        near = widened(painted | (truth != 0), NEAR // 2).reshape(-1)
        far = np.flatnonzero(~near)
        chosen = np.concatenate([_some(np.flatnonzero(near), NEAR_PIXELS, self.rng),
                                 _some(far, ELSEWHERE, self.rng)])  # fmt: skip
        scores = coarse[0].reshape(self.count, -1)

        def stacked(where: np.ndarray) -> np.ndarray:  # the refinement's inputs [pixels, channels] there
            return np.concatenate([scores[:, where], pixels.at(where)]).T

        self.inputs.append(stacked(chosen))
        self.targets.append(truth.reshape(-1)[chosen].astype(np.int64))
        # how far each far pixel is from the mean of the pixels around it, over the colour channels
        standing_out = far
        if len(far) > POOL_STANDING_OUT:  # (a small picture the head paints most of has fewer)
            contrast = pixels.colour[COLOUR_FEATURES - 3 : COLOUR_FEATURES].sum(0).reshape(-1)[far]
            standing_out = far[_largest(contrast, POOL_STANDING_OUT)]
        pool = np.union1d(standing_out, _some(far, POOL_RANDOM, self.rng))
        self.pools.append(stacked(pool).copy())
        if self.heads:
            # judged on: the near pixels sampled above, and CHECK_PIXELS far ones of their own (a far pixel
            # stands for hundreds: the few the fit learns from would make a noisy count of painted ones)
            near_taken = min(int(near.sum()), NEAR_PIXELS)
            check = np.concatenate([chosen[:near_taken], _some(far, CHECK_PIXELS, self.check_rng)])
            scored: dict[int, list[np.ndarray]] = {}
            for key, head in self.heads.items():
                cells = head_scores(head, fine)
                scored[key] = [upsampled_at(cells, where, truth.shape) for where in (chosen, pool, check)]
            self.scored.append(scored)
            self.groups.append(group)
            self.check_inputs.append(stacked(check).copy())
            self.check_targets.append(truth.reshape(-1)[check].astype(np.int64))
            stands_for = np.where(np.arange(len(check)) < near_taken, near.sum() / max(near_taken, 1),
                                  len(far) / max(len(check) - near_taken, 1))  # fmt: skip
            self.check_weights.append(stands_for.astype(np.float32))

    def fit(self) -> Head:
        """The refinement of every image's pixels, with the held-out offsets (if chosen) on its class scores."""
        weights, bias = self._fit(self.inputs, self.targets, self.pools)
        return weights, bias + self.offsets

    def _fit(self, inputs: list[np.ndarray], targets: list[np.ndarray], pools: list[np.ndarray]) -> Head:
        first = fit_logistic(np.concatenate(inputs), np.concatenate(targets), self.count, balance=0.0)
        weights, bias = first
        painted = []
        for pool in pools:
            scores = pool @ weights.T + bias
            margin = scores[:, 1:].max(1) - scores[:, 0]  # above 0: an anomaly class wins
            order = np.argsort(-margin)[:HARD_PIXELS]
            painted.append(pool[order[margin[order] > 0]])
        wrong = np.concatenate(painted)
        if not len(wrong):
            return first
        every = np.concatenate([*targets, np.zeros(len(wrong), np.int64)])
        return fit_logistic(np.concatenate([*inputs, wrong]), every, self.count, balance=0.0)

    def held_out_offsets(self) -> np.ndarray:
        """Offsets on the anomaly classes' scores that draw the held-out masks best: each group's pixels
        scored by its head and a refinement fitted without it, and each class's offset chosen from
        MASK_OFFSETS for the mean IoU over the classes, the sampled pixels weighed back to whole images. A
        linear rule fitted on a few dozen masks draws its own pixels far better than new ones (the boards'
        served masks painted 118 of their test pictures' 1,040 defect pixels), so its reach is judged on
        pictures it has not seen. Sets and returns self.offsets."""
        scores: list[np.ndarray] = [np.zeros(0)] * len(self.inputs)
        groups = np.array(self.groups)
        for group in self.heads:
            others = np.flatnonzero(groups != group).tolist()
            refine = self._fit(
                [self._seen_by(i, group, 0, self.inputs[i]) for i in others],
                [self.targets[i] for i in others],
                [self._seen_by(i, group, 1, self.pools[i]) for i in others],
            )
            for i in np.flatnonzero(groups == group).tolist():
                scores[i] = self._seen_by(i, group, 2, self.check_inputs[i]) @ refine[0].T + refine[1]
        self.offsets = choose_offsets(np.concatenate(scores), np.concatenate(self.check_targets),
                                      np.concatenate(self.check_weights), self.count)  # fmt: skip
        return self.offsets

    def _seen_by(self, image: int, group: int, part: int, stacked: np.ndarray) -> np.ndarray:
        """An image's refinement inputs (its sampled pixels, pool or judged pixels: `part` 0, 1, 2, with
        `stacked` theirs) with the scores of the head fitted without `group` instead of the final head's."""
        return np.concatenate([self.scored[image][group][part], stacked[:, self.count :]], axis=1)


def head_scores(head: Head, fine: np.ndarray) -> np.ndarray:
    """A head's class scores [classes, rows, cols] on its inputs [channels, rows, cols], as one matrix
    product (np.einsum's own loop took 4.5 times as long on a 640 px image's cells)."""
    weights, bias = head
    channels, rows, cols = fine.shape
    return (weights @ fine.reshape(channels, -1)).reshape(len(bias), rows, cols) + bias[:, None, None]


def upsampled_at(fine: np.ndarray, pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The map `fine` [channels, rows, cols] linearly resized to `shape` (height, width) as the served graph's
    Resize does it (half-pixel centres, clamped at the border), at the flat `pixels` only: [pixels, channels]."""
    rows, cols = fine.shape[1:]
    (y0, y1, wy), (x0, x1, wx) = (
        _linear_taps(pixels // shape[1], rows, shape[0]),
        _linear_taps(pixels % shape[1], cols, shape[1]),
    )
    top = fine[:, y0, x0] * (1 - wx) + fine[:, y0, x1] * wx
    bottom = fine[:, y1, x0] * (1 - wx) + fine[:, y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).T.astype(np.float32)


def _linear_taps(out: np.ndarray, size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    source = np.clip((out + 0.5) * (size_in / size_out) - 0.5, 0, size_in - 1)
    low = np.floor(source).astype(np.int64)
    return low, np.minimum(low + 1, size_in - 1), (source - low).astype(np.float32)


MASK_OFFSETS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # tried on each anomaly class's score
OFFSET_GAIN = 0.01  # the held-out mean IoU that offsets must add over none
# The share of the held-out offsets served: the held-out refinements learn from two thirds of the masks and
# paint less than the final one, which learns from all of them. Measured (in-process, the mask rows, 2 seeds):
# whole offsets overpainted pin-holes (pcb_scans IoU 0.85 -> 0.76, 0.73 -> 0.47) and tiles' blow-holes (0.62
# -> 0.39); half of them kept most of the gain (docs/quality.md, "Mask offsets chosen held out").
OFFSET_SHARE = 0.5


def mean_iou(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray, count: int) -> float:
    """The mean IoU over the anomaly classes present in `targets` of the pixels' best classes, each pixel
    counted `weights` times."""
    predicted = scores.argmax(1)
    ious = []
    for index in range(1, count):
        truth, painted = targets == index, predicted == index
        if not truth.any():
            continue
        union = weights[truth | painted].sum()
        ious.append(weights[truth & painted].sum() / union)
    return float(np.mean(ious)) if ious else 0.0


def choose_offsets(scores: np.ndarray, targets: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """Per-class offsets [count] (the background's 0) from MASK_OFFSETS by coordinate ascent, class by class
    twice over, for mean_iou; none unless they add OFFSET_GAIN; OFFSET_SHARE of them."""
    offsets = np.zeros(count, np.float32)
    start = best = mean_iou(scores, targets, weights, count)
    for _ in range(2):
        for index in range(1, count):
            for value in MASK_OFFSETS:
                trial = offsets.copy()
                trial[index] = value
                result = mean_iou(scores + trial, targets, weights, count)
                if result > best + 1e-9:
                    best, offsets = result, trial
    return offsets * np.float32(OFFSET_SHARE) if best >= start + OFFSET_GAIN else np.zeros(count, np.float32)


def widened(marked: np.ndarray, reach: int) -> np.ndarray:
    """The pixels within `reach` of a marked one (a dilation by a square of side 2 reach + 1), down the rows
    and then along them: the same as Pillow's MaxFilter, about 70x faster at 608 px."""
    height, width = marked.shape
    padded = np.pad(marked, ((reach, reach), (0, 0)))
    tall = np.zeros_like(marked)
    for offset in range(2 * reach + 1):
        tall |= padded[offset : offset + height]
    padded = np.pad(tall, ((0, 0), (reach, reach)))
    wide = np.zeros_like(marked)
    for offset in range(2 * reach + 1):
        wide |= padded[:, offset : offset + width]
    return wide


def _largest(values: np.ndarray, count: int) -> np.ndarray:
    """The indices of the `count` largest of `values` (none negative), in no order. Where many are 0, the
    zeros are left out first: np.argpartition took about 65 ms instead of 3 on some binarised scans' contrasts,
    400,000 pixels of which 60 % are 0 (a scan project of 150 images spent 1.2 s of its training there);
    over the values above 0 it takes 1-2 ms."""
    above = np.count_nonzero(values)  # none is negative: the ones above 0, counted without listing them
    if above <= count or above > 0.9 * len(values):
        return np.argpartition(values, -count)[-count:]
    positive = np.flatnonzero(values)
    return positive[np.argpartition(values[positive], -count)[-count:]]


def _some(indices: np.ndarray, most: int, rng: np.random.Generator) -> np.ndarray:
    """`indices`, or a random `most` of them."""
    return indices if len(indices) <= most else rng.choice(indices, most, replace=False)


def fit_logistic(
    features: np.ndarray, targets: np.ndarray, count: int, balance: float, steps: int = 150
) -> Head:
    """Multinomial logistic regression (weights [count, channels], bias [count]) on standardised features,
    by gradient descent with momentum; the standardisation is folded into the weights. Classes are
    weighted by (share of the majority) ** `balance`: 0 counts every sample alike. Every anomaly sample is
    used, and at most 12 background samples for each (at least 20,000)."""
    rng = np.random.default_rng(0)
    background = np.flatnonzero(targets == 0)
    anomalous = np.flatnonzero(targets != 0)
    keep = max(12 * len(anomalous), 20_000)
    if len(background) > keep:
        chosen = np.sort(np.concatenate([anomalous, rng.choice(background, keep, replace=False)]))
        features, targets = features[chosen], targets[chosen]
    mean, std = features.mean(0, dtype=np.float64), features.std(0, dtype=np.float64) + 1e-6
    # samples as columns [channels, samples]: the softmax then reduces across a few long rows, and the
    # products are wide rather than tall and narrow (4-5x faster on 2 cores than samples as rows)
    z = ((features - mean) / std).astype(np.float32).T.copy()
    frequency = np.bincount(targets, minlength=count).astype(np.float64) + 1.0
    sample_weight = ((len(targets) / (count * frequency)) ** balance)[targets].astype(np.float32)
    if count == 2:
        weights, bias = _descend_binary(z, targets, sample_weight, steps)
    else:
        weights, bias = _descend(z, targets, count, sample_weight, steps)
    folded = weights.astype(np.float64) / std
    return folded.astype(np.float32), (bias - folded @ mean).astype(np.float32)


STEP, MOMENTUM, DECAY = 0.5, 0.9, 1e-3  # the gradient descent of fit_logistic


def _descend(z: np.ndarray, targets: np.ndarray, count: int, sample_weight: np.ndarray, steps: int) -> Head:
    """Softmax regression by gradient descent with momentum on standardised samples z [channels, samples]."""
    weights = np.zeros((count, z.shape[0]), dtype=np.float32)
    bias = np.zeros(count, dtype=np.float32)
    onehot = np.eye(count, dtype=np.float32)[targets].T.copy()
    velocity_w, velocity_b = np.zeros_like(weights), np.zeros_like(bias)
    samples_first = z.T.copy()  # the gradient's product runs along the samples: twice as fast from rows
    for _ in range(steps):
        gradient = weights @ z
        gradient += bias[:, None]
        gradient -= gradient.max(0)
        np.exp(gradient, out=gradient)
        gradient /= gradient.sum(0)
        gradient -= onehot  # probabilities less targets: the loss's gradient by the logits
        gradient *= sample_weight
        velocity_w = MOMENTUM * velocity_w - STEP * (
            (gradient @ samples_first) / z.shape[1] + DECAY * weights
        )
        velocity_b = MOMENTUM * velocity_b - STEP * gradient.mean(1)
        weights += velocity_w
        bias += velocity_b
    return weights, bias


def _descend_binary(z: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray, steps: int) -> Head:
    """_descend for two classes, in half the work: from zero, the two classes' gradients are opposite at every
    step, so their weights stay opposite (w0 = -w1, b0 = -b1) and the softmax is a sigmoid of 2 (w1 z + b1)."""
    anomalous = (targets != 0).astype(np.float32)
    weights = np.zeros(z.shape[0], dtype=np.float32)
    bias = np.float32(0.0)
    velocity_w, velocity_b = np.zeros_like(weights), np.float32(0.0)
    for _ in range(steps):
        logit = weights @ z
        logit += bias
        gradient = 0.5 * (1.0 + np.tanh(logit))  # sigmoid(2 logit), without overflow
        gradient -= anomalous
        gradient *= sample_weight
        velocity_w = MOMENTUM * velocity_w - STEP * ((z @ gradient) / z.shape[1] + DECAY * weights)
        velocity_b = np.float32(MOMENTUM * velocity_b - STEP * gradient.mean())
        weights += velocity_w
        bias += velocity_b
    return np.stack([-weights, weights]), np.array([-bias, bias], dtype=np.float32)


class PixelCounts:
    """True positives, false positives and false negatives per anomaly class over the test images,
    compared at each image's own size in the aligned frame the model saw."""

    def __init__(self, classes: list[tuple[str, str]]) -> None:
        self.classes = classes
        self.counts = {index: np.zeros(3) for index in range(1, len(classes) + 1)}

    def add(self, scores: np.ndarray, item: Seen, fill: bool = False) -> None:
        """`fill`: the model fills its pieces' gaps (part_gap.fill_gaps) from the item's gap map."""
        from server.inference.masks import class_labels
        from server.inference.part_gap import fill_gaps, gap_at

        size = item.size
        predicted = class_labels(scores[0], size)  # as DetectAnomalies draws the mask
        if fill and item.gap is not None and predicted.any():
            predicted = fill_gaps(predicted, gap_at(item.gap, size))
        truth = mask_classes(item.sample, self.classes, size, item.placement)
        count = len(self.classes) + 1
        confusion = np.bincount(
            predicted.ravel().astype(np.int64) * count + truth.ravel(), minlength=count * count
        ).reshape(count, count)  # [predicted, true]
        for index, counts in self.counts.items():
            hits = confusion[index, index]
            counts += [hits, confusion[index].sum() - hits, confusion[:, index].sum() - hits]

    def merge(self, other: PixelCounts) -> None:
        """Adds the counts of `other` (images counted elsewhere)."""
        for index, counts in other.counts.items():
            self.counts[index] += counts

    def metrics(self) -> list[dict[str, Any]]:
        entries = []
        for index, (name, _) in enumerate(self.classes, start=1):
            tp, fp, fn = (float(value) for value in self.counts[index])
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
            entries.append(
                {"ClassName": name, "Precision": precision, "Recall": recall, "F1Score": f1, "AIOU": iou}
            )
        return entries
