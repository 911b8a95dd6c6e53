"""Choosing the model from the data: candidates compared by cross-validation on the training images only.

Each candidate is a way of seeing the images: the working resolution, aligned or not, and a global memory
(a patch may match a normal patch anywhere) or a local one (only near the same place in the normal
images: fixtured parts, boards).
The normal training images are dealt into folds; each fold is scored by a memory of the other folds'
normal patches, and each anomalous image by the memory of the fold it was dealt to, so every image is
scored once by a memory that has never seen it. From those held-out statistics, three decision rules
compete: the memory's peak alone, and logistic regressions learnt from the labelled anomalies (on the
map's statistics, or on those and the pooled features, except where parts may come turned), themselves
cross-validated over the same folds (two more where they apply: one reads the likeness to the labelled
defects' patches, and with masks one reads the segmentation head's evidence, offered once the candidate
is chosen; see offer_mask_rule).
The winner has the best merit, its memory's held-out AUROC plus half of what its learnt rule adds (see
`merit`), with margins: a larger working size (dearer to serve), unaligned parts (which lose the
robustness alignment gives) and each cell's tone must do clearly better, turned copies (which add it) win
unless clearly worse; equal merits go to the larger separation between the classes, and where the training
images are already separated the larger size must keep the classes clearly further apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from server.training.decision import (
    COMPONENTS,
    Combination,
    auroc,
    blur,
    fit_combination,
    likeness,
    map_statistics,
    memory_only,
    separation,
    unsquared,
)
from server.training.memory import Nearest, QuantizedNearest, coreset_rows

FOLDS = 5
MIN_ANOMALIES_TO_LEARN = 6  # fewer labelled anomalies than this: the memory's peak decides alone
SELECTION_IMAGES = 30  # images of each label the candidates are compared on, at most
REACH = 1  # how far (in cells of 8 px) a local match may lie: one cell (1.25-2.5 % of the image), nine
# comparisons per remembered image and place; a candidate matching in place only (0) is tried after it


@dataclass(frozen=True)
class Candidate:
    long_side: int  # the working size's longer side, in pixels
    local: bool = False  # a local memory (matches near the same place) rather than a global one
    cost: int = 0  # its margin class: it must beat the best so far by MARGIN[cost] (negative: preferred)
    turned: bool = False  # the memory also holds turned copies of the normal images
    aligned: bool = False  # parts are centred and turned upright first (plain backgrounds only)
    tone: bool = False  # the features also hold each cell's tone against its surroundings (graphs._tone)
    reach: int = REACH  # a local memory: how far (in cells) a match may lie from the same place
    enlarged: bool = False  # the working size is larger than the pictures' own (trainer.high_side)

    def name(self) -> str:
        where = "local (position-aware)" if self.local else "global"
        matched = " matched in place" if self.local and not self.reach else ""
        side = f"{self.long_side} px" + (" (pictures enlarged)" if self.enlarged else "")
        return (f"{side}, {'aligned parts, ' if self.aligned else ''}{where} memory{matched}"
                + (" with turned copies" if self.turned else "") + (", with tone" if self.tone else ""))  # fmt: skip


LOCAL_COST = 1  # no dearer to serve: it must only do better
ALIGNMENT_COST = 4  # unaligned parts must do clearly better: alignment also copes with turned parts
HIGH_SIDE_COST = 2  # four times the features: it must do clearly better
TURNED_COST = 3  # robust to turned parts: it wins unless clearly worse
TONE_COST = 5  # a second way of seeing the same cells: it must do clearly better
ENLARGED_COST = 6  # enlarged pictures show no detail of their own: better by more (trainer.high_side)
MARGIN = {
    0: 0.0,
    LOCAL_COST: 0.0,
    HIGH_SIDE_COST: 0.01,
    TURNED_COST: -0.01,
    ALIGNMENT_COST: 0.01,
    TONE_COST: 0.01,
    # by less, enlarged pictures won on noise as often as on detail (second-seed solar cells: held out 0.78
    # against 0.76, tested 0.871 against 0.938; the synthetic boards at 224 and 300 px won by 0.17-0.30)
    ENLARGED_COST: 0.03,
}


@dataclass
class Images:
    """One candidate's view of the training images: patch features, pooled features, labels, folds."""

    maps: list[np.ndarray]  # [patches, channels] per image, normals first
    turned: list[np.ndarray]  # per normal image (in order), the features of its turned copies, or none
    labels: np.ndarray  # True for anomalous
    folds: np.ndarray  # the fold each image was dealt to
    grid: tuple[int, int]
    area: np.ndarray | None = None  # aligned parts: the cells the part lies in (part_area), the ones scored
    # per anomalous image with a mask, its patches away from what the mask paints (trainer.clear_patches):
    # normal surface a global memory keeps too
    clear: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def pooled(self) -> np.ndarray:
        return np.stack([patches.mean(0) for patches in self.maps]).astype(np.float64)

    def normal_parts(self, clear: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
        """What a memory is made of: each normal image's patches, then its turned copies', then (with
        `clear`) the clear patches of anomalous images, and the index of the image each part belongs to."""
        normal = np.flatnonzero(~self.labels)
        cleared = np.array(sorted(self.clear) if clear else [], dtype=int)
        parts = [self.maps[i] for i in normal] + self.turned + [self.clear[i] for i in cleared]
        return parts, np.concatenate([normal, normal[: len(self.turned)], cleared])

    def subset(self, indices: np.ndarray | None) -> Images:
        """The images at `indices` (all when None), for judging rules on them (no turned copies)."""
        if indices is None:
            return self
        return Images([self.maps[i] for i in indices], [], self.labels[indices], self.folds[indices],
                      self.grid, self.area)  # fmt: skip


@dataclass
class Outcome:
    """A candidate's held-out results and the rule that won on it."""

    candidate: Candidate
    stats: np.ndarray  # held-out [peak, top, mean, spread] per image
    maps: list[np.ndarray] = field(default_factory=list)  # held-out blurred distance map per image
    rule: str = "memory"
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))  # held-out scores under `rule`
    auroc: float = 0.0
    separation: float = 0.0
    rules: dict[str, float] = field(default_factory=dict)  # held-out AUROC of every rule
    seconds: float = 0.0
    # per place, the normal images' typical distance (mean, scale [rows, cols]) that `maps` and `stats` are
    # measured against; None when the maps are the distances themselves
    location: tuple[np.ndarray, np.ndarray] | None = None
    # held-out likeness to the labelled defects per image (see prototype_evidence), and the defect patches
    # of every labelled anomaly (served when the rule uses them); None with too few labelled anomalies
    evidence: np.ndarray | None = None
    prototypes: np.ndarray | None = None
    # held-out evidence of the segmentation head per image (see offer_mask_rule); None without masks
    mask_evidence: np.ndarray | None = None


def deal(labels: np.ndarray, folds: int = FOLDS) -> np.ndarray:
    """Fold numbers: the normal images dealt round-robin, the anomalous ones likewise."""
    dealt = np.zeros(len(labels), dtype=int)
    for value in (False, True):
        where = np.flatnonzero(labels == value)
        dealt[where] = np.arange(len(where)) % folds
    return dealt


def fold_count(normals: int) -> int:
    return max(2, min(FOLDS, normals))


LOCAL_IMAGES = 32  # normal images a local memory keeps at most (its size grows with each one)


def memory_for(images: Images, exclude: int | None, cap: int, local: bool) -> np.ndarray:
    """The memory of the normal images of every fold but `exclude` (with their turned copies). Global:
    their patches [patches, channels], thinned as the final memory of all folds is thinned to `cap` (the
    same share kept, so held-out scores meet a memory as dense as the served one). Local: their feature
    maps [images, channels, rows, cols], at most LOCAL_IMAGES of them, evenly chosen."""
    every, owners = images.normal_parts(clear=not local)  # a local memory keeps whole images
    kept = images.folds[owners] != exclude
    parts = [part for part, keep in zip(every, kept, strict=True) if keep]
    if local:
        rows, cols = images.grid
        grids = [
            part[start : start + rows * cols] for part in parts for start in range(0, len(part), rows * cols)
        ]
        chosen = np.linspace(0, len(grids) - 1, min(LOCAL_IMAGES, len(grids))).round().astype(int)
        return np.stack([grids[i].T.reshape(-1, rows, cols) for i in chosen]).astype(np.float32)
    return global_memory(parts, owners[kept], cap / sum(len(part) for part in every))[0]


def global_memory(parts: list[np.ndarray], owners: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """The patches of `parts` thinned to `share` of them, and the owner (image index) of each kept patch.
    Only the kept patches are copied (a fold's parts weigh tens of megabytes)."""
    parts = [part.astype(np.float32, copy=False) for part in parts]
    sizes = np.array([len(part) for part in parts])
    rows = coreset_rows(parts, max(1, round(int(sizes.sum()) * min(1.0, share))))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    part_of = np.searchsorted(starts, rows, side="right") - 1  # rows are in order, so the parts are too
    bounds = np.searchsorted(part_of, np.arange(len(parts) + 1))
    patches = np.concatenate(
        [parts[k][rows[bounds[k] : bounds[k + 1]] - starts[k]] for k in range(len(parts))]
    )
    return patches, np.repeat(owners, sizes)[rows]


def left_out_maps(
    images: Images, cap: int, scored: np.ndarray | None = None, quantized: bool = False, exact: int = 0
) -> list[np.ndarray]:
    """Like held_out_maps for a global memory, but nearer to what serving sees: every image is scored by
    the served memory itself (all normal images, thinned to `cap`), a normal image without the patches
    that came from it or its turned copies. Held out by folds, a normal image meets a memory a fifth
    smaller than the served one and scores higher than served normal images do, which set the threshold
    too high; an anomalous image likewise without its own clear patches. `quantized`: searched as the
    served model searches (memory.QuantizedNearest, the last `exact` channels in floats)."""
    parts, owners_of_parts = images.normal_parts()
    memory, owners = global_memory(parts, owners_of_parts, cap / sum(len(part) for part in parts))
    nearest = QuantizedNearest(memory, owners, exact) if quantized else Nearest(memory)
    indices = np.arange(len(images.maps)) if scored is None else scored
    remembered = set(owners_of_parts.tolist())
    return [
        unsquared(nearest.squared(images.maps[i], owners == i if i in remembered else None)).reshape(
            images.grid
        )
        for i in indices
    ]


class Searcher:
    """Squared nearest distances for one image's patches [patches, channels], against a global memory (in
    numpy, or `quantized` as the served model searches it) or a local one (through the very graph nodes the
    served model holds)."""

    def __init__(
        self,
        memory: np.ndarray,
        grid: tuple[int, int],
        reach: int = REACH,
        quantized: bool = False,
        exact: int = 0,
    ) -> None:
        self.grid = grid
        if memory.ndim == 4:
            from server.training.graphs import local_memory_tensors

            self.session = _local_session(memory.shape[1:], reach)
            self.memory = local_memory_tensors(memory)
        else:
            self.nearest = QuantizedNearest(memory, exact=exact) if quantized else Nearest(memory)

    def squared(self, patches: np.ndarray) -> np.ndarray:
        if not hasattr(self, "session"):
            return self.nearest.squared(patches)
        rows, cols = self.grid
        grid = np.ascontiguousarray(patches.T.reshape(1, -1, rows, cols), dtype=np.float32)
        (found,) = self.session.run(None, {"features": grid, **self.memory})
        return found


@functools.lru_cache(maxsize=4)
def _local_session(grid: tuple[int, int, int], reach: int):
    """One session per grid and radius: each fold's local memory is fed to it."""
    from server.training.graphs import local_nearest_graph
    from server.training.samples import cpu_session

    return cpu_session(local_nearest_graph(grid, reach).SerializeToString())


def served_quantized(candidate: Candidate, located: bool = False) -> bool:
    """Whether the model exports this candidate's memory searched in 8-bit integers (each cell's tone, if it
    has one, in floats: exact_channels): a global memory whose maps are not measured against each place's
    normal level, where the integers' error (about 1 % of |p|^2 in a squared distance) would swamp a quiet
    place's variation, which the level divides by (docs/performance.md)."""
    return not candidate.local and not located


def exact_channels(candidate: Candidate) -> int:
    """The trailing channels a quantized search keeps in floats: each cell's tone spans over ten times the
    trunk's range, which one scale per image would leave a few levels (graphs._chunk_minima)."""
    from server.training.graphs import TONE_CHANNELS

    return TONE_CHANNELS if candidate.tone else 0


def searched_quantized(candidate: Candidate) -> bool:
    """Whether held-out distances are searched as served_quantized exports them: where the candidate's maps
    cannot be measured per place (it is not aligned), so its served search is the integers'."""
    return served_quantized(candidate) and not candidate.aligned


def held_out_maps(
    images: Images,
    cap: int,
    candidate: Candidate,
    progress: Callable[[str], None] = lambda message: None,
    scored: np.ndarray | None = None,
) -> list[np.ndarray]:
    """The distance map [rows, cols] of each image in `scored` (indices; all by default), from the memory
    of the folds it is not in: each patch's distance to its nearest remembered patch, not yet blurred."""
    wanted = np.zeros(len(images.maps), bool)
    wanted[np.arange(len(images.maps)) if scored is None else scored] = True
    maps: list[np.ndarray] = [np.zeros(0)] * len(images.maps)
    folds = int(images.folds.max()) + 1
    quantized, exact = searched_quantized(candidate), exact_channels(candidate)
    for fold in range(folds):
        progress(f"fold {fold + 1} of {folds}")
        memory = memory_for(images, fold, cap, candidate.local)
        searcher = Searcher(memory, images.grid, candidate.reach, quantized, exact)
        for index in np.flatnonzero((images.folds == fold) & wanted):
            maps[index] = unsquared(searcher.squared(images.maps[index])).reshape(images.grid)
    return [maps[index] for index in np.flatnonzero(wanted)]


def sample(labels: np.ndarray, per_label: int = SELECTION_IMAGES) -> np.ndarray | None:
    """Which images the candidates are compared on: at most `per_label` of each label, evenly spread
    (None: all of them). A large project's comparison then costs what a usual one does; the chosen
    candidate is scored again on every image."""
    if max((~labels).sum(), labels.sum()) <= per_label:
        return None
    chosen = []
    for value in (False, True):
        where = np.flatnonzero(labels == value)
        chosen.append(where[np.linspace(0, len(where) - 1, min(per_label, len(where))).round().astype(int)])
    return np.sort(np.concatenate(chosen))


def judge(outcome: Outcome, images: Images, learn: bool) -> None:
    """Fills in the outcome's best rule, its held-out scores, AUROC and separation."""
    labels = images.labels
    pooled = images.pooled
    candidates = {"memory": outcome.stats[:, 0]}
    if learn:
        candidates["supervised"] = nested_scores(outcome.stats, pooled, labels, images.folds, components=0)
        if not outcome.candidate.turned:
            # Pooled features tell which way a texture or a part is turned: where parts may come turned (a
            # memory with turned copies), a rule reading them flags every turned normal image (texture
            # photos turned: 12 of 15 normal ones, AUROC 0.880 against 0.987 without it)
            candidates["supervised+pooled"] = nested_scores(
                outcome.stats, pooled, labels, images.folds, components=COMPONENTS
            )
        if outcome.evidence is not None:
            candidates[PROTOTYPE_RULE] = nested_scores(
                rule_statistics(outcome, PROTOTYPE_RULE), pooled, labels, images.folds, components=0
            )
    outcome.rules = {rule: auroc(scores, labels) for rule, scores in candidates.items()}
    best = "memory"
    for rule in candidates:  # in order of cost: a learnt rule must do better, not as well
        if better(outcome.rules[rule], separation(candidates[rule], labels), outcome.rules[best],
                  separation(candidates[best], labels), margin=0.0):  # fmt: skip
            best = rule
    outcome.rule = best
    outcome.scores = candidates[best]
    outcome.auroc = outcome.rules[best]
    outcome.separation = separation(candidates[best], labels)


def better(auc: float, sep: float, best_auc: float, best_sep: float, margin: float) -> bool:
    """Whether a held-out AUROC `auc` beats `best_auc` by `margin` (a negative margin: a preference that
    wins unless it does worse by more); equal AUROCs with no margin go to the clearly larger separation."""
    if auc > best_auc + margin + 1e-9:
        return True
    return abs(auc - best_auc) <= 1e-9 and margin == 0.0 and sep > best_sep * 1.1


def nested_scores(
    stats: np.ndarray, pooled: np.ndarray, labels: np.ndarray, folds: np.ndarray, components: int
) -> np.ndarray:
    """Held-out scores of the learnt rule: each fold scored by a regression fitted on the others."""
    scores = np.zeros(len(labels))
    for fold in range(int(folds.max()) + 1):
        inside = folds == fold
        if labels[~inside].all() or not labels[~inside].any():
            scores[inside] = stats[inside, 0]
            continue
        combination = fit_combination(stats[~inside], pooled[~inside], labels[~inside], components)
        scores[inside] = combination.score(stats[inside], pooled[inside])
    return scores


def final_combination(outcome: Outcome, images: Images) -> Combination:
    channels = images.maps[0].shape[1]
    if outcome.rule == "memory":
        return memory_only(channels)
    components = COMPONENTS if outcome.rule == "supervised+pooled" else 0
    return fit_combination(rule_statistics(outcome, outcome.rule), images.pooled, images.labels, components)


PROTOTYPE_RULE = "supervised+prototypes"
PROTOTYPE_CELLS = 3  # patches taken from each labelled anomaly: where its held-out map peaks


def rule_statistics(outcome: Outcome, rule: str) -> np.ndarray:
    """The image statistics a rule reads: the map's four, and for PROTOTYPE_RULE the likeness to the
    labelled defects beside them; MASK_RULE reads the map's peak and the masks' evidence."""
    if rule == PROTOTYPE_RULE and outcome.evidence is not None:
        return np.column_stack([outcome.stats, outcome.evidence])
    if rule == MASK_RULE and outcome.mask_evidence is not None:
        return np.column_stack([outcome.stats[:, 0], outcome.mask_evidence])
    return outcome.stats


MASK_RULE = "supervised+masks"
OTHER_SIZE_MARGIN = 0.05  # how much better the masks' rule must do at the other working size (trainer._train)


def offer_mask_rule(outcome: Outcome, images: Images, evidence: np.ndarray) -> None:
    """With masks, a fifth decision rule: a logistic regression on the map's peak and each image's evidence
    from the segmentation head, which learnt from the masks what the labelled defects look like (pixel by
    pixel, where the other rules learn from one label per image). The map's other statistics are left out:
    with them the rule weighed how spread out a map is, which differs between held-out maps and the served
    memory's, and its threshold fell among the normal test images (150 boards: 26 false positives of 75).
    `evidence` is held out (a head fitted without the image's group of folds); the rule is scored by the same nested
    cross-validation and replaces the chosen rule where it does better (a tie: where it separates the
    classes clearly better); preferring it on near-ties cost test F1 on thin cracks (docs/quality.md)."""
    labels = images.labels
    if int(labels.sum()) < MIN_ANOMALIES_TO_LEARN:
        return
    outcome.mask_evidence = evidence
    scores = nested_scores(rule_statistics(outcome, MASK_RULE), images.pooled, labels, images.folds, 0)
    outcome.rules[MASK_RULE] = auroc(scores, labels)
    if better(outcome.rules[MASK_RULE], separation(scores, labels), outcome.auroc, outcome.separation, 0.0):
        outcome.rule = MASK_RULE
        outcome.scores = scores
        outcome.auroc = outcome.rules[MASK_RULE]
        outcome.separation = separation(scores, labels)


def defect_patches(images: Images, distances: list[np.ndarray], anomalous: np.ndarray) -> np.ndarray:
    """The patches [n, channels] farthest from the normal memory in these anomalous images (by their
    held-out distances): without masks, the best guess of where each labelled defect is."""
    picked = []
    for index in anomalous:
        cells = np.argsort(distances[index].reshape(-1))[-PROTOTYPE_CELLS:]
        picked.append(images.maps[index][cells])
    return np.concatenate(picked).astype(np.float32)


def prototype_evidence(images: Images, distances: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Few-shot prototypes of the labelled defects. A patch's likeness to a known defect is
    d * d / (d + e), d its distance to the normal memory and e to the nearest defect patch of the labelled
    anomalies: near 0 for a normal patch, about d / 2 for a patch unlike anything seen (an unusual normal
    patch, or a new kind of defect, which the memory's peak still catches), near d for a patch like a
    known defect. Each image's evidence is its patches' largest likeness, the defect patches taken from
    the labelled anomalies of the other folds. Returns the held-out evidence per image and the defect
    patches of every labelled anomaly; None when some fold has no labelled anomaly elsewhere."""
    anomalous = np.flatnonzero(images.labels)
    evidence = np.zeros(len(distances))
    for fold in np.unique(images.folds):
        donors = anomalous[images.folds[anomalous] != fold]
        if not len(donors):
            return None
        nearest = Nearest(defect_patches(images, distances, donors))
        for index in np.flatnonzero(images.folds == fold):
            to_defects = unsquared(nearest.squared(images.maps[index]))
            evidence[index] = likeness(distances[index].reshape(-1), to_defects).max()
    return evidence, defect_patches(images, distances, anomalous)


def evaluate(
    candidate: Candidate,
    images: Images,
    cap: int,
    progress: Callable[[str], None] = lambda message: None,
    scored: np.ndarray | None = None,
    located: bool | None = None,
    leave_one_out: bool = False,
    edges: bool = False,
) -> Outcome:
    """One candidate's held-out outcome over the images `scored` (all by default); `progress` hears of
    each fold. The maps are judged as they are and, for candidates whose places correspond across
    images (aligned parts, a local memory), measured against each place's normal level (see
    `located_maps`); the better of the two stays, unless `located` says which. With `leave_one_out` a
    global memory's images are scored as `left_out_maps` scores them instead of by folds; with `edges` the
    maps' outer ring of cells reads its inward neighbours (decision.blur)."""
    begin = time.monotonic()
    if leave_one_out and not candidate.local:  # see left_out_maps
        distances = left_out_maps(
            images, cap, scored, searched_quantized(candidate), exact_channels(candidate)
        )
    else:
        distances = held_out_maps(images, cap, candidate, progress, scored)
    if images.area is not None:
        distances = [grid * images.area for grid in distances]
    maps = [blur(grid, edges) for grid in distances]
    images = images.subset(scored)  # judged on the scored images alone
    learn = int(images.labels.sum()) >= MIN_ANOMALIES_TO_LEARN
    evidence, prototypes = (prototype_evidence(images, distances) if learn else None) or (None, None)
    outcome = Outcome(candidate, np.stack([map_statistics(blurred) for blurred in maps]), maps,
                      evidence=evidence, prototypes=prototypes)  # fmt: skip
    if located is not True:
        judge(outcome, images, learn)
    # places correspond across images only where the candidate assumes so (aligned parts, a local memory)
    placed = candidate.aligned or candidate.local
    if located or (located is None and placed and (~images.labels).sum() >= 2):
        moved, location = located_maps(maps, images.labels, images.folds)
        other = Outcome(candidate, np.stack([map_statistics(m) for m in moved]), moved, location=location,
                        evidence=evidence, prototypes=prototypes)  # fmt: skip
        judge(other, images, learn)
        if located or better(
            other.auroc, other.separation, outcome.auroc, outcome.separation, LOCATED_MARGIN
        ):
            outcome = other
    outcome.seconds = time.monotonic() - begin
    return outcome


LOCATED_MARGIN = 0.005  # maps measured against each place's normal level must do better, not as well


def location_of(maps: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each place's normal level in these normal images' maps: (mean, scale), the scale kept from
    vanishing where the normals agree (at least the typical place's spread) and both smoothed by the
    served blur, so a part a cell off its usual place is not measured against a neighbour's level."""
    stack = np.stack(maps).astype(np.float64)
    mean, spread = blur(stack.mean(0)), blur(stack.std(0))
    floor = float(np.median(spread)) + 1e-6
    return mean.astype(np.float32), np.sqrt(spread**2 + floor**2).astype(np.float32)


def located_maps(
    maps: list[np.ndarray], labels: np.ndarray, folds: np.ndarray
) -> tuple[list[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Held-out maps measured against each place's normal level: (map - mean) / scale, the level of each
    image's fold taken from the other folds' normal maps; and the level of all normal maps (served)."""
    normal = ~labels
    moved = []
    for index, grid in enumerate(maps):
        others = [maps[i] for i in np.flatnonzero(normal & (folds != folds[index]))]
        mean, scale = location_of(others if len(others) >= 2 else [maps[i] for i in np.flatnonzero(normal)])
        moved.append((grid - mean) / scale)
    return moved, location_of([maps[i] for i in np.flatnonzero(normal)])


RULE_TRUST = 0.5  # the share of a learnt rule's gain over the memory alone that counts between candidates


def merit(outcome: Outcome) -> float:
    """What a candidate is compared by: the held-out AUROC of its memory alone, plus RULE_TRUST of what its
    learnt rule adds. On a few dozen images a rule's held-out AUROC is noisy; a way of seeing whose memory
    sees nothing should not win by a rule that makes up for it (scored again on the decision images, such
    a rule fell from 0.80 to 0.51 on grey boards)."""
    alone = outcome.rules.get("memory", outcome.auroc)
    return alone + RULE_TRUST * (outcome.auroc - alone)


def wins(challenger: Outcome, best: Outcome | None) -> bool:
    """Whether `challenger` replaces `best`: a dearer candidate must beat its merit by its margin. Unaligned
    parts must do clearly better than aligned ones both ways: an aligned candidate that comes after an
    unaligned best wins back unless clearly worse (grey gears: the images as they are won held out by
    1.0 against 0.9911 and scored 0.907 on test photos, the aligned local memory 0.987). Where both
    separate the training images, the larger working size wins by separating them CLEARER times further
    (second-seed tiles: 1.0 held out at 320 and 576 px; 576 px caught every test tile, 320 px left two
    normal tiles above its threshold)."""
    if best is None:
        return True
    margin = MARGIN.get(challenger.candidate.cost, 0.0)
    if (
        challenger.candidate.cost in (HIGH_SIDE_COST, ENLARGED_COST)
        and min(merit(challenger), merit(best)) >= SATURATED
    ):
        # both separate the training images: the larger size must keep them clearly further apart (a
        # defect smaller than the labelled ones shows more clearly at the images' own size, or enlarged)
        return challenger.separation > CLEARER * best.separation
    if challenger.candidate.aligned and not best.candidate.aligned:
        margin -= MARGIN[ALIGNMENT_COST]
    return better(merit(challenger), challenger.separation, merit(best), best.separation, margin)


SATURATED = 0.995  # a held-out AUROC this high: the training images are separated
CLEARER = 1.25  # how much further apart a saturated larger size must keep the classes (see wins)
CLOSE_MEMORIES = 0.05  # held-out AUROCs this close at the smaller size do not tell global from local


def larger_size_bases(outcomes: list[Outcome], best: Outcome) -> list[Candidate]:
    """The ways of seeing the larger working size is tried in. The chosen one when it holds turned copies:
    they were preferred for a robustness to turned parts that held-out scores on photos taken alike cannot
    show (a texture lost it to a local memory at the larger size, and flagged every turned photo). Else the
    one whose memory alone did best, with the other memory (global or local) beside it where theirs came
    within CLOSE_MEMORIES: which of two close memories sees a few pixels of copper best at the larger size is
    a coin's toss at the smaller one (second-seed boards: global 0.787, local 0.760 at 320 px; at 608 px the
    global one reached 0.658, the local one 0.907). The learnt rules are fitted again there, and their
    held-out AUROCs on a few dozen images are too close to one another to pick the way of seeing by. Never
    with tone: carried to the larger size it won held-out comparisons by noise and lost on test images
    (docs/quality.md)."""
    if best.candidate.turned:
        return [replace(best.candidate, tone=False)]
    seeing = [outcome for outcome in outcomes if not outcome.candidate.tone]
    # Among equal memories, the one chosen so far, else the clearer separation; not the first tried: JPEG
    # gears separated at 320 px as they are and aligned, and the larger size went to the photos as they are,
    # not to the chosen aligned window (test photos 0.964 -> 1.000 with the window enlarged).
    first = max(seeing, key=lambda outcome: (outcome.rules["memory"], outcome is best, outcome.separation))
    others = [outcome for outcome in seeing if outcome.candidate.local != first.candidate.local
              and not outcome.candidate.turned and outcome.candidate.aligned == first.candidate.aligned]  # fmt: skip
    bases = [first.candidate]
    if others:
        other = max(others, key=lambda outcome: outcome.rules["memory"])
        if other.rules["memory"] >= first.rules["memory"] - CLOSE_MEMORIES:
            bases.append(other.candidate)
    return bases


def summary(outcomes: list[Outcome], chosen: Outcome) -> dict:
    """What the evaluation files and the training log say about the choice."""
    return {
        "Chosen": {"Candidate": chosen.candidate.name(), "DecisionRule": chosen.rule,
                   "PerPlaceLevels": chosen.location is not None,
                   "CrossValidatedROCAUC": round(chosen.auroc, 4)},
        "Candidates": [{"Candidate": o.candidate.name(), "DecisionRule": o.rule,
                        "PerPlaceLevels": o.location is not None,
                        "CrossValidatedROCAUC": {rule: round(value, 4) for rule, value in o.rules.items()},
                        "Separation": round(o.separation, 3), "Seconds": round(o.seconds, 1)}
                       for o in outcomes],
    }  # fmt: skip
