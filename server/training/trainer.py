"""Train an anomaly model from labelled images: EfficientNet-Lite0 patch features and a memory of normal
patches, exported as one ONNX graph that serves through the same runtime as any bundle.

- Features: the trunk's stride-8 map (40 channels) with the stride-16 map (112) upsampled beside it,
  3x3 average pooled: 152 values per patch of the input, resized to the working size (see below). The
  trunk is Lite0; LOOKOUTVISION_EMULATOR_TRUNK=lite1 or lite2 swaps in a larger one for experiments
  (server/training/efficientnet.py; measured in docs/quality.md, "Larger trunks"). A candidate may add
  each 8x8 cell's tone (its log colour against the cells around it: stains, discoloured patches).
- Memory: the normal images' patches (with turned copies when parts are aligned), thinned to a coreset
  whose size keeps one image's nearest-patch search within a fixed budget (server/training/memory.py).
  Aligned parts are scored only where normal parts lie (server/training/part_area.py).
- Model choice (server/training/selection.py): candidates (working size 320 px on the longer side, or the
  images' own size up to 640 px, or small pictures enlarged twice, where their own size separates the
  training images only in projects without masks; a global or a position-aware memory) and decision rules
  (the memory's peak distance, or a logistic regression learnt from the labelled anomalies on the map's
  statistics and pooled features) are compared by cross-validation on the training images only. With
  masks, their own rule (the segmentation's evidence) is learnt at the chosen size and, where it may
  help, at the other working size too, which then wins if its rule does clearly better; where the
  labelled defects are smaller than two of the trunk's cells at the chosen size, the larger size goes
  first, and is kept when its rule separates the training images.
- Threshold and Confidence (server/training/decision.py): the threshold maximises F1 on the training
  images' scores by the served memory (a normal image's own patches left out), each image counted once;
  the served score is sigmoid(slope * (score - threshold)), with the slope fitted to the same scores (or
  on the logarithms of a distance and its threshold, where they explain those scores better), so it reads
  as the probability that the image is anomalous and Confidence as the probability that the decision is
  right.
- Segmentation (projects with masks): see server/training/segmentation.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from server.inference.bundle import DESCRIPTION_FILE, FORMAT, MODEL_FILE
from server.inference.images import reduced_size
from server.training import pictures
from server.training.part_area import part_area
from server.training.pictures import decoded_while_training, open_rgb
from server.training.samples import Sample, Seen, cpu_session, network_input

if TYPE_CHECKING:
    from server.training.segmentation import Head, PixelCounts
    from server.training.selection import Candidate, Images, Outcome

LONG_SIDE = 320  # the working size's longer side, unless the model choice picks a larger one (high_side)
HIGH_SIDE = 640  # the largest working size (for small defects)
ENLARGE = 2  # small pictures' larger working size: at most this many times their own (high_side)
MEMORY_MAX = 16_000  # remembered patches at most
NEAREST_BUDGET = 32_000_000  # input patches x remembered patches per image: bounds the serving cost
SELECTION_SHARE = 0.4  # candidates are compared with memories this much smaller (a faster search); the
# winner is then scored again with the memory it serves with, for the threshold and the calibration
SEGMENTATION_NORMALS = 10  # normal images the segmentation learns from, at most (time grows with each)
SEGMENTATION_ANOMALIES = 40  # anomalous images it learns from, at most (evenly chosen)
TURNED_IMAGES = 120  # turned copies of normal images at most (4 per image up to 30 normal images)
DETAIL_GAIN = 1.25  # masks are drawn at the images' own size (up to HIGH_SIDE) when it is this much finer
HIGH_SIDE_IMAGES = 160  # beyond this many training images the larger size is not tried (training time)


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
    selection: dict[str, Any] = field(default_factory=dict)  # the model choice: candidates and their scores


def input_size(
    image_size: tuple[int, int], long_side: int = LONG_SIDE, enlarged: bool = False
) -> tuple[int, int]:
    """The network's input: at most `long_side` px on the longer side (never more than the images' own
    unless `enlarged`), sides multiples of 32."""
    width, height = image_size
    scale = long_side / max(width, height) if enlarged else min(1.0, long_side / max(width, height))
    return (max(32, round(width * scale / 32) * 32), max(32, round(height * scale / 32) * 32))


def input_description(size: tuple[int, int]) -> dict:
    """The bundle's `input` for the trainer's graphs: what network_input does, for the runtime."""
    return {"name": "image", "width": size[0], "height": size[1], "scale": 1.0,
            "mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0]}  # fmt: skip


def detail_size(image_size: tuple[int, int], size: tuple[int, int]) -> tuple[int, int] | None:
    """The size (width, height) a segmentation model draws its masks at when finer than its working `size`:
    the images' own, up to HIGH_SIDE on the longer side (never enlarged); None when it is not DETAIL_GAIN
    times finer. A crack two pixels wide is one at the working size, and masks are scored at the images' own."""
    width, height = image_size
    scale = min(1.0, HIGH_SIDE / max(width, height))
    detail = (max(1, round(width * scale)), max(1, round(height * scale)))
    return detail if max(detail) >= DETAIL_GAIN * max(size) else None


def finer_masks(
    job: Job, classes: list[tuple[str, str]], seen: tuple[int, int], size: tuple[int, int]
) -> tuple[int, int] | None:
    """The detail size a segmentation model draws its masks at (see detail_size) when the labelled defects
    need it: some class is thin at the working `size` (segmentation.thin_defects; the masks are read
    unaligned at the detail's scale: a turn moves a crack, it does not widen it). Wide defects are drawn as
    well from the working size (the cookies' cracked areas: IoU 0.677 against 0.672) and cost less."""
    from server.training.segmentation import thin_defects

    detail = detail_size(seen, size)
    if detail is None:
        return None
    masked = [sample for sample in job.train if sample.mask is not None]
    spread = np.linspace(0, len(masked) - 1, min(SEGMENTATION_ANOMALIES, len(masked))).round().astype(int)
    scale = max(detail) / max(seen)
    width, height = job.image_size
    read_at = (max(1, round(width * scale)), max(1, round(height * scale)))
    reach = max(1, round(max(detail) / max(size)))
    return detail if thin_defects([masked[i] for i in spread], classes, read_at, reach) else None


def with_gaps(seen: list[Seen], classes: list, choice: dict) -> tuple[list[Seen], bool]:
    """`seen`, and whether the refinement reads the gap maps: where the normal images show one part on its
    background (segmentation.parts_shown) and enough of the labelled pixels lie in gaps
    (segmentation.GAP_SHARE), the images with their maps, and the share goes into the choice."""
    from server.training.segmentation import GAP_SHARE, gap_share, parts_shown

    if not parts_shown(seen):
        return seen, False
    gapped = [with_gap_map(item) for item in seen]
    share = gap_share(gapped, classes)
    if share < GAP_SHARE:
        return seen, False
    choice["Chosen"]["PartGapShare"] = round(share, 3)
    return gapped, True


def with_gap_map(item: Seen) -> Seen:
    """The image with its gap map (inference.part_gap), drawn from the picture at the mask's size, the very
    pixels the runtime resizes the photo to before it draws the map."""
    from PIL import Image

    from server.inference.part_gap import part_gap

    shown = Image.fromarray(item.detail if item.detail is not None else item.pixels)
    return replace(item, gap=part_gap(shown, item.mask_size) > 0.5)


def extra_input(name: str, size: tuple[int, int]) -> dict:
    """The bundle's `detail_input` (the image again at the size its mask is drawn at, normalised as `input`)
    or `gap_input` (inference.part_gap's map at that size): the graph input's name and size."""
    return {"name": name, "width": size[0], "height": size[1]}


def memory_cap(size: tuple[int, int]) -> int:
    """How many patches the memory keeps at this working size: within NEAREST_BUDGET per image."""
    from server.training.graphs import feature_grid

    rows, cols = feature_grid(size)
    return int(min(MEMORY_MAX, max(4_000, NEAREST_BUDGET // (rows * cols))))


def working_side(image_size: tuple[int, int], long_side: int, enlarged: bool = False) -> int:
    """The working size's longer side for images of `image_size` asked to fit `long_side`."""
    return max(input_size(image_size, long_side, enlarged))


def high_side(image_size: tuple[int, int], images: int) -> tuple[int, bool] | None:
    """The larger working size worth trying, and whether the pictures are enlarged to it, for projects of
    L4V's usual size (the choice depends on the data alone, never on the clock): the images' own (up to
    HIGH_SIDE) when well above LONG_SIDE; else the pictures enlarged ENLARGE times (up to HIGH_SIDE), where
    that is larger than the working size. A crack two pixels wide in a 300 px picture falls within one of
    the trunk's cells, which its surface fills; enlarged, the cells are half as wide and the crack's share
    of one four times as large (the synthetic sets reduced to 224 and 300 px: docs/quality.md)."""
    if images > HIGH_SIDE_IMAGES:
        return None
    own = max(image_size)
    if own >= 1.5 * LONG_SIDE:
        return working_side(image_size, HIGH_SIDE), False
    side = working_side(image_size, min(HIGH_SIDE, ENLARGE * own), enlarged=True)
    return (side, True) if side > working_side(image_size, LONG_SIDE) else None


def train(job: Job, progress: Callable[[str], None] = lambda phase: None) -> Result:
    """Trains, evaluates and exports a model for `job` (see the module's docstring)."""
    with decoded_while_training(job.train):
        return _train(job, progress)


def _train(job: Job, progress: Callable[[str], None]) -> Result:
    from server.training.decision import best_threshold, calibration
    from server.training.efficientnet import DEFAULT_TRUNK, trunk_name
    from server.training.graphs import DETAIL, GAP, Decision, scoring_graph
    from server.training.segmentation import SMALL_SPAN, project_classes
    from server.training.selection import (
        MASK_RULE,
        OTHER_SIZE_MARGIN,
        PROTOTYPE_RULE,
        deal,
        final_combination,
        fold_count,
        memory_for,
        served_quantized,
    )

    progress("Extracting features from the training images.")
    photo_size = job.image_size
    # from here on, the size of the pictures as open_rgb gives them (camera-sized ones reduced)
    job = replace(job, image_size=reduced_size(photo_size, pictures.REDUCE_TO))
    normals = [s for s in job.train if s.label == "normal"]
    samples = normals + [s for s in job.train if s.label == "anomaly"]
    labels = np.array([sample.label == "anomaly" for sample in samples])
    folds = deal(labels, fold_count(len(normals)))
    alignment = choose_alignment(normals)
    classes = project_classes(job.train)
    first, second = choose_model(job, samples, labels, folds, alignment, classes, progress)
    small = None  # on record when the labelled defects are small at the chosen size
    span = labelled_span(job, classes, first) if second is not None and second.scale > first.scale else None
    if second is not None and span is not None and span < SMALL_SPAN:
        # Defects smaller than two of the trunk's cells at the chosen size are learnt at the larger size
        # first, where the masks' rule sees them best, and kept when that rule separates the training
        # images: the chosen size's masks are then never learnt (a scan project of 150 images: 46 -> 40 s)
        small = {"MedianSpan": span, "WorkingSize": max(first.size), "LearntFirstAt": max(second.size)}
        progress(f"The labelled defects are small at {small['WorkingSize']} px: learning them at "
                 f"{small['LearntFirstAt']} px first.")  # fmt: skip
        first, second = second, first
    ready = _with_masks(job, samples, alignment, classes, first.chosen(), progress)
    if second is not None and ready.masks_rule and ready.best.auroc < 1 - OTHER_SIZE_MARGIN:
        # The masks' rule learns what the labelled defects look like, pixel by pixel, and may see them best
        # at the other working size, which the memories' comparison did not pick (scans with a dozen small
        # defects each: held out 0.78 at 320 px, 0.96 at 640 px; docs/quality.md)
        progress("Learning the anomaly classes at the other working size too.")
        other = _with_masks(job, samples, alignment, classes, second.chosen(), progress)
        if other.best.auroc > ready.best.auroc + OTHER_SIZE_MARGIN:
            instead = ready.choice["Chosen"]
            other.choice["Chosen"]["InsteadOf"] = {
                key: instead[key] for key in ("Candidate", "DecisionRule", "CrossValidatedROCAUC")
            }
            ready = other
    del first, second  # what the other candidates saw
    best, best_images, all_images, choice = ready.best, ready.images, ready.all_images, ready.choice
    if small is not None:
        choice["Chosen"]["SmallDefects"] = small
    if trunk_name() != DEFAULT_TRUNK:  # an experiment's trunk (efficientnet.TRUNK_VARIABLE) is on record
        choice["Trunk"] = trunk_name()
    labels, alignment, size, detail = best_images.labels, ready.alignment, ready.size, ready.detail
    head, refine = ready.segmentation() if ready.segmentation is not None else (None, None)

    progress("Choosing the decision threshold and calibrating Confidence.")
    memory = memory_for(all_images, None, memory_cap(size), best.candidate.local)
    combination = final_combination(best, best_images)
    threshold = best_threshold(best.scores[~labels], best.scores[labels])
    calibrated = calibration(best.scores, labels, threshold)
    decision = Decision(combination, threshold, calibrated.slope, best.candidate.reach, ready.map_threshold,
                        ready.map_spread, best.location, best.prototypes if best.rule == PROTOTYPE_RULE else None,
                        masks=head if best.rule == MASK_RULE else None, edges=not best.candidate.local,
                        area=best_images.area, log_score=calibrated.log_score)  # fmt: skip
    remembered = len(memory) if memory.ndim == 2 else f"{len(memory)} images"
    choice["Chosen"].update({"Threshold": round(threshold, 6), "CalibrationSlope": round(calibrated.slope, 6),
                             "CalibratedOnLogScore": calibrated.log_score, "Memory": remembered})  # fmt: skip
    gap = ready.gap
    del best_images, all_images, ready

    progress("Exporting the model.")
    output = Path(job.output)
    output.mkdir(parents=True, exist_ok=True)
    graph = scoring_graph(size, memory, decision, head, refine, tone=best.candidate.tone, detail=detail,
                          quantized=served_quantized(best.candidate, best.location is not None), gap=gap)  # fmt: skip
    (output / MODEL_FILE).write_bytes(graph.SerializeToString())
    segmentation = {
        "task": "segmentation",
        "outputs": {"score": "score", "class_map": "class_scores"},
        "classes": [{"name": name, "color": color} for name, color in classes],
    }
    description = {
        "format": FORMAT,
        "task": "classification",
        "image_width": photo_size[0],
        "image_height": photo_size[1],
        "reduce_to": pictures.REDUCE_TO,
        "input": input_description(size),
        **({"detail_input": extra_input(DETAIL, detail)} if detail is not None else {}),
        **({"gap_input": extra_input(GAP, detail or size), "fill_part_gaps": True} if gap else {}),
        "outputs": {"score": "score"},
        "threshold": 0.5,
        "source": "trainer",
        **(segmentation if classes else {}),
        **({"align": alignment_json(alignment)} if alignment is not None else {}),
    }  # fmt: skip
    (output / DESCRIPTION_FILE).write_text(json.dumps(description, indent=2))

    progress("Evaluating the model on the test images.")
    predictions, pixels = evaluate_served(
        str(output / MODEL_FILE), job.test, size, alignment, classes, detail, gap
    )
    results: dict[str, Any] = dict(metrics(predictions))
    if classes:
        results["PixelAnomalyClassMetrics"] = pixels.metrics()
    return Result(
        threshold=threshold,
        metrics=results,
        predictions=predictions,
        train_images=len(job.train),
        test_images=len(job.test),
        selection=choice,
    )


EVALUATION_WORKERS = 2  # test images scored at once, each by a session on its share of the cores: one
# session leaves cores idle between operators and while images are read (0.78-0.86 of the time measured)


def evaluate_served(
    model: str,
    test: list[Sample],
    size: tuple[int, int],
    alignment,
    classes: list,
    detail: tuple[int, int] | None = None,
    gap: bool = False,
) -> tuple[list[dict], PixelCounts]:
    """Each test image's prediction by the served graph `model`, in order, and the pixel counts of the
    class maps against the masks (projects with `classes`; `detail`: the size they are drawn at; `gap`:
    the graph reads the gap map)."""
    from concurrent.futures import ThreadPoolExecutor

    from server.training.segmentation import PixelCounts

    cores = os.cpu_count() or 1
    workers = max(1, min(EVALUATION_WORKERS, cores, len(test)))
    wanted = ["score", "class_scores"] if classes else ["score"]

    def score(first: int) -> tuple[list[dict], PixelCounts]:
        served = cpu_session(model, threads=max(1, cores // workers))
        predictions, pixels = [], PixelCounts(classes)
        for sample in test[first::workers]:
            item = see(sample, size, alignment, detail)
            item = with_gap_map(item) if gap else item
            answers = served.run(wanted, item.served_feeds())
            value = float(answers[0][0])
            predictions.append({"source_ref": sample.source_ref, "label": sample.label, "score": value,
                                "anomalous": value >= 0.5})  # fmt: skip
            if classes:  # masks as the runtime draws them: with the gaps filled where the model reads them
                pixels.add(answers[1], item, fill=gap)
        return predictions, pixels

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(score, range(workers)))
    predictions: list[dict] = [{}] * len(test)
    pixels = PixelCounts(classes)
    for first, (part, counts) in enumerate(parts):
        predictions[first::workers] = part
        pixels.merge(counts)
    return predictions, pixels


@dataclass
class Ready:
    """A chosen candidate made ready for export: its outcome (with the masks' rule offered where it can
    be learnt), the images it sees (all, and those its decision is learnt from), and its segmentation."""

    best: Outcome
    all_images: Images
    images: Images  # the images the decision is learnt from (large projects: those the choice compared)
    choice: dict
    alignment: Any
    size: tuple[int, int]
    detail: tuple[int, int] | None
    map_threshold: float
    map_spread: float
    gap: bool = False
    masks_rule: bool = False  # whether the masks' rule was offered (see selection.offer_mask_rule)
    # with masks: fits the segmentation's head and refinement (the refinement's held-out offsets and fit
    # wait until the choice between working sizes is made)
    segmentation: Callable[[], tuple[Head, Head]] | None = None


Chosen = tuple["Outcome", "Images", dict, np.ndarray | None]  # see choose_model


@dataclass(frozen=True)
class Finalist:
    """A candidate that won the memories' comparison at its working size (see choose_model)."""

    candidate: Candidate
    size: tuple[int, int]  # its working size (width, height)
    scale: float  # its working pixels per pixel of the pictures it sees
    # the candidate scored again with its full memory: its outcome, its view of the training images, the
    # summary of the choice and the images it was compared on (None: all)
    chosen: Callable[[], Chosen]


def labelled_span(job: Job, classes: list, finalist: Finalist) -> float | None:
    """The median span of the masks' labelled pieces at the finalist's working size (segmentation.median_span;
    None without masks): the masks the segmentation learns from, read unaligned at that size's scale."""
    from server.training.segmentation import median_span

    masked = [sample for sample in job.train if sample.mask is not None]
    if not classes or not masked:
        return None
    spread = np.linspace(0, len(masked) - 1, min(SEGMENTATION_ANOMALIES, len(masked))).round().astype(int)
    width, height = job.image_size
    read_at = (max(1, round(width * finalist.scale)), max(1, round(height * finalist.scale)))
    return median_span([masked[i] for i in spread], classes, read_at)


def _with_masks(job: Job, samples: list[Sample], alignment, classes: list, chosen: Chosen,
                progress: Callable[[str], None]) -> Ready:  # fmt: skip
    """A candidate as choose_model finalised it, made ready: with masks, the head and the refinement
    learnt, and the masks' rule offered to its decision."""
    from server.training.decision import best_threshold
    from server.training.graphs import feature_graph
    from server.training.segmentation import fit_segmentation, held_out_evidence
    from server.training.selection import MASK_RULE, MIN_ANOMALIES_TO_LEARN, offer_mask_rule

    best, all_images, choice, scored = chosen
    # large projects: the decision is learnt from the images the candidates were compared on
    best_images = all_images.subset(scored)
    labels = best_images.labels
    picked = np.arange(len(samples)) if scored is None else scored
    alignment = alignment if best.candidate.aligned else None
    size = input_size(seen_size(job.image_size, alignment), best.candidate.long_side, best.candidate.enlarged)
    detail = finer_masks(job, classes, seen_size(job.image_size, alignment), size) if classes else None
    if detail is not None:
        choice["Chosen"]["MaskSize"] = f"{detail[0]}x{detail[1]}"
    if best_images.area is not None:  # the share of the aligned picture that is scored (part_area)
        choice["Chosen"]["PartArea"] = round(float(best_images.area.mean()), 3)

    peaks = best.stats[:, 0]
    map_threshold = best_threshold(peaks[~labels], peaks[labels])
    map_spread = max(float(np.ptp(peaks)), 1e-6)
    ready = Ready(best, all_images, best_images, choice, alignment, size, detail, map_threshold, map_spread)
    if not classes:
        return ready
    progress("Learning the anomaly classes from the masks.")

    def features(pixels: bool):  # with the pixel features, and without (see segmentation._fine_features)
        graph = feature_graph(size, segmentation=True, tone=best.candidate.tone, detail=detail, pixels=pixels)
        return cpu_session(graph.SerializeToString())

    session, fine_session = features(True), features(False)
    # each training image's held-out anomaly level, as the served graph computes it ("shifted")
    levels = [(blurred - map_threshold) / map_spread + 0.5 for blurred in best.maps]
    # the anomalous images (at most SEGMENTATION_ANOMALIES) and SEGMENTATION_NORMALS normal ones:
    # anomalous images are mostly background
    anomalous = np.flatnonzero(labels)
    spread = np.linspace(0, len(anomalous) - 1, min(SEGMENTATION_ANOMALIES, len(anomalous))).round()
    keep = list(np.flatnonzero(~labels)[:SEGMENTATION_NORMALS]) + list(anomalous[spread.astype(int)])
    cells = refining = None
    if int(labels.sum()) >= MIN_ANOMALIES_TO_LEARN:  # the masks' rule is learnt like the others
        seen = [see(samples[picked[i]], size, alignment, detail) for i in range(len(labels))]
        seen, ready.gap = with_gaps(seen, classes, choice)
        evidence, cells, refining = held_out_evidence(
            session, seen, keep, best_images.folds, classes, levels, fine_session
        )
        if evidence is not None:
            offer_mask_rule(best, best_images, evidence)
            ready.masks_rule = True
            choice["Chosen"].update({"DecisionRule": best.rule, "CrossValidatedROCAUC": round(best.auroc, 4),
                                     "MaskRuleROCAUC": round(best.rules.get(MASK_RULE, 0.0), 4)})  # fmt: skip
        kept = [seen[i] for i in keep]
        del seen
    else:
        kept, ready.gap = with_gaps(
            [see(samples[picked[i]], size, alignment, detail) for i in keep], classes, choice
        )
    if refining is not None:  # gathered in the evidence's pass
        gathered = refining

        def segmentation() -> tuple[Head, Head]:
            offsets = gathered.held_out_offsets()  # how far it reaches, judged on masks it has not seen
            if offsets.any():
                choice["Chosen"]["MaskClassOffsets"] = {
                    name: float(offset) for (name, _), offset in zip(classes, offsets[1:], strict=True)
                }
            return gathered.head, gathered.fit()

        ready.segmentation = segmentation
    else:
        ready.segmentation = lambda: fit_segmentation(
            session, kept, classes, [levels[i] for i in keep], cells, fine_session
        )
    return ready


def choose_model(job: Job, samples: list[Sample], labels: np.ndarray, folds: np.ndarray, alignment, classes: list,
                 progress: Callable[[str], None]) -> tuple[Finalist, Finalist | None]:  # fmt: skip
    """The candidate chosen by cross-validation (see server/training/selection.py), and the best candidate
    at the other working size (None if none was tried), each with a function that scores it again with its
    full memory (see Finalist). Cheap candidates come first; dearer ones (turned copies, the images'
    own size) are tried only where they may help. With mask `classes`, the chosen global memory also keeps
    the masked images' normal surface (clear_patches)."""
    from server.training.graphs import TONE_CHANNELS, feature_graph, feature_grid
    from server.training.selection import (
        ALIGNMENT_COST,
        ENLARGED_COST,
        HIGH_SIDE_COST,
        LOCAL_COST,
        SATURATED,
        TONE_COST,
        TURNED_COST,
        Candidate,
        Images,
        evaluate,
        larger_size_bases,
        merit,
        sample,
        summary,
        wins,
    )

    normals = samples[: int((~labels).sum())]
    compared = sample(labels)  # large projects: candidates are compared on a sample of the images
    # The images a view goes through the trunk for: every normal one (memories hold them all) and the
    # anomalous ones the candidates are compared on; the others are never looked at by a candidate.
    looked_at = np.ones(len(samples), bool) if compared is None else ~labels
    if compared is not None:
        looked_at[compared] = True
    sessions: dict[tuple[int, int], Any] = {}
    seen: dict[tuple[int, bool], list[np.ndarray]] = {}  # per working size and alignment
    turned_copies: dict[tuple[int, bool], list[np.ndarray]] = {}
    areas: dict[tuple[int, bool], np.ndarray | None] = {}  # aligned views: where the part lies (part_area)

    def working(candidate: Candidate) -> tuple[int, int]:
        return input_size(seen_size(job.image_size, alignment if candidate.aligned else None), candidate.long_side,
                          candidate.enlarged)  # fmt: skip

    def finalist(outcome: Outcome) -> Finalist:
        size = working(outcome.candidate)
        seen = seen_size(job.image_size, alignment if outcome.candidate.aligned else None)
        return Finalist(outcome.candidate, size, max(size) / max(seen), lambda: choose_final(outcome))

    def trunk(size: tuple[int, int]):
        if size not in sessions:
            sessions[size] = cpu_session(feature_graph(size, tone=True).SerializeToString())
        return sessions[size]

    def view(candidate: Candidate) -> Images:
        """The training images as a candidate sees them (kept while candidates share them). Each way of
        seeing goes through the trunk once, with each cell's tone after the features (a few pools of the
        pixels): a candidate without the tone reads the features before it. Candidates that differ only
        in their turned copies share the images' features."""
        key = (candidate.long_side, candidate.aligned)
        size = working(candidate)
        aligned = alignment if candidate.aligned else None
        if key not in seen:
            session = trunk(size)
            seen[key] = [_features(session, see(sample, size, aligned)) if looking else _NOT_SEEN
                         for sample, looking in zip(samples, looked_at, strict=True)]  # fmt: skip
        if (aligned is not None or candidate.turned) and key not in turned_copies:
            session, rng = trunk(size), np.random.default_rng(0)
            if aligned is not None:
                # Turned parts come back through a resampling; remember normal parts that went the same way.
                turned_copies[key] = [_turned_features(session, s.path, size, aligned, rng) for s in normals]
            else:
                count = turned_per_image(
                    len(normals), size, working(replace(candidate, long_side=LONG_SIDE, enlarged=False))
                )
                plain = alignment.background if alignment is not None else None  # decided for the project
                turned_copies[key] = [
                    _reflected_turns(session, s.path, size, rng, count, plain) for s in normals
                ]
        turned = turned_copies[key] if aligned is not None or candidate.turned else []
        if aligned is not None and key not in areas:
            areas[key] = part_area([part_cover(s, size, aligned) for s in normals])
        images = Images(seen[key], turned, labels, folds, feature_grid(size), areas.get(key))
        if candidate.tone:
            return images
        return replace(images, maps=[part[:, :-TONE_CHANNELS] for part in images.maps],
                       turned=[part[:, :-TONE_CHANNELS] for part in images.turned])  # fmt: skip

    outcomes: list = []
    best: Outcome | None = None

    def consider(candidate: Candidate, message: str) -> None:
        nonlocal best
        step = f"Model choice ({len(outcomes) + 1}): cross-validating {message}"
        progress(f"{step}.")
        cap = memory_cap(working(candidate)) * SELECTION_SHARE
        outcome = evaluate(candidate, view(candidate), int(cap), lambda fold: progress(f"{step}, {fold}."),
                           compared)  # fmt: skip
        outcomes.append(outcome)
        if wins(outcome, best):
            best = outcome

    def choose_final(best: Outcome) -> Chosen:
        name = best.candidate.name()
        progress(f"Model choice: scoring the training images with the full memory of {name}.")
        images = view(best.candidate)
        if classes and not best.candidate.aligned and not best.candidate.local:
            # The masks say where the anomalous images are normal surface: the served memory keeps it too.
            # Only there: the candidates were compared on the normal images' memories (doing so in the
            # comparison too moved the cookies to a local memory, F1 1.000 -> 0.970; docs/quality.md).
            images = replace(images, clear=clear_patches(images, samples, classes, working(best.candidate)))
        cap = memory_cap(working(best.candidate))
        # The outer ring of cells sees the network's zero padding (and a turned photo's reflected
        # surroundings); a global memory meets it with patches from anywhere, so the decision reads the
        # ring's inward neighbours instead (a local memory compares it with the same ring). The decision
        # only: in the candidates' comparison it moved the choice on textures and boards (docs/quality.md).
        final = evaluate(best.candidate, images, cap, scored=compared, located=best.location is not None,
                         leave_one_out=True, edges=not best.candidate.local)  # fmt: skip
        choice = {**summary(outcomes or [final], final), "Folds": int(folds.max()) + 1,
                  "DecisionImages": len(labels) if compared is None else len(compared)}  # fmt: skip
        return final, images, choice, compared

    base = working_side(job.image_size, LONG_SIDE)
    if alignment is not None:
        progress("Parts lie on a plain background: trying them aligned (centred and turned upright).")
        part_side = working_side(seen_size(job.image_size, alignment), LONG_SIDE)
        consider(Candidate(part_side, aligned=True), "aligned parts, a global memory")
        consider(Candidate(base, cost=ALIGNMENT_COST), "the images as they are, a global memory")
    else:
        consider(Candidate(base), "a global memory")
    assert best is not None  # the first candidate was considered above
    if not labels.any():  # no labelled anomaly to judge candidates by: the first one stays
        progress("No anomalous training image: the model choice keeps the first candidate.")
        outcomes.clear()
        return finalist(best), None
    if alignment is not None:
        # An upright part can be compared with the same place on the normal parts, which finds what is
        # missing or moved (a chipped tooth looks like the gap beside it to a global memory).
        consider(Candidate(part_side, local=True, cost=LOCAL_COST, aligned=True),
                 "aligned parts, a local (position-aware) memory")  # fmt: skip
    if not best.candidate.aligned:
        consider(Candidate(base, local=True, cost=LOCAL_COST), "a local (position-aware) memory")
        # Parts may come turned on a busy background: prefer a memory that knows them turned unless it
        # does clearly worse (a robustness bought at almost no cost).
        consider(Candidate(base, cost=TURNED_COST, turned=True), "a memory with turned copies")
    if best.auroc < SATURATED:
        # Soft stains and discoloured patches barely move the trunk's features: the best way of seeing so
        # far is tried again with each cell's tone beside them.
        consider(replace(best.candidate, tone=True, cost=TONE_COST), "the same with each cell's tone")
    bases = larger_size_bases(outcomes, best)
    high = high_side(seen_size(job.image_size, alignment if bases[0].aligned else None), len(samples))
    # The larger size is tried even where the working size already separates the training images: a defect
    # smaller than the labelled ones may show only there (selection.wins then asks for a clearer
    # separation; the gears' chipped teeth in their 325 px window: 0.964 -> 1.000 on test photos enlarged).
    # Not for masks then: drawn from enlarged pictures that their own size separated, thin scratches came
    # out worse (IoU 0.88 -> 0.60), and with the images separated the masks are what is at stake.
    if high is not None and high[1] and best.auroc >= SATURATED and classes:
        high = None
    if high is not None:
        keep = {(c.long_side, c.aligned) for c in (bases[0], best.candidate)}
        for kept in (seen, turned_copies):
            for key in [key for key in kept if key not in keep]:
                del kept[key]  # the larger view takes four times the room
        side, enlarged = high
        larger = f"the pictures enlarged to {side} px" if enlarged else f"the images' own size ({side} px)"
        cost = ENLARGED_COST if enlarged else HIGH_SIDE_COST
        for basis in bases:  # both memories share the larger view's features
            where = "local (position-aware)" if basis.local else "global"
            consider(
                replace(basis, long_side=side, enlarged=enlarged, cost=cost), f"{larger}, a {where} memory"
            )
    if best.candidate.local and best.candidate.reach:
        # Fixtured boards shift by a few pixels, less than a cell: a match a cell away also takes a pad one
        # pitch over for the pad that is missing (second-seed boards: held-out 0.9156 -> 0.9244 in place)
        consider(replace(best.candidate, reach=0, cost=LOCAL_COST), "the same, matched in place only")
    other_size = [outcome for outcome in outcomes if outcome.candidate.long_side != best.candidate.long_side]
    if not other_size:
        return finalist(best), None
    other = max(other_size, key=merit)
    return finalist(best), finalist(other)


_NOT_SEEN = np.zeros((0, 0), np.float32)  # an image no candidate looks at (see choose_model's view)


def _open(path: str, alignment=None):
    """An image as the model sees it: aligned when the model aligns."""
    placement = None
    rgb = open_rgb(path)
    if alignment is not None:
        from server.inference.alignment import align

        rgb, placement = align(rgb, alignment)
    return rgb, placement


def seen_size(image_size: tuple[int, int], alignment) -> tuple[int, int]:
    """The size of the pictures a model sees: the window around the part when its alignment has one."""
    return alignment.window if alignment is not None and alignment.window is not None else image_size


def choose_alignment(normals: list[Sample]):
    """Align when the data allow it: every normal part lies on one plain background colour. The model then
    sees a window around the part, where the parts leave enough of the picture out (alignment.part_window)."""
    from server.inference.alignment import (
        TOLERANCE,
        Alignment,
        locate,
        own_background,
        part_window,
        plain_background,
        reference_for,
    )

    images = [_open(sample.path)[0] for sample in normals]
    background = plain_background(images, TOLERANCE)
    if background is None:
        return None
    first = images[0]
    reference = reference_for(first, own_background(first, background), TOLERANCE)
    # Upright is the normal parts' mean pose, not the first part's: with parts at any angle, the first
    # image alone would be left unturned by the alignment's warp (it stood out from the memory: the highest
    # left-out normal score on generated plates); with parts photographed alike, each stays near its pose.
    start = Alignment(background, TOLERANCE, reference)
    poses = [locate(image, start, own_background(image, background)).angle for image in images]
    mean = np.angle(np.exp(1j * np.deg2rad(poses)).mean(), deg=True)
    upright = Alignment(background, TOLERANCE, np.roll(reference, round(float(mean)), axis=1))
    return replace(upright, window=part_window(images, upright, LONG_SIDE))


def alignment_json(alignment) -> dict:
    from server.inference.alignment import to_json

    return to_json(alignment)


def see(sample: Sample, size: tuple[int, int], alignment=None, detail: tuple[int, int] | None = None) -> Seen:
    """A sample at the input's `size` (and at the `detail` size too when given), as DetectAnomalies sees it."""
    from PIL import Image

    image, placement = _open(sample.path, alignment)
    pixels = np.asarray(image.resize(size, Image.Resampling.BILINEAR))
    finer = None if detail is None else np.asarray(image.resize(detail, Image.Resampling.BILINEAR))
    return Seen(sample, pixels, image.size, placement, finer)


def part_cover(sample: Sample, size: tuple[int, int], alignment) -> np.ndarray:
    """[rows, cols]: how much of each cell of the aligned picture at the working `size` the part covers (its
    silhouette against its own background, moved as align moves the picture)."""
    from PIL import Image

    from server.inference.alignment import locate, own_background, silhouette, transform
    from server.training.graphs import feature_grid
    from server.training.part_area import cell_cover

    rgb = open_rgb(sample.path)
    background = own_background(rgb, alignment.background)
    placement = locate(rgb, alignment, background)
    mask = Image.fromarray((silhouette(rgb, background, alignment.tolerance) * 255).astype(np.uint8))
    aligned = transform(mask, placement, 0, Image.Resampling.BILINEAR).resize(size, Image.Resampling.BILINEAR)
    return cell_cover(np.asarray(aligned) >= 128, feature_grid(size))


def _turned_features(
    session, path: str, size: tuple[int, int], alignment, rng: np.random.Generator
) -> np.ndarray:
    from PIL import Image

    from server.inference.alignment import align, own_background

    rgb = open_rgb(path)
    turned = rgb.rotate(float(rng.uniform(0, 360)), resample=Image.Resampling.BILINEAR,
                        fillcolor=own_background(rgb, alignment.background))  # fmt: skip
    aligned, _ = align(turned, alignment)
    (maps,) = session.run(
        ["features"], {"image": network_input(np.asarray(aligned.resize(size, Image.Resampling.BILINEAR)))}
    )
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def turned_per_image(normals: int, size: tuple[int, int], base: tuple[int, int]) -> int:
    """Turned copies of each normal image at the working `size`: TURNED_IMAGES in all at the `base` size
    (LONG_SIDE's), and at a larger size no more of the trunk's work than that (the copies' pixels: at
    640x640 a quarter as many as at 320x320), but one copy of every image at least."""
    budget = TURNED_IMAGES * (base[0] * base[1]) // (size[0] * size[1])
    return max(1, min(len(TURNS), budget // normals))


TURNS = (72.0, 144.0, 216.0, 288.0)  # turned copies per normal image: about these angles, give or take 15


def _reflected_turns(
    session,
    path: str,
    size: tuple[int, int],
    rng: np.random.Generator,
    count: int = len(TURNS),
    background: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Features of `count` turned copies of an image, filled where the turn uncovers the frame as a camera turned
    over a larger scene would see it: for parts on a plain `background` (the project's, from alignment's test
    of every normal image), this picture's own background colour, or else the picture's surroundings
    reflected (a flat corner on a busy background or a texture would put a border into the memory that never
    occurs; judged picture by picture, a few of a fine texture's pictures passed for plain)."""
    from PIL import Image

    from server.inference.alignment import own_background

    rgb = open_rgb(path).resize(size, Image.Resampling.BILINEAR)
    width, height = size
    plain = own_background(rgb, background) if background is not None else None
    pad = int(np.ceil((np.hypot(width, height) - min(width, height)) / 2)) + 2
    padded = Image.fromarray(np.pad(np.asarray(rgb), ((pad, pad), (pad, pad), (0, 0)), mode="reflect"))
    copies = []
    # fewer copies (large projects): each at an angle of its own, so that together they still cover the turn
    turns = TURNS if count == len(TURNS) else tuple(float(a) for a in rng.uniform(15, 345, count))
    for angle in turns:
        angle += float(rng.uniform(-15, 15))
        if plain is not None:
            pixels = np.asarray(rgb.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=plain))
        else:
            pixels = np.asarray(
                padded.rotate(angle, resample=Image.Resampling.BILINEAR).crop(
                    (pad, pad, pad + width, pad + height)
                )
            )
        (maps,) = session.run(["features"], {"image": network_input(pixels)})
        copies.append(maps[0].reshape(maps.shape[1], -1).T)
    return np.concatenate(copies)


CLEAR_MARGIN = 3  # cells (8 px of the working size) between a mask's painted pixels and a clear patch


def clear_patches(
    images: Images, samples: list[Sample], classes: list, size: tuple[int, int]
) -> dict[int, np.ndarray]:
    """Per anomalous image with a mask (and features: a large project's comparison leaves some unseen), its
    patches at least CLEAR_MARGIN cells from every pixel its mask paints: normal surface, which a memory of
    the normal images alone may never have seen (selection.Images.clear). The margin keeps out the patches
    whose features may still see the defect: they pool the cells around them, and the stride-16 map among
    them reaches further."""
    from server.training.graphs import feature_grid
    from server.training.segmentation import mask_classes, widened

    rows, cols = feature_grid(size)
    clear = {}
    for index in np.flatnonzero(images.labels):
        sample = samples[index]
        if sample.mask is None or not len(images.maps[index]):
            continue
        painted = mask_classes(sample, classes, size)[: rows * 8, : cols * 8] != 0
        keep = ~widened(painted.reshape(rows, 8, cols, 8).any(axis=(1, 3)), CLEAR_MARGIN).reshape(-1)
        if painted.any() and keep.any():
            clear[int(index)] = images.maps[index][keep]
    return clear


def _features(session, seen: Seen) -> np.ndarray:
    """[patches, channels] for one image."""
    (maps,) = session.run(["features"], {"image": seen.tensor()})
    return maps[0].reshape(maps.shape[1], -1).T.copy()


def metrics(predictions: list[dict]) -> dict[str, float]:
    """Precision, recall, F1 (anomaly positive), ROC AUC and average precision of scored test images."""
    from server.training.decision import auroc

    labels = np.array([p["label"] == "anomaly" for p in predictions])
    flags = np.array([p["anomalous"] for p in predictions])
    scores = np.array([p["score"] for p in predictions], dtype=np.float64)
    tp = int((labels & flags).sum())
    fp = int((~labels & flags).sum())
    fn = int((labels & ~flags).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"Precision": precision, "Recall": recall, "F1Score": f1, "ROCAUC": auroc(scores, labels),
            "AveragePrecision": _average_precision(labels, scores)}  # fmt: skip


def _average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    if not labels.any():
        return 0.0
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision_at * hits).sum() / hits.sum())
