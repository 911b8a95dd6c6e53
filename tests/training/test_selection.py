"""The model choice: held-out scoring by folds, and candidates and rules that win where the data favour
them. Feature maps are made up here (no network), so each test runs in well under a second."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from server.training.graphs import TONE_CHANNELS
from server.training.selection import (
    ALIGNMENT_COST,
    CLEARER,
    CLOSE_MEMORIES,
    ENLARGED_COST,
    HIGH_SIDE_COST,
    LOCAL_COST,
    MARGIN,
    MASK_RULE,
    PROTOTYPE_CELLS,
    PROTOTYPE_RULE,
    TONE_COST,
    TURNED_COST,
    Candidate,
    Images,
    Outcome,
    deal,
    evaluate,
    exact_channels,
    larger_size_bases,
    left_out_maps,
    memory_for,
    merit,
    offer_mask_rule,
    searched_quantized,
    served_quantized,
    wins,
)

GRID = (6, 8)


def images(normal: list[np.ndarray], anomalous: list[np.ndarray]) -> Images:
    labels = np.array([False] * len(normal) + [True] * len(anomalous))
    return Images(normal + anomalous, [], labels, deal(labels, 5), GRID)


def textured(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Maps whose patches come from one shared set of 40 patterns, at any place."""
    patterns = np.random.default_rng(99).normal(0, 1, (40, 12))
    return [patterns[rng.integers(0, 40, 48)] + rng.normal(0, 0.1, (48, 12)) for _ in range(count)]


def test_folds_deal_each_label_round_robin():
    labels = np.array([False] * 7 + [True] * 4)
    np.testing.assert_array_equal(deal(labels, 3), [0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 0])


def test_a_held_out_image_is_never_scored_against_its_own_patches():
    rng = np.random.default_rng(0)
    normal = [rng.normal(0, 1, (48, 12)) for _ in range(10)]  # unrelated images: nothing shared
    view = images(normal, [])
    for fold in range(5):
        memory = memory_for(view, fold, 10_000, local=False)
        inside = {tuple(np.round(p, 6)) for i in np.flatnonzero(view.folds == fold) for p in view.maps[i]}
        assert not any(tuple(np.round(p, 6)) in inside for p in memory)
    outcome = evaluate(Candidate(320), view, 10_000)
    assert outcome.stats[:, 0].min() > 1.0  # far from everything: held out, not matched with itself


def test_a_local_memory_wins_when_anomalies_are_parts_out_of_place():
    """Aligned parts: each place has its own pattern. An anomaly swaps two places' patterns: every patch
    is normal somewhere, so only a memory that knows where patches belong sees it."""
    rng = np.random.default_rng(1)
    layout = rng.normal(0, 1, (48, 12))

    def part(swapped: bool) -> np.ndarray:
        patches = layout + rng.normal(0, 0.05, (48, 12))
        if swapped:
            patches[[5, 30]] = patches[[30, 5]]
        return patches

    view = images([part(False) for _ in range(15)], [part(True) for _ in range(10)])
    global_memory = evaluate(Candidate(320), view, 10_000)
    local = evaluate(Candidate(320, local=True, cost=1), view, 10_000)
    assert global_memory.auroc < 0.8
    assert local.auroc > 0.95 and wins(local, global_memory)


def test_a_global_memory_stays_when_patterns_appear_anywhere():
    rng = np.random.default_rng(2)
    normal = textured(rng, 15)
    anomalous = textured(rng, 10)
    for patches in anomalous:
        patches[rng.integers(0, 48)] += 3.0  # one odd patch, anywhere
    view = images(normal, anomalous)
    global_memory = evaluate(Candidate(320), view, 10_000)
    local = evaluate(Candidate(320, local=True, cost=1), view, 10_000)
    assert global_memory.auroc > 0.95
    assert not wins(local, global_memory) or local.auroc >= global_memory.auroc


def test_labelled_anomalies_teach_a_rule_when_the_memory_peak_is_not_enough():
    """Anomalies made of slightly unusual patches everywhere (a wrong finish), which a peak barely sees but
    the mean distance and pooled features do."""
    rng = np.random.default_rng(3)
    normal = textured(rng, 20)
    anomalous = [patches + 0.25 for patches in textured(rng, 14)]
    outliers = rng.choice(20, 4, replace=False)
    for index in outliers:  # some normals have one odd patch, which fools the peak
        normal[index][rng.integers(0, 48)] += 3.0
    view = images(normal, anomalous)
    outcome = evaluate(Candidate(320), view, 10_000)
    assert outcome.rules["memory"] < 0.95
    assert outcome.rule != "memory" and outcome.auroc > outcome.rules["memory"]


def test_a_memory_with_turned_copies_never_reads_the_pooled_features():
    """The pooled features tell which way a picture is turned: a rule reading them would take turned normal
    pictures for anomalies, so a candidate expecting turned parts leaves that rule out."""
    rng = np.random.default_rng(3)
    normal = textured(rng, 20)
    anomalous = [patches + 0.25 for patches in textured(rng, 14)]  # pooled features tell these apart
    view = images(normal, anomalous)
    assert "supervised+pooled" in evaluate(Candidate(320), view, 10_000).rules
    turned = evaluate(Candidate(320, turned=True), view, 10_000)
    assert "supervised+pooled" not in turned.rules and turned.rule != "supervised+pooled"
    assert "supervised" in turned.rules  # the map's statistics still teach a rule


def test_the_masks_evidence_replaces_the_rule_only_where_it_does_better():
    """Anomalies the memory's peak half misses (normal images with one odd patch score as high): evidence
    from the masks that tells them apart makes a rule of its own, and evidence that is noise leaves the
    rule as it was."""
    rng = np.random.default_rng(5)
    normal = textured(rng, 20)
    anomalous = textured(rng, 14)
    for index, patches in enumerate(anomalous):
        patches[rng.integers(0, 48)] += 3.0 if index % 2 else 0.3
    for index in rng.choice(20, 8, replace=False):
        normal[index][rng.integers(0, 48)] += 3.0
    view = images(normal, anomalous)
    outcome = evaluate(Candidate(320), view, 10_000)
    before = (outcome.rule, outcome.auroc)
    assert before[1] < 0.9
    noise = Outcome(outcome.candidate, outcome.stats, rule=outcome.rule, scores=outcome.scores,
                    auroc=outcome.auroc, separation=outcome.separation, rules=dict(outcome.rules))  # fmt: skip
    offer_mask_rule(noise, view, rng.normal(0, 1, len(view.labels)))
    assert (noise.rule, noise.auroc) == before and MASK_RULE in noise.rules
    offer_mask_rule(outcome, view, view.labels * 2.0 + rng.normal(0, 0.5, len(view.labels)))
    assert outcome.rule == MASK_RULE and outcome.auroc > 0.95
    assert outcome.auroc == outcome.rules[MASK_RULE] and len(outcome.scores) == len(view.labels)


def test_few_labelled_anomalies_leave_the_decision_to_the_memory():
    rng = np.random.default_rng(4)
    view = images(textured(rng, 12), [p + 1.0 for p in textured(rng, 3)])
    outcome = evaluate(Candidate(320), view, 10_000)
    assert outcome.rule == "memory" and set(outcome.rules) == {"memory"}


def test_margins_make_dearer_candidates_prove_themselves_and_robust_ones_win_near_ties():
    high, turned = Candidate(640, cost=HIGH_SIDE_COST), Candidate(320, cost=TURNED_COST, turned=True)
    best = Outcome(Candidate(320), np.zeros((1, 4)), auroc=0.95, separation=2.0)
    assert not wins(Outcome(high, np.zeros((1, 4)), auroc=0.955, separation=9.0), best)  # not by 0.01
    assert wins(Outcome(high, np.zeros((1, 4)), auroc=0.97, separation=1.0), best)
    assert wins(
        Outcome(turned, np.zeros((1, 4)), auroc=0.945, separation=1.0), best
    )  # robust, nearly as good
    assert not wins(Outcome(turned, np.zeros((1, 4)), auroc=0.93, separation=9.0), best)
    aligned = Outcome(Candidate(320, aligned=True), np.zeros((1, 4)), auroc=1.0, separation=2.0)
    as_they_are = Candidate(320, cost=ALIGNMENT_COST)  # alignment also copes with turned parts: it stays
    assert not wins(Outcome(as_they_are, np.zeros((1, 4)), auroc=1.0, separation=9.0), aligned)
    # ...and the other way: after the images as they are won, aligned parts win back unless clearly worse
    unaligned = Outcome(as_they_are, np.zeros((1, 4)), auroc=1.0, separation=9.0)
    aligned_local = Candidate(320, local=True, cost=LOCAL_COST, aligned=True)
    assert wins(Outcome(aligned_local, np.zeros((1, 4)), auroc=0.995, separation=1.0), unaligned)
    assert not wins(Outcome(aligned_local, np.zeros((1, 4)), auroc=0.98, separation=9.0), unaligned)
    unaligned_local = Candidate(320, local=True, cost=LOCAL_COST)
    assert not wins(Outcome(unaligned_local, np.zeros((1, 4)), auroc=0.995, separation=9.0), unaligned)


@pytest.mark.parametrize(
    "high", [Candidate(640, cost=HIGH_SIDE_COST), Candidate(640, cost=ENLARGED_COST, enlarged=True)]
)
def test_where_the_training_images_are_separated_the_larger_size_must_keep_them_clearly_further_apart(high):
    """The images' own size and the pictures enlarged alike."""
    separated = Outcome(Candidate(320), np.zeros((1, 4)), auroc=1.0, separation=4.0)
    assert not wins(Outcome(high, np.zeros((1, 4)), auroc=1.0, separation=4.0 * CLEARER), separated)
    assert wins(Outcome(high, np.zeros((1, 4)), auroc=1.0, separation=4.1 * CLEARER), separated)
    assert not wins(Outcome(high, np.zeros((1, 4)), auroc=0.99, separation=50.0), separated)  # not separated
    # short of separating them, the margin rules as before, whatever the separation
    nearly, margin = Outcome(Candidate(320), np.zeros((1, 4)), auroc=0.96, separation=4.0), MARGIN[high.cost]
    assert not wins(Outcome(high, np.zeros((1, 4)), auroc=0.96 + margin, separation=50.0), nearly)
    assert wins(Outcome(high, np.zeros((1, 4)), auroc=0.965 + margin, separation=1.0), nearly)
    # ...and only the larger size is asked for it: a candidate at the same size keeps its own margins
    tone = Candidate(320, tone=True, cost=TONE_COST)
    assert not wins(Outcome(tone, np.zeros((1, 4)), auroc=1.0, separation=50.0), separated)


def test_enlarged_pictures_must_do_better_by_more_than_the_images_own_size():
    """Enlarged pictures show no detail of their own: they win by 0.03 held out, not by the 0.01 that the
    images' own size needs."""
    best = Outcome(Candidate(288), np.zeros((1, 4)), auroc=0.78, separation=1.0)
    enlarged = Candidate(608, cost=ENLARGED_COST, enlarged=True)
    assert not wins(Outcome(enlarged, np.zeros((1, 4)), auroc=0.80, separation=9.0), best)
    assert wins(Outcome(enlarged, np.zeros((1, 4)), auroc=0.815, separation=1.0), best)
    assert wins(
        Outcome(Candidate(608, cost=HIGH_SIDE_COST), np.zeros((1, 4)), auroc=0.80, separation=1.0), best
    )


def test_a_learnt_rule_counts_half_between_candidates():
    """Candidates are compared by the memory's held-out AUROC plus half of what a learnt rule adds: a way
    of seeing whose memory is at chance does not win by a rule that makes up for it (noise on a few dozen
    images), while a rule's gain on a memory that sees the defects still counts."""
    seeing = Outcome(Candidate(608), np.zeros((1, 4)), rule="memory", auroc=0.77, rules={"memory": 0.77})
    blind = Outcome(Candidate(320, cost=TURNED_COST, turned=True), np.zeros((1, 4)), rule="supervised",
                    auroc=0.80, rules={"memory": 0.44, "supervised": 0.80})  # fmt: skip
    assert merit(blind) == pytest.approx(0.62) and merit(seeing) == pytest.approx(0.77)
    assert not wins(blind, seeing) and wins(seeing, blind)
    helped = Outcome(Candidate(320, local=True, cost=LOCAL_COST), np.zeros((1, 4)), rule="supervised",
                     auroc=0.95, rules={"memory": 0.90, "supervised": 0.95})  # fmt: skip
    assert merit(helped) == pytest.approx(0.925) and wins(helped, seeing)


def fixtured(rng: np.random.Generator, count: int, layout: np.ndarray) -> list[np.ndarray]:
    """Aligned parts whose place 7 (an edge the light catches differently in each photo) varies a lot from
    one normal image to the next, while every other place barely varies."""
    maps = []
    for _ in range(count):
        patches = layout + rng.normal(0, 0.05, layout.shape)
        patches[7] += rng.normal(0, 1.2, layout.shape[1])
        maps.append(patches)
    return maps


def test_maps_are_measured_against_each_places_normal_level_where_normal_images_vary_by_place():
    """A small defect at a quiet place is less far from normal than the busy place's normal variation:
    the raw peak confuses them, the map measured against each place's normal level does not. (Five
    anomalies: too few to learn a rule from, so the memory's peak decides.)"""
    rng = np.random.default_rng(5)
    layout = rng.normal(0, 1, (48, 12))
    anomalous = fixtured(rng, 5, layout)
    for patches in anomalous:
        patches[30] += 0.6
    view = images(fixtured(rng, 15, layout), anomalous)
    raw = evaluate(Candidate(320, aligned=True), view, 10_000, located=False)
    located = evaluate(Candidate(320, aligned=True), view, 10_000)
    assert evaluate(Candidate(320), view, 10_000).location is None  # a global memory of unaligned images
    assert raw.rules["memory"] < 0.9 and raw.location is None
    assert located.location is not None and located.auroc > 0.97
    mean, scale = located.location
    assert mean.shape == scale.shape == GRID and scale.min() > 0
    assert np.unravel_index(np.argmax(scale), GRID) == np.unravel_index(7, GRID)  # the busy place


def test_maps_stay_as_they_are_where_places_do_not_matter():
    rng = np.random.default_rng(6)
    normal = textured(rng, 15)
    anomalous = textured(rng, 10)
    for patches in anomalous:
        patches[rng.integers(0, 48)] += 3.0
    outcome = evaluate(Candidate(320, aligned=True), images(normal, anomalous), 10_000)
    assert outcome.auroc > 0.95 and outcome.location is None


def test_prototypes_of_the_labelled_defects_tell_a_known_defect_from_a_merely_unusual_normal_patch():
    """Some normal images have one odd patch (each its own), as far from the memory as the defects are;
    every defect is the same kind of patch. The peak cannot tell them apart; the likeness to the defect
    patches of the other folds' labelled anomalies can."""
    rng = np.random.default_rng(7)
    defect = rng.normal(0, 1, 12) * 3.0
    normal = textured(rng, 20)
    for index in range(0, 20, 2):
        normal[index][rng.integers(0, 48)] += rng.normal(0, 1, 12) * 3.0
    anomalous = textured(rng, 12)
    for patches in anomalous:
        patches[rng.integers(0, 48)] += defect + rng.normal(0, 0.2, 12)
    outcome = evaluate(Candidate(320), images(normal, anomalous), 10_000, located=False)
    assert outcome.rules["memory"] < 0.85
    assert outcome.rule == PROTOTYPE_RULE and outcome.auroc > 0.95
    assert outcome.prototypes is not None and outcome.prototypes.shape == (12 * PROTOTYPE_CELLS, 12)


@pytest.mark.parametrize("quantized", [False, True])
def test_the_decision_images_meet_the_served_memory_without_their_own_patches(quantized):
    """left_out_maps: a normal image is scored by the served memory less the patches it (and its turned
    copies) put there; an anomalous one by the whole served memory (in floats, or in 8-bit integers as the
    model serves it). Unrelated normal images, each patch with a near twin in its own turned copy: only
    its own patches would be near it."""
    rng = np.random.default_rng(8)
    normal = [rng.normal(0, 1, (48, 12)) for _ in range(6)]
    turned = [patches + rng.normal(0, 0.01, patches.shape) for patches in normal]
    anomalous = [normal[0] + rng.normal(0, 0.01, (48, 12)) for _ in range(2)]  # copies of a normal image
    labels = np.array([False] * 6 + [True] * 2)
    view = Images(normal + anomalous, turned, labels, deal(labels, 5), GRID)
    maps = left_out_maps(view, 10_000, quantized=quantized)
    assert all(grid.shape == GRID for grid in maps)
    assert min(grid.min() for grid in maps[:6]) > 1.0  # neither its own patches nor its turned copy's
    assert max(grid.max() for grid in maps[6:]) < 0.5  # the whole memory, normal image 0 included
    outcome = evaluate(Candidate(320), view, 10_000, leave_one_out=True)
    assert outcome.stats[:6, 0].min() > 1.0


def test_held_out_distances_are_searched_as_the_model_will_serve_them():
    """A global memory is served searched in 8-bit integers unless its map is measured per place (a quiet
    place's variation is below the integers' error), each cell's tone (if its features hold it) in floats;
    held-out searches use the integers where the served search will, and floats where the candidate may
    still turn out measured per place (aligned parts)."""
    assert served_quantized(Candidate(320)) and served_quantized(Candidate(320, turned=True))
    assert not served_quantized(Candidate(320, local=True)) and served_quantized(Candidate(320, tone=True))
    assert not served_quantized(Candidate(320, aligned=True), located=True)
    assert served_quantized(Candidate(320, aligned=True), located=False)
    assert searched_quantized(Candidate(640)) and not searched_quantized(Candidate(320, aligned=True))
    assert searched_quantized(Candidate(320, tone=True))
    assert exact_channels(Candidate(320, tone=True)) == TONE_CHANNELS and exact_channels(Candidate(320)) == 0


def test_the_larger_size_keeps_turned_copies_when_they_were_chosen():
    """The larger working size is tried in the way of seeing whose memory alone did best, unless the
    choice so far holds turned copies (kept for their robustness to turned parts); never with tone. The
    other memory (global or local) comes beside it where the two were close: a near tie at the smaller
    size does not tell which sees small defects best at the larger one."""

    def outcome(candidate: Candidate, memory: float) -> Outcome:
        return Outcome(candidate, np.zeros((1, 4)), auroc=memory, rules={"memory": memory})

    plain, local = outcome(Candidate(320), 0.982), outcome(Candidate(320, local=True, cost=LOCAL_COST), 0.996)
    turned = outcome(Candidate(320, cost=TURNED_COST, turned=True), 0.987)
    toned = outcome(Candidate(320, cost=TURNED_COST, turned=True, tone=True), 0.999)
    outcomes = [plain, local, turned, toned]
    assert larger_size_bases(outcomes, turned) == [turned.candidate]
    assert larger_size_bases(outcomes, toned) == [turned.candidate]  # the same, without tone
    # close memories: the better first, the other beside it (never the one with turned copies)
    assert larger_size_bases(outcomes[:2], local) == [local.candidate, plain.candidate]
    assert larger_size_bases(outcomes, plain) == [local.candidate, plain.candidate]
    # far apart: the better alone
    far = outcome(Candidate(320, local=True, cost=LOCAL_COST), plain.rules["memory"] + CLOSE_MEMORIES + 0.01)
    assert larger_size_bases([plain, far], plain) == [far.candidate]
    assert larger_size_bases([plain, far, turned], plain) == [far.candidate]
    # aligned and unaligned memories are not paired: each view is the larger size's own features
    aligned = outcome(Candidate(320, aligned=True, cost=ALIGNMENT_COST), 0.99)
    assert larger_size_bases([aligned, local], aligned) == [local.candidate]
    # equal memories: the one chosen so far, else the clearer separation, whichever was tried first (JPEG
    # gears: the photos as they are and the aligned window both separated, and the larger size had gone to
    # the photos as they are)
    as_they_are = replace(outcome(Candidate(320, cost=ALIGNMENT_COST), 1.0), separation=4.3)
    aligned_local = replace(outcome(Candidate(320, local=True, aligned=True), 1.0), separation=4.2)
    toned = replace(outcome(Candidate(320, local=True, aligned=True, tone=True), 1.0), separation=9.0)
    assert larger_size_bases([as_they_are, aligned_local], aligned_local)[0] == aligned_local.candidate
    assert larger_size_bases([as_they_are, aligned_local], toned)[0] == as_they_are.candidate
    assert larger_size_bases([replace(as_they_are, separation=4.1), aligned_local], toned)[0] == (
        aligned_local.candidate
    )
