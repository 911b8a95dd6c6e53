"""The segmentation's pieces: masks to class indices, cells' classes, and the logistic regression."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from server.training.samples import Sample
from server.training.segmentation import (
    _descend,
    _descend_binary,
    _largest,
    cell_classes,
    fit_logistic,
    mask_classes,
    widened,
)


def test_mask_colours_become_class_indices_and_unknown_colours_background(tmp_path):
    mask = np.full((8, 8, 3), 255, dtype=np.uint8)
    mask[0:2, 0:2] = (255, 0, 0)
    mask[4:6, 4:8] = (0, 0, 255)
    mask[7, 7] = (0, 255, 0)  # a colour no class has
    Image.fromarray(mask).save(tmp_path / "mask.png")
    sample = Sample(str(tmp_path / "image.png"), "anomaly", "s3://b/k", str(tmp_path / "mask.png"),
                    {"#FFFFFF": "BACKGROUND", "#FF0000": "scratch", "#0000FF": "spot"})  # fmt: skip
    classes = mask_classes(sample, [("spot", "#0000FF"), ("scratch", "#FF0000")], (8, 8))
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[0:2, 0:2] = 2
    expected[4:6, 4:8] = 1
    np.testing.assert_array_equal(classes, expected)


def test_a_cell_takes_the_class_covering_most_of_it_from_a_quarter():
    truth = np.zeros((4, 12), dtype=np.uint8)
    truth[:, 0:4] = 1  # a full cell of class 1
    truth[0, 4:8] = 2  # a quarter of a cell: enough
    truth[0, 8:11] = 2  # three sixteenths: background
    np.testing.assert_array_equal(cell_classes(truth, 3, cell=4), [1, 2, 0])


def test_logistic_regression_separates_classes_and_folds_the_scaling_in():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 100.0], [5.0, 0.0, 100.0], [0.0, 5.0, 100.0]])
    targets = rng.integers(0, 3, 3000)
    features = (centres[targets] + rng.normal(size=(3000, 3)) * [1.0, 1.0, 30.0]).astype(np.float32)
    weights, bias = fit_logistic(features, targets, 3, balance=0.0)
    predicted = (features @ weights.T + bias).argmax(1)  # raw features: the standardisation is folded in
    assert (predicted == targets).mean() > 0.9


def test_two_classes_descend_as_the_softmax_would():
    rng = np.random.default_rng(2)
    targets = (rng.random(5_000) < 0.2).astype(np.int64)
    z = (rng.normal(size=(8, 5_000)) + targets * rng.normal(size=(8, 1))).astype(np.float32)
    weights = np.where(targets == 1, 2.0, 1.0).astype(np.float32)
    softmax = _descend(z, targets, 2, weights, steps=60)
    binary = _descend_binary(z, targets, weights, steps=60)
    np.testing.assert_allclose(binary[0], softmax[0], atol=1e-4)
    np.testing.assert_allclose(binary[1], softmax[1], atol=1e-4)


def test_widened_marks_reach_a_square_around_each_mark_up_to_the_edges():
    rng = np.random.default_rng(3)
    marked = rng.random((37, 53)) < 0.01
    marked[0, 0] = marked[-1, 20] = True
    grown = widened(marked, 4)
    rows, cols = np.nonzero(marked)
    for y, x in np.ndindex(marked.shape):
        assert grown[y, x] == bool(((abs(rows - y) <= 4) & (abs(cols - x) <= 4)).any())


def test_class_weights_favour_a_rare_class_when_balancing():
    rng = np.random.default_rng(1)
    targets = (rng.random(20_000) < 0.03).astype(np.int64)
    features = (targets[:, None] * 1.0 + rng.normal(size=(20_000, 1))).astype(np.float32)
    plain = fit_logistic(features, targets, 2, balance=0.0)
    balanced = fit_logistic(features, targets, 2, balance=1.0)

    def flagged(head) -> float:
        weights, bias = head
        return float(((features @ weights.T + bias).argmax(1) == 1).mean())

    assert flagged(balanced) > 2 * flagged(plain)


def segmentation_features(
    rng: np.random.Generator, detail: tuple[int, int] | None = None
) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """A random 64x48 network input (and a `detail` one, width and height), and its features, fine
    features, colour features and stride-2 features."""
    from server.training.graphs import DETAIL, feature_graph
    from server.training.samples import cpu_session

    feeds = {"image": rng.uniform(-1, 1, (1, 3, 48, 64)).astype(np.float32)}
    if detail is not None:
        feeds[DETAIL] = rng.uniform(-1, 1, (1, 3, detail[1], detail[0])).astype(np.float32)
    session = cpu_session(feature_graph((64, 48), segmentation=True, detail=detail).SerializeToString())
    return feeds, session.run(None, feeds)


@pytest.mark.parametrize("detail, gap", [(None, False), ((100, 75), False), (None, True), ((100, 75), True)])
def test_the_served_graph_draws_the_classes_the_trainer_fitted(detail, gap):
    """The exported refinement (weighed part by part at each part's own resolution) gives the class scores
    that the trainer's stack of features would: the head on the fine features and the anomaly level,
    upsampled, beside the pixel features, through the refinement's weights; with a detail input, at its
    size; with a gap input, its map weighed last. The pixel features are the trainer's: its stride-2 map
    resized at every pixel by segmentation.PixelFeatures."""
    from server.training.decision import Combination
    from server.training.graphs import GAP, Decision, level_graph, scoring_graph, upsample_graph
    from server.training.samples import cpu_session
    from server.training.segmentation import PixelFeatures

    rng = np.random.default_rng(5)
    size = (64, 48)
    feeds, (features, fine, colour, stride2) = segmentation_features(rng, detail)
    channels = features.shape[1]
    combination = Combination(
        np.array([1.0, 0.0, 0.0, 0.0]), 0.0, np.zeros(channels), np.zeros((channels, 0))
    )
    # a wide map spread keeps the anomaly map inside 0..1, so it is the level the head reads, unclipped
    decision = Decision(combination, 0.0, 1.0, map_threshold=0.0, map_spread=1e3)
    head = (rng.normal(size=(3, fine.shape[1] + 1)) * 0.1, rng.normal(size=3))
    width, height = detail or size
    gap_map = (rng.uniform(size=(height, width)) > 0.7) if gap else None
    pixel = PixelFeatures(colour[0], stride2[0], gap_map).at(np.arange(width * height))
    pixel = pixel.reshape(1, -1, height, width)
    refine = (rng.normal(size=(3, 3 + pixel.shape[1])), rng.normal(size=3))
    memory = features[0].reshape(channels, -1).T[::3].copy()
    served = scoring_graph(size, memory, decision, head, refine, detail=detail, gap=gap)
    served_feeds = {**feeds, GAP: gap_map[None, None].astype(np.float32)} if gap_map is not None else feeds
    level, scores = cpu_session(served.SerializeToString()).run(["anomaly_map", "class_scores"], served_feeds)

    (level_up,) = cpu_session(level_graph((6, 8)).SerializeToString()).run(["level_up"], {"level": level})
    inputs = np.concatenate([fine[0], level_up[0]])
    logits = np.einsum("kc,chw->khw", head[0], inputs) + head[1][:, None, None]
    (coarse,) = cpu_session(upsample_graph(3, (12, 16), detail).SerializeToString()).run(
        ["coarse_up"], {"class_logits": logits[None].astype(np.float32)}
    )
    stacked = np.concatenate([coarse[0], pixel[0]])
    expected = np.einsum("kc,chw->khw", refine[0], stacked) + refine[1][:, None, None]
    assert pixel.shape[2:] == (height, width) and scores.shape == (1, 3, height, width)
    assert np.allclose(scores[0], expected, atol=1e-4 * np.abs(expected).max())


def test_the_served_score_reads_the_masks_evidence_as_the_trainer_does():
    """With the rule that reads the masks, the served score is that rule on the map's peak and the head's
    evidence: over the 4x4-pixel cells, how far the likeliest anomaly class outscores the background,
    averaged over 3x3 cells, at its largest (in numpy here); graphs.evidence_graph, from which the trainer
    takes its held-out evidence, computes the same."""
    from numpy.lib.stride_tricks import sliding_window_view

    from server.training.decision import Combination
    from server.training.graphs import Decision, evidence_graph, scoring_graph
    from server.training.samples import cpu_session

    rng = np.random.default_rng(6)
    size = (64, 48)
    feeds, (features, fine, _, _) = segmentation_features(rng)
    channels = features.shape[1]
    head = (rng.normal(size=(3, fine.shape[1])) * 0.02, rng.normal(size=3))
    rule = Combination(np.array([0.0, 1.0]), 0.0, np.zeros(channels), np.zeros((channels, 0)))
    served = scoring_graph(
        size, features[0].reshape(channels, -1).T.copy(), Decision(rule, 0.0, 1.0, masks=head)
    )
    (score,) = cpu_session(served.SerializeToString()).run(["score"], feeds)

    logits = np.einsum("kc,chw->khw", head[0], fine[0]) + head[1][:, None, None]
    lead = logits[1:].max(axis=0) - logits[0]
    windows = sliding_window_view(np.pad(lead, 1, constant_values=np.nan), (3, 3))
    evidence = np.nanmean(windows, axis=(2, 3)).max()
    assert abs(evidence) < 10  # inside the sigmoid's useful range
    assert np.log(score[0] / (1 - score[0])) == pytest.approx(evidence, abs=1e-3)
    (value,) = cpu_session(evidence_graph(3, lead.shape).SerializeToString()).run(
        ["stat_masks"], {"cell_logits": logits[None].astype(np.float32)}
    )
    assert value.reshape(-1)[0] == pytest.approx(evidence, abs=1e-4)


def test_the_evidence_pass_gathers_the_refinement_a_pass_of_its_own_would(tmp_path):
    """held_out_evidence takes the refinement's pixels (with the final head) in the same pass over the
    images as the evidence: the head and the refinement are those fit_segmentation's own pass fits."""
    from PIL import ImageDraw

    from server.training.graphs import feature_graph
    from server.training.samples import Seen, cpu_session
    from server.training.segmentation import fit_segmentation, held_out_evidence

    rng = np.random.default_rng(7)
    size = (64, 48)
    classes = [("spot", "#FF0000")]
    seen = []
    for index in range(9):
        pixels = rng.integers(90, 160, (48, 64, 3), dtype=np.uint8)
        image, mask = Image.fromarray(pixels), Image.new("RGB", size, (255, 255, 255))
        anomalous = index >= 3
        if anomalous:  # a dark spot, and its mask
            box = (8 + 4 * index, 10, 20 + 4 * index, 22)
            ImageDraw.Draw(image).ellipse(box, fill=(20, 20, 20))
            ImageDraw.Draw(mask).ellipse(box, fill=(255, 0, 0))
        image.save(tmp_path / f"{index}.png")
        mask.save(tmp_path / f"{index}_mask.png")
        sample = Sample(str(tmp_path / f"{index}.png"), "anomaly" if anomalous else "normal", f"s3://b/{index}",
                        str(tmp_path / f"{index}_mask.png"), {"#FF0000": "spot"})  # fmt: skip
        seen.append(Seen(sample, np.asarray(image), size))
    levels = [rng.uniform(-1, 1, (6, 8)) for _ in seen]
    folds = np.arange(len(seen)) % 3
    learn_from = [0, 1, 3, 4, 5, 6, 7, 8]  # in order; image 2 is judged but not learnt from
    session = cpu_session(feature_graph(size, segmentation=True).SerializeToString())

    evidence, cells, refining = held_out_evidence(session, seen, learn_from, folds, classes, levels)
    assert evidence is not None and refining is not None
    assert evidence[3:].min() > evidence[:3].max()  # the spots stand out against the plain images
    kept = [seen[i] for i in learn_from]
    head, refine = fit_segmentation(session, kept, classes, [levels[i] for i in learn_from], cells)
    together_head, together_refine = refining.head, refining.fit()
    # the gathered refinement also carries the offsets chosen on the held-out masks (none on the background)
    assert refining.offsets[0] == 0
    refine = (refine[0], refine[1] + refining.offsets)
    for fitted, gathered in ((head, together_head), (refine, together_refine)):
        np.testing.assert_array_equal(fitted[0], gathered[0])
        np.testing.assert_array_equal(fitted[1], gathered[1])
    # each learnt image is kept with its group and every group's head's scores for fitting without a group
    assert refining.groups == [int(folds[i]) for i in learn_from]
    assert all(sorted(scored) == [0, 1, 2] for scored in refining.scored)


def test_each_groups_head_scores_the_sampled_pixels_as_the_final_head_scores_them():
    """The refinement's pixels are sampled once, with the final head's upsampled scores beside them; the
    scores of each group's head at the same pixels (for a refinement fitted without that group) come from
    the head's cell scores resized at those pixels alone, and for the same head they are the sampled ones."""
    from server.training.graphs import COLOUR_FEATURES
    from server.training.samples import Seen
    from server.training.segmentation import PixelFeatures, RefinementSamples

    rng = np.random.default_rng(10)
    height, width = 96, 128  # more far pixels than CHECK_PIXELS: each judged one stands for several
    like = Seen(
        Sample("a.png", "anomaly", "s3://b/a.png"), np.zeros((height, width, 3), np.uint8), (width, height)
    )
    # heads that mostly say background, so that most pixels lie far from anything marked or painted
    head = (rng.normal(size=(3, 6)).astype(np.float32), np.array([8.0, 0.0, 0.0], np.float32))
    other = (rng.normal(size=(3, 6)).astype(np.float32), np.array([8.0, 0.0, 0.0], np.float32))
    refining = RefinementSamples(head, like, {0: head, 1: other})
    for group in (0, 1):
        truth = np.zeros((height, width), np.int64)
        truth[10:20, 20:30] = 1 + group
        fine = rng.normal(size=(6, height // 4, width // 4)).astype(np.float32)
        pixel = rng.normal(size=(COLOUR_FEATURES + 1, height, width)).astype(np.float32)
        refining.add(fine, PixelFeatures(pixel), truth, group)
    for image in range(2):
        for part, stacked in enumerate((refining.inputs[image], refining.pools[image])):
            np.testing.assert_allclose(refining.scored[image][0][part], stacked[:, :3], atol=1e-4)
            assert not np.allclose(refining.scored[image][1][part], stacked[:, :3], atol=1e-2)
        judged = refining.check_inputs[image]
        assert len(judged) == len(refining.check_targets[image]) == len(refining.check_weights[image])
        # the judged pixels stand for the whole image: near ones for themselves here, far ones for many
        assert refining.check_weights[image].sum() == pytest.approx(height * width, rel=1e-3)
        assert refining.check_weights[image].min() == 1 and refining.check_weights[image].max() > 3


@pytest.mark.parametrize("detail", [None, (100, 75), (57, 43)])
def test_upsampled_at_reads_the_served_resize_at_the_pixels_asked_for(detail):
    """upsampled_at gives, at any pixels, what the served graph's linear Resize gives there: half-pixel
    centres, clamped at the border, to the input's 4x size or to a detail size of any ratio."""
    from server.training.graphs import upsample_graph
    from server.training.samples import cpu_session
    from server.training.segmentation import upsampled_at

    rng = np.random.default_rng(9)
    fine = rng.normal(size=(5, 12, 16)).astype(np.float32)
    (up,) = cpu_session(upsample_graph(5, (12, 16), detail).SerializeToString()).run(
        ["coarse_up"], {"class_logits": fine[None]}
    )
    height, width = up.shape[2:]
    corners = [0, width - 1, (height - 1) * width, height * width - 1]
    pixels = np.concatenate([rng.choice(height * width, 300, replace=False), corners])
    expected = up[0].reshape(5, -1)[:, pixels].T
    np.testing.assert_allclose(upsampled_at(fine, pixels, (height, width)), expected, atol=1e-5)


def test_offsets_are_chosen_where_the_held_out_masks_paint_too_little():
    """Held-out scores that leave a class's pixels just short of winning: an offset on that class paints them
    (mean IoU 0 -> 1 on these pixels), and OFFSET_SHARE of it is kept; the other class, drawn right, keeps 0.
    Pixels that stand for many (far ones) count as many: painting them costs what they stand for."""
    from server.training.segmentation import OFFSET_SHARE, choose_offsets, mean_iou

    targets = np.array([0] * 6 + [1] * 4 + [2] * 4)
    scores = np.zeros((len(targets), 3), np.float32)
    scores[:6, 0] = 2.0  # background, clearly
    scores[6:10] = [0.8, 0.0, -5.0]  # class 1: 0.8 short of the background
    scores[10:] = [0.0, -5.0, 1.0]  # class 2: right already
    weights = np.ones(len(targets), np.float32)
    assert mean_iou(scores, targets, weights, 3) == pytest.approx(0.5)
    offsets = choose_offsets(scores, targets, weights, 3)
    assert offsets[0] == 0 and offsets[2] == 0
    assert 0.8 < offsets[1] / OFFSET_SHARE <= 2.0  # the least offset of MASK_OFFSETS that paints class 1
    assert mean_iou(scores + offsets / OFFSET_SHARE, targets, weights, 3) == pytest.approx(1.0)

    # the same, but a far background pixel standing for 1,000 would also be painted by any such offset
    scores[0] = [0.0, -0.5, -5.0]
    weights[0] = 1_000
    np.testing.assert_array_equal(choose_offsets(scores, targets, weights, 3), np.zeros(3))


def test_the_refinement_is_fitted_again_without_the_far_pixels_its_first_fit_painted():
    """Rare pores (5 an image) as dark as the defects, far from any mark, are hardly among the few random far
    pixels: the first fit paints them (measured: 97 %). The pool of far pixels that stand out most holds them,
    and the refinement fitted again with the pool's painted pixels as background tells the pores (a faint tint
    the defects lack) from the defects."""
    from server.training.graphs import COLOUR_FEATURES
    from server.training.samples import Seen
    from server.training.segmentation import PixelFeatures, RefinementSamples, fit_logistic

    rng = np.random.default_rng(8)
    height, width, channels = 64, 80, COLOUR_FEATURES + 2
    like = Seen(
        Sample("a.png", "anomaly", "s3://b/a.png"), np.zeros((height, width, 3), np.uint8), (width, height)
    )
    head = (np.zeros((2, 5), np.float32), np.array([1.0, 0.0], np.float32))  # its scores: the same everywhere
    refining = RefinementSamples(head, like)
    dark, tint = 0, COLOUR_FEATURES  # channel 0: darkness; the last channel: a tint only the pores have
    pores_of, defects_of = [], []
    for _ in range(6):
        pixel = rng.normal(0, 0.1, (1, channels, height, width)).astype(np.float32)
        truth = np.zeros((height, width), np.int64)
        top, left = rng.integers(8, 48), rng.integers(8, 60)
        truth[top : top + 6, left : left + 6] = 1  # a dark defect
        pores = rng.choice(np.flatnonzero(~widened(truth != 0, 12).reshape(-1)), 5, replace=False)
        for channel, values in ((dark, 1.0), (COLOUR_FEATURES - 1, 2.0)):  # dark, and standing out
            pixel[0, channel][truth == 1] = values
            pixel[0, channel].reshape(-1)[pores] = values
        pixel[0, tint].reshape(-1)[pores] = 0.3
        refining.add(np.zeros((5, height // 4, width // 4), np.float32), PixelFeatures(pixel[0]), truth)
        stacked = np.concatenate([np.zeros((2, height, width), np.float32), pixel[0]]).reshape(
            2 + channels, -1
        )
        pores_of.append(stacked[:, pores].T)
        defects_of.append(stacked[:, np.flatnonzero(truth.reshape(-1))].T)
    first = fit_logistic(np.concatenate(refining.inputs), np.concatenate(refining.targets), 2, balance=0.0)
    final = refining.fit()

    def painted(head, pixels: list[np.ndarray]) -> float:
        weights, bias = head
        scores = np.concatenate(pixels) @ weights.T + bias
        return float((scores[:, 1] > scores[:, 0]).mean())

    assert painted(first, pores_of) > 0.5  # the first fit takes the pores for defects...
    assert painted(final, pores_of) < 0.1 and painted(final, defects_of) > 0.9  # ...the second does not


@pytest.mark.parametrize(
    ("shapes", "reach", "thin"),
    [(["line"], 1, True), (["square"], 1, False), (["square"], 8, True), (["square", "line"], 1, True),
     ([], 1, False)],
)  # fmt: skip
def test_a_class_is_thin_when_most_of_its_pixels_lie_near_its_edge(tmp_path, shapes, reach, thin):
    """A crack 2 pixels wide is all edge; a 30x30 square a quarter edge within 2 pixels, all of it within 8."""
    from PIL import ImageDraw

    from server.training.segmentation import thin_defects

    samples = []
    for index, shape in enumerate(shapes):
        mask = Image.new("RGB", (100, 80), (255, 255, 255))
        if shape == "line":
            ImageDraw.Draw(mask).line((10, 10, 90, 60), fill=(0, 0, 255), width=2)
        else:
            ImageDraw.Draw(mask).rectangle((20, 20, 49, 49), fill=(255, 0, 0))
        mask.save(tmp_path / f"{index}.png")
        samples.append(Sample("a.png", "anomaly", "s3://b/a.png", str(tmp_path / f"{index}.png"),
                              {"#FF0000": "dent", "#0000FF": "crack"}))  # fmt: skip
    assert thin_defects(samples, [("dent", "#FF0000"), ("crack", "#0000FF")], (100, 80), reach) is thin


@pytest.mark.parametrize("zeros", [0.0, 0.05, 0.6, 0.99995])
def test_the_largest_values_are_found_however_many_zeros_there_are(zeros):
    """The pool's pixels that stand out most: the 50 largest contrasts, among many zeros (a binarised scan)
    and many ties, or few zeros; where fewer than 50 are above 0, zeros make up the rest."""
    rng = np.random.default_rng(3)
    values = rng.integers(1, 40, 20_000).astype(np.float32) / 8  # ties everywhere
    values[rng.random(20_000) < zeros] = 0.0
    found = _largest(values, 50)
    assert len(np.unique(found)) == 50
    np.testing.assert_array_equal(np.sort(values[found]), np.sort(values)[-50:])


def test_each_labelled_piece_spans_its_bounding_box_in_whole_cells(tmp_path):
    """Touching cells make one piece whatever their class (a dot beside a dent), diagonal neighbours too;
    a piece's span is its bounding box's longer side, rounded out to the head's 4-pixel cells."""
    from PIL import ImageDraw

    from server.training.segmentation import piece_spans

    mask = Image.new("RGB", (64, 48), (255, 255, 255))
    draw = ImageDraw.Draw(mask)
    draw.rectangle((1, 1, 2, 2), fill=(255, 0, 0))  # a dot in one cell: 4
    draw.rectangle((20, 8, 43, 13), fill=(255, 0, 0))  # a dent 24 wide, cells 5-10: 24...
    draw.point((44, 16), fill=(0, 0, 255))  # ...with a pin-hole in the cell diagonally below its end: 28
    draw.rectangle((4, 30, 5, 45), fill=(0, 0, 255))  # a crack down cells 7-11 of the second column: 20
    mask.save(tmp_path / "mask.png")
    sample = Sample("a.png", "anomaly", "s3://b/a.png", str(tmp_path / "mask.png"),
                    {"#FF0000": "dent", "#0000FF": "hole"})  # fmt: skip
    classes = [("dent", "#FF0000"), ("hole", "#0000FF")]
    assert sorted(piece_spans([sample], classes, (64, 48)).tolist()) == [4, 20, 28]
    # read at half the size: the dent 12 wide, 16 with the hole now in the cell below its end; the crack 12
    assert sorted(piece_spans([sample], classes, (32, 24)).tolist()) == [4, 12, 16]


def test_the_median_span_says_how_small_the_labelled_defects_are_at_a_size(tmp_path):
    """Pin-holes 7 pixels across are small (under two trunk cells) at the size they are drawn and at half of
    it; blobs 41 wide are not, until read at a fifth of their size; masks that paint nothing have no span."""
    from PIL import ImageDraw

    from server.training.segmentation import SMALL_SPAN, median_span

    samples = []
    for index, (radius, count) in enumerate([(3, 5), (3, 4), (20, 1)]):
        mask = Image.new("RGB", (200, 200), (255, 255, 255))
        for spot in range(count):
            x = 30 + 35 * spot
            ImageDraw.Draw(mask).ellipse(
                (x - radius, 100 - radius, x + radius, 100 + radius), fill=(255, 0, 0)
            )
        mask.save(tmp_path / f"{index}.png")
        samples.append(Sample("a.png", "anomaly", "s3://b/a.png", str(tmp_path / f"{index}.png"),
                              {"#FF0000": "hole"}))  # fmt: skip
    classes = [("hole", "#FF0000")]
    assert median_span(samples, classes, (200, 200)) == 12  # each hole two or three cells wide
    assert median_span(samples, classes, (100, 100)) == 8  # one or two
    assert median_span(samples[2:], classes, (200, 200)) == 44 > SMALL_SPAN
    assert median_span(samples[2:], classes, (40, 40)) < SMALL_SPAN
    blank = Sample("a.png", "anomaly", "s3://b/a.png", None, {})
    assert median_span([blank], classes, (200, 200)) is None


@pytest.mark.parametrize("tone, detail", [(False, None), (True, None), (False, (100, 75))])
def test_the_graph_without_pixel_features_gives_the_same_fine_features(tone, detail):
    """The head's passes that read only the fine features take the feature graph without the pixel features
    (and without the detail input they are read from): its fine features are the full graph's."""
    from server.training.graphs import DETAIL, feature_graph
    from server.training.samples import cpu_session

    rng = np.random.default_rng(4)
    image = rng.uniform(-1, 1, (1, 3, 48, 64)).astype(np.float32)
    feeds = {"image": image}
    if detail is not None:
        feeds[DETAIL] = rng.uniform(-1, 1, (1, 3, detail[1], detail[0])).astype(np.float32)
    full = cpu_session(feature_graph((64, 48), True, tone=tone, detail=detail).SerializeToString())
    fine = cpu_session(
        feature_graph((64, 48), True, tone=tone, detail=detail, pixels=False).SerializeToString()
    )
    assert [output.name for output in fine.get_outputs()] == ["features", "fine_features"]
    assert [graph_input.name for graph_input in fine.get_inputs()] == ["image"]
    (expected,) = full.run(["fine_features"], feeds)
    (fine_features,) = fine.run(["fine_features"], {"image": image})
    np.testing.assert_array_equal(fine_features, expected)
