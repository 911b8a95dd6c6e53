"""The decision from an anomaly map: statistics, the learnt rule, the threshold and the calibration, and the
served graph computing exactly what the trainer computed in numpy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from onnx import numpy_helper

from server.training.decision import (
    PRIOR_COUNT,
    auroc,
    best_threshold,
    blur,
    calibration,
    distance_map,
    fit_combination,
    likeness,
    map_statistics,
    memory_only,
    statistics,
)


def discs_on_noise(rng: np.random.Generator, boxes: list, colour: tuple[int, int, int]) -> list[np.ndarray]:
    """96x64 pictures of noise, each with a disc of `colour` in its box, as the network takes them."""
    from PIL import Image, ImageDraw

    from server.training.trainer import network_input

    pictures = []
    for box in boxes:
        image = Image.fromarray(rng.integers(90, 160, (64, 96, 3), dtype=np.uint8))
        ImageDraw.Draw(image).ellipse(box, fill=colour)
        pictures.append(network_input(np.asarray(image)))
    return pictures


def test_the_threshold_maximises_f1_in_the_widest_gap_nearer_the_normal_side():
    normal, anomalous = np.array([1.0, 2.0, 3.0]), np.array([7.0, 8.0, 9.0])
    # every cut in 3..7 is perfect: a third of the way from the normal side
    assert best_threshold(normal, anomalous) == pytest.approx(3.0 + 4.0 / 3)
    overlapping = best_threshold(np.array([1.0, 2.0, 6.5]), np.array([6.0, 8.0, 9.0]))
    assert overlapping == pytest.approx(2.0 + 4.0 / 3)  # F1 6/7 in 2..6 (in 6.5..8: 4/5)
    assert best_threshold(np.array([1.0, 1.0]), np.array([4.0])) == pytest.approx(2.0)


def test_a_cut_a_hair_better_squeezed_between_two_scores_gives_way_to_a_wide_one():
    """One anomaly scores among the normal ones: catching it costs a false alarm (F1 10/11, in a gap 1 wide),
    leaving it costs the miss (F1 8/9, in a gap 4.8 wide). The two differ by less than half an error, so the
    wide gap wins."""
    normal, anomalous = np.array([1.0, 2.0, 3.0, 4.0, 5.2]), np.array([5.0, 10.0, 11.0, 12.0, 13.0])
    assert best_threshold(normal, anomalous) == pytest.approx(5.2 + 4.8 / 3)
    # anomalies below every normal score: no cut catches one, and the widest gap stays
    assert best_threshold(np.array([5.0, 6.0]), np.array([1.0, 1.0])) == pytest.approx(1.0 + 4.0 / 3)
    # a whole error is not traded for width: the perfect cut 0.5 wide stays, not one 15.5 wide missing one
    assert best_threshold(np.array([1.0, 2.0, 3.0, 4.0]), np.array([4.5, 20.0, 21.0, 22.0])) == pytest.approx(
        4.0 + 0.5 / 3
    )


def test_calibration_gives_clear_cases_high_confidence_and_borderline_ones_little():
    rng = np.random.default_rng(0)
    normal, anomalous = rng.normal(0, 1, 30), rng.normal(6, 1, 30)
    scores = np.concatenate([normal, anomalous])
    labels = np.array([False] * 30 + [True] * 30)
    threshold = best_threshold(normal, anomalous)
    calibrated = calibration(scores, labels, threshold)
    slope = calibrated.slope
    assert not calibrated.log_score  # scores below 0: no logarithms

    def probability(score: float) -> float:
        return 1 / (1 + np.exp(-slope * (score - threshold)))

    assert probability(6.0) > 0.9 and probability(0.0) < 0.1  # typical cases: confident
    assert 0.4 < probability(threshold + 0.1) < 0.6  # at the threshold: a coin toss
    assert np.isfinite(slope)  # a perfect separation still gives a finite slope
    noisy = np.concatenate([rng.normal(0, 1, 30), rng.normal(1, 1, 30)])
    assert calibration(noisy, labels, best_threshold(noisy[:30], noisy[30:])).slope < slope


def test_the_calibration_reads_new_pictures_as_sure_as_it_should():
    """Fitted on 15 + 15 held-out scores and judged on new scores from the same distributions, Jeffreys'
    half an image of each label in the targets explains the new ones better than Platt's (Laplace's) one
    image: with one image the slope stays too flat, and clear cases read too near 0.5."""
    losses: dict[float, list[float]] = {1.0: [], PRIOR_COUNT: []}
    for seed in range(20):
        rng = np.random.default_rng(seed)
        normal, anomalous = rng.normal(0, 1, 15), rng.normal(4, 1.5, 15)
        scores, labels = np.concatenate([normal, anomalous]), np.array([False] * 15 + [True] * 15)
        threshold = best_threshold(normal, anomalous)
        new_normal, new_anomalous = rng.normal(0, 1, 2000), rng.normal(4, 1.5, 2000)
        for prior, kept in losses.items():
            slope = calibration(scores, labels, threshold, prior).slope
            read_normal = 1 / (1 + np.exp(-slope * (new_normal - threshold)))
            read_anomalous = 1 / (1 + np.exp(-slope * (new_anomalous - threshold)))
            kept.append(-(np.log(1 - read_normal + 1e-9).mean() + np.log(read_anomalous + 1e-9).mean()))
    assert PRIOR_COUNT == 0.5
    assert np.mean(losses[PRIOR_COUNT]) < np.mean(losses[1.0]) - 0.01, {
        k: np.mean(v) for k, v in losses.items()
    }


def test_distances_whose_anomalies_reach_far_are_calibrated_in_logarithms():
    """Normal distances crowd below the threshold, anomalous ones reach many times it (as on generated
    plates): a slope on the logarithms explains them better. With Platt's targets (one image of each label),
    it also read a defect half as far again as the threshold as clearer than a slope on the distances
    themselves did, which the far ones held flat; with Jeffreys' half an image (PRIOR_COUNT) both slopes are
    steeper and the logarithms' no longer the clearer there (0.911 against 0.971)."""
    rng = np.random.default_rng(3)
    normal = rng.uniform(2.0, 6.3, 15)
    anomalous = np.concatenate(
        [rng.uniform(6.5, 14.0, 10), np.exp(rng.uniform(np.log(15.0), np.log(80.0), 5))]
    )
    scores, labels = np.concatenate([normal, anomalous]), np.array([False] * 15 + [True] * 15)
    threshold = best_threshold(normal, anomalous)
    assert calibration(scores, labels, threshold).log_score
    calibrated = calibration(scores, labels, threshold, prior=1.0)
    assert calibrated.log_score
    logs = 1 / (1 + np.exp(-calibrated.slope * np.log(1.5)))
    # the same, moved below 0: no logarithms
    linear = calibration(scores - 100.0, labels, threshold - 100.0, prior=1.0)
    assert not linear.log_score
    flat = 1 / (1 + np.exp(-linear.slope * 0.5 * threshold))
    assert logs > flat + 0.05, (logs, flat)  # measured: 0.836 and 0.766


def test_the_learnt_rule_finds_what_the_memory_peak_misses():
    """Anomalies that only show in the pooled features (a wrong colour all over, say): the peak is no help,
    the regression on pooled components finds them."""
    rng = np.random.default_rng(1)
    labels = np.array([False] * 40 + [True] * 40)
    stats = np.abs(rng.normal(5, 1, (80, 4)))
    pooled = rng.normal(0, 1, (80, 20))
    pooled[labels, 3] += 4.0
    learnt = fit_combination(stats[::2], pooled[::2], labels[::2], components=8)
    held_out = learnt.score(stats[1::2], pooled[1::2])
    assert auroc(held_out, labels[1::2]) > 0.95
    peak_only = memory_only(20).score(stats[1::2], pooled[1::2])
    assert auroc(peak_only, labels[1::2]) < 0.75


def test_statistics_of_a_map():
    squared = np.zeros(100)
    squared[55] = 16.0  # one cell 4 away from everything remembered
    peak, top, mean, spread = statistics(squared, (10, 10))
    assert peak == pytest.approx(1.0)  # the blur keeps a quarter of the centre
    assert top == pytest.approx((1.0 + 0.5) / 2)  # the top 2 cells: the centre and a side neighbour
    assert mean == pytest.approx(0.04)  # the blur spreads the 4 over 9 cells, all inside
    assert spread > 0


@pytest.mark.parametrize(
    ("local", "located", "defects", "tone", "edges", "area", "reach"),
    [(False, False, False, False, False, False, 1), (True, False, False, False, False, False, 1),
     (False, False, False, False, True, False, 1), (False, True, False, False, True, False, 1),
     (False, True, True, False, False, False, 1), (True, False, False, True, False, False, 1),
     (False, False, True, False, True, False, 1), (False, False, False, False, True, True, 1),
     (True, True, False, False, False, True, 1), (False, False, True, False, True, True, 1),
     (True, True, False, False, False, False, 0)],
)  # fmt: skip
def test_the_served_graph_scores_as_the_trainer_does(local, located, defects, tone, edges, area, reach):
    """Features, nearest distances (a global memory in numpy, a local one through its own small graph, a
    cell away or in place only), the map measured against each place's normal level or not, the part's
    area or every cell, statistics, the likeness to labelled defect patches, pooled components, the learnt
    rule and the calibration: the exported graph against the trainer's computation, on real pictures."""

    from server.training.decision import Combination
    from server.training.graphs import Decision, feature_graph, feature_grid, scoring_graph
    from server.training.memory import Nearest
    from server.training.selection import Images, Searcher, memory_for
    from server.training.trainer import cpu_session

    size = (96, 64)
    grid = feature_grid(size)
    rng = np.random.default_rng(2)
    pictures = discs_on_noise(
        rng, [(10 + 8 * index, 10, 40 + 8 * index, 40) for index in range(4)], (200, 40, 40)
    )
    features = cpu_session(feature_graph(size, tone=tone).SerializeToString())
    channels = 158 if tone else 152
    maps = [features.run(["features"], {"image": p})[0][0].reshape(channels, -1).T for p in pictures]
    labels = np.array([False, False, True, True])
    memory = memory_for(Images(maps, [], labels, np.zeros(4, int), grid), None, 10_000, local)
    assert memory.shape == ((2, channels, *grid) if local else (2 * grid[0] * grid[1], channels))
    statistics_used = 5 if defects else 4
    combination = Combination(rng.normal(size=statistics_used + 3), 0.3, rng.normal(size=channels),
                              rng.normal(size=(channels, 3)))  # fmt: skip
    location = (rng.uniform(0, 2, grid).astype(np.float32), rng.uniform(0.5, 2, grid).astype(np.float32))
    prototypes = maps[3][[5, 9, 17]]  # patches of a labelled anomaly
    part = np.zeros(grid, np.float32)
    part[1:-1, 2:-3] = 1.0  # the part's area: the ring and a band of columns left out
    decision = Decision(combination, threshold=1.5, slope=0.7, radius=reach, map_spread=1000.0,
                        location=location if located else None, prototypes=prototypes if defects else None,
                        edges=edges, area=part if area else None)  # fmt: skip
    served = cpu_session(scoring_graph(size, memory, decision, tone=tone).SerializeToString())
    searcher = Searcher(memory, grid, reach)
    for picture, patches in zip(pictures, maps, strict=True):
        blurred = distance_map(searcher.squared(patches), grid, edges, part if area else None)
        measured = (blurred - location[0]) / location[1] if located else blurred
        stats = map_statistics(measured)
        if defects:
            to_normal = np.sqrt(np.maximum(searcher.squared(patches), 0))
            to_normal = to_normal * part.reshape(-1) if area else to_normal
            to_defects = np.sqrt(np.maximum(Nearest(prototypes).squared(patches), 0))
            stats = np.append(stats, likeness(to_normal, to_defects).max())
        combined = combination.score(stats[None], patches.mean(0)[None])[0]
        expected = 1 / (1 + np.exp(-0.7 * (combined - 1.5)))
        score, anomaly_map = served.run(["score", "anomaly_map"], {"image": picture})
        assert score[0] == pytest.approx(expected, rel=1e-3, abs=1e-4)
        np.testing.assert_allclose(anomaly_map[0, 0] * 1000, measured + 500, rtol=1e-4, atol=0.05)


@pytest.mark.parametrize("tone", [False, True])
def test_the_quantized_search_scores_as_the_float_search_within_a_hair(tone):
    """A served graph whose global memory is searched in 8-bit integers gives the float graph's map and
    score, on real pictures with a part that is not in the memory: distances (20-60 here) within 0.5; it
    holds no float search of the memory but, with each cell's tone, the tone's products (6 channels); and
    the trainer's quantized search (its held-out distances) gives the served map itself."""
    from PIL import Image, ImageDraw

    from server.training.graphs import TONE_CHANNELS, Decision, feature_graph, feature_grid, scoring_graph
    from server.training.selection import Searcher
    from server.training.trainer import cpu_session, network_input

    size = (128, 96)
    rng = np.random.default_rng(7)
    pictures = []
    for index in range(6):
        image = Image.fromarray(rng.integers(90, 160, (96, 128, 3), dtype=np.uint8))
        if index >= 4:  # the memory never saw a red disc
            ImageDraw.Draw(image).ellipse((30, 20, 70, 60), fill=(200, 40, 40))
        pictures.append(network_input(np.asarray(image)))
    channels = 152 + (TONE_CHANNELS if tone else 0)
    features = cpu_session(feature_graph(size, tone=tone).SerializeToString())
    memory = np.concatenate(
        [features.run(["features"], {"image": p})[0][0].reshape(channels, -1).T for p in pictures[:3]]
    )
    # the map is then distance / spread + 0.5 (the tone's distances are larger), and the score near 0.5 for
    # the unseen noise
    spread = 1500.0 if tone else 200.0
    decision = Decision(
        memory_only(channels), threshold=30.0, slope=0.1, map_threshold=0.0, map_spread=spread, edges=True
    )
    exact = cpu_session(scoring_graph(size, memory, decision, tone=tone).SerializeToString())
    graph = scoring_graph(size, memory, decision, quantized=True, tone=tone)
    assert {"MatMulInteger", "DynamicQuantizeLinear"} <= {node.op_type for node in graph.graph.node}
    initializers = {item.name: item for item in graph.graph.initializer}
    products = [list(initializers[node.input[1]].dims) for node in graph.graph.node if node.op_type == "Gemm"]
    assert products == ([[TONE_CHANNELS, int(d)] for _, d in products] if tone else [])
    quantized = cpu_session(graph.SerializeToString())
    searcher = Searcher(memory, feature_grid(size), quantized=True, exact=TONE_CHANNELS if tone else 0)
    peaks = []
    for picture in pictures[3:]:
        wanted = exact.run(["anomaly_map", "score"], {"image": picture})
        found = quantized.run(["anomaly_map", "score"], {"image": picture})
        np.testing.assert_allclose(found[0] * spread, wanted[0] * spread, atol=0.5)
        assert found[1][0] == pytest.approx(wanted[1][0], abs=0.002)
        peaks.append(found[0].max() * spread)
        patches = features.run(["features"], {"image": picture})[0][0].reshape(channels, -1).T
        held_out = distance_map(searcher.squared(patches), feature_grid(size), edges=True)
        np.testing.assert_allclose(found[0][0, 0] * spread, held_out + spread / 2, rtol=1e-5, atol=2e-3)
    assert min(peaks[1:]) > peaks[0] + 20  # the discs stand out of the map as they do in floats


@pytest.mark.parametrize("defects", [False, True])
def test_a_map_read_from_inside_searches_only_the_inner_cells(defects):
    """With the ring read from its inward neighbours, a global memory's search skips the ring's patches
    (their distances are never read), unless the likeness to defect patches reads every patch's."""
    from server.training.graphs import Decision, scoring_graph

    rng = np.random.default_rng(4)
    memory = rng.normal(size=(50, 152)).astype(np.float32)
    prototypes = memory[:3] if defects else None
    decision = Decision(memory_only(152), threshold=1.0, slope=1.0, prototypes=prototypes, edges=True)
    graph = scoring_graph((96, 64), memory, decision).graph
    searched = {node.input[0] for node in graph.node if node.op_type == "Gemm"}
    shapes = {
        init.name: list(numpy_helper.to_array(init))
        for init in graph.initializer
        if "patch_shape" in init.name
    }
    if defects:
        assert searched == {"patches"}
        assert shapes == {"patch_shape": [152, 8 * 12]}
    else:
        assert searched == {"inner_patches"}
        assert shapes == {"inner_patch_shape": [152, 6 * 10]}


@pytest.mark.parametrize("quantized", [False, True])
def test_a_global_memory_searches_only_the_parts_area(quantized):
    """Aligned parts: the served graph searches the patches of the part's area alone (its inner cells,
    where the ring reads them) and gives the others a distance of 0, the map the trainer computes, in
    floats or in 8-bit integers."""

    from server.training.graphs import Decision, feature_graph, feature_grid, scoring_graph
    from server.training.selection import Searcher
    from server.training.trainer import cpu_session

    size = (96, 64)
    grid = feature_grid(size)
    pictures = discs_on_noise(np.random.default_rng(5), [(20, 10, 60 + 8 * index, 50) for index in range(3)],
                              (60, 70, 200))  # fmt: skip
    features = cpu_session(feature_graph(size).SerializeToString())
    maps = [features.run(["features"], {"image": p})[0][0].reshape(152, -1).T for p in pictures]
    memory = np.concatenate(maps[:2])
    part = np.zeros(grid, np.float32)
    part[0:6, 1:8] = 1.0  # reaches the ring at the top
    decision = Decision(memory_only(152), threshold=30.0, slope=0.1, map_spread=1000.0, edges=True, area=part)
    graph = scoring_graph(size, memory, decision, quantized=quantized)
    (cells,) = [numpy_helper.to_array(i) for i in graph.graph.initializer if i.name == "area_cells"]
    assert len(cells) == part[1:-1, 1:-1].sum() == 35  # the area's inner cells, of 8 x 12
    ring = np.zeros(grid, np.float32)
    ring[0, 3:6] = 1.0  # an area in the ring alone: its cells are searched, their distances never read
    searcher = Searcher(memory, grid, quantized=quantized)
    for area in (part, ring):
        decision = replace(decision, area=area)
        served = cpu_session(scoring_graph(size, memory, decision, quantized=quantized).SerializeToString())
        for picture, patches in zip(pictures, maps, strict=True):
            (anomaly_map,) = served.run(["anomaly_map"], {"image": picture})
            expected = distance_map(searcher.squared(patches), grid, edges=True, area=area)
            np.testing.assert_allclose(anomaly_map[0, 0] * 1000, expected + 500, rtol=1e-4, atol=0.05)


def test_a_score_calibrated_in_logarithms_is_served_as_the_trainer_computes_it():
    """With `log_score` the served probability is sigmoid(slope * (log peak - log threshold)): the same
    decision as without it, a different Confidence; a picture the memory holds (distance 0) reads as
    surely normal."""
    from server.training.graphs import Decision, feature_graph, feature_grid, scoring_graph
    from server.training.selection import Searcher
    from server.training.trainer import cpu_session

    size = (96, 64)
    grid = feature_grid(size)
    pictures = discs_on_noise(np.random.default_rng(6), [(20, 10, 50, 40), (30, 12, 70, 52)], (200, 40, 40))
    features = cpu_session(feature_graph(size).SerializeToString())
    maps = [features.run(["features"], {"image": p})[0][0].reshape(152, -1).T for p in pictures]
    memory = maps[0]
    searcher = Searcher(memory, grid)
    peaks = [distance_map(searcher.squared(patches), grid).max() for patches in maps]
    threshold = peaks[1] / 2
    for log_score in (False, True):
        decision = Decision(memory_only(152), threshold=threshold, slope=3.0, log_score=log_score)
        served = cpu_session(scoring_graph(size, memory, decision).SerializeToString())
        scores = [served.run(["score"], {"image": picture})[0][0] for picture in pictures]
        over = np.log(peaks[1]) - np.log(threshold) if log_score else peaks[1] - threshold
        assert scores[1] == pytest.approx(1 / (1 + np.exp(-3.0 * over)), rel=1e-3)
        assert scores[0] < 1e-3  # the memory's own picture
    assert peaks[0] < 0.1  # (a hair above 0: |p|^2 + |m|^2 - 2 p.m in floats)


def test_a_local_search_finds_the_nearest_patch_near_the_same_place():
    from server.training.graphs import local_memory_tensors, local_nearest_graph
    from server.training.trainer import cpu_session

    rng = np.random.default_rng(3)
    memory = rng.normal(size=(3, 5, 6, 7)).astype(np.float32)  # 3 images, 5 channels, 6 x 7 cells
    features = rng.normal(size=(1, 5, 6, 7)).astype(np.float32)
    (found,) = cpu_session(local_nearest_graph((5, 6, 7), 1).SerializeToString()).run(
        None, {"features": features, **local_memory_tensors(memory)}
    )
    padded = np.pad(memory, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    expected = np.full((6, 7), np.inf)
    for y in range(6):
        for x in range(7):
            near = padded[:, :, y : y + 3, x : x + 3]  # the 3 x 3 cells around (y, x) in every image
            expected[y, x] = ((near - features[0, :, y, x][None, :, None, None]) ** 2).sum(1).min()
    np.testing.assert_allclose(found, expected.reshape(-1), rtol=1e-4, atol=1e-4)


def test_the_border_ring_reads_its_inward_neighbours_where_asked():
    """A spike in a corner cell (where the network sees its zero padding) is dropped with `edges`; inside
    the ring the map is blurred as before."""
    grid = np.ones((6, 8), np.float32)
    grid[0, 0] = 9.0  # the padding's artefact
    grid[3, 4] = 5.0  # a defect inside
    plain, ringed = blur(grid), blur(grid, edges=True)
    assert plain[0, 0] > 2.0 and ringed[0, 0] < 1.5
    np.testing.assert_allclose(ringed[2:-2, 2:-2], plain[2:-2, 2:-2])
    assert ringed.max() == pytest.approx(plain[3, 4])


def test_tone_is_each_cells_log_intensity_against_its_surroundings():
    """The features with tone: the trunk's 152 unchanged, then per colour channel the mean log intensity
    of each 8x8 cell less the mean over the 7x7 cells around it (fewer at the border), weighted, and the
    same against the 15x15 cells around it; a light gradient across the picture leaves it near zero inside
    the picture, a soft stain does not."""
    from server.training.graphs import TONE_CELLS, TONE_FLOOR, TONE_WEIGHT, TONE_WIDE_CELLS, feature_graph
    from server.training.trainer import cpu_session, network_input

    size = (128, 96)
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:96, 0:128]
    lit = 60 + 1.2 * xx + 0.5 * yy  # light falling off across the part
    stain = 40 * np.exp(-((xx - 80) ** 2 + (yy - 40) ** 2) / 150.0)  # soft, no edge to speak of
    pixels = np.clip(
        np.stack([lit - stain, lit - 0.5 * stain, lit], axis=2) + rng.normal(0, 2, (96, 128, 3)), 0, 255
    )
    picture = network_input(pixels.astype(np.uint8))
    (plain,) = cpu_session(feature_graph(size).SerializeToString()).run(["features"], {"image": picture})
    (toned,) = cpu_session(feature_graph(size, tone=True).SerializeToString()).run(
        ["features"], {"image": picture}
    )
    np.testing.assert_allclose(toned[0, :152], plain[0], rtol=1e-5, atol=1e-5)

    intensity = np.log((picture[0] * 128 + 127) / 256 + TONE_FLOOR)  # [3, H, W]
    cells = intensity.reshape(3, 12, 8, 16, 8).mean(axis=(2, 4))

    def against(across: int) -> np.ndarray:
        half = across // 2
        around = np.zeros_like(cells)
        for row in range(12):
            for col in range(16):
                block = cells[:, max(0, row - half) : row + half + 1, max(0, col - half) : col + half + 1]
                around[:, row, col] = block.mean(axis=(1, 2))
        return TONE_WEIGHT * (cells - around)

    expected = against(TONE_CELLS)
    np.testing.assert_allclose(toned[0, 152:155], expected, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(toned[0, 155:], against(TONE_WIDE_CELLS), rtol=1e-3, atol=1e-2)
    red = expected[0]
    # the stain's cell against cells whose whole neighbourhood is inside the picture, away from the stain
    # (at the border the neighbourhood is one-sided, and a gradient shows there)
    assert abs(red[5, 10]) > 3 * np.abs(red[3:9, 3:6]).max()
