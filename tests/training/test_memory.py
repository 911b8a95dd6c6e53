"""The memory's coreset and position channels."""

from __future__ import annotations

import numpy as np
import pytest

from server.training.memory import Nearest, coreset, coreset_rows


def test_the_coreset_keeps_rare_patches_that_a_random_sample_would_lose():
    rng = np.random.default_rng(0)
    plain = rng.normal(0, 1, (30_000, 32)).astype(np.float32)  # the bulk: near-copies of plain areas
    rare = (rng.normal(0, 0.3, (3, 32)) + 9).astype(np.float32)  # three patches of a rare normal feature
    patches = np.concatenate([plain, rare])
    kept = coreset(patches, 1_000)
    assert len(kept) == 1_000
    assert (
        np.sqrt(np.maximum(Nearest(kept).squared(rare), 0)).max() < 3.0
    )  # every rare patch is still remembered
    sampled = patches[rng.choice(len(patches), 1_000, replace=False)]  # what a random sample keeps
    assert np.sqrt(np.maximum(Nearest(sampled).squared(rare), 0)).max() > 10.0


def test_the_coreset_is_deterministic_and_leaves_small_sets_alone():
    rng = np.random.default_rng(1)
    patches = rng.normal(size=(5_000, 16)).astype(np.float32)
    np.testing.assert_array_equal(coreset(patches, 800), coreset(patches, 800))
    assert coreset(patches, 5_000) is patches


def test_a_width_judged_on_a_sample_first_keeps_the_same_coreset(monkeypatch):
    """The bisection tries each cell width on a random sample of the patches first, and on all of them
    only where the sample alone does not occupy too many cells: the coreset is the one counting every
    patch each time gives, and the sample decides some widths."""
    from server.training import memory

    rng = np.random.default_rng(4)
    centres = rng.normal(0, 3, (300, 24)).astype(np.float32)
    patches = centres[rng.integers(0, 300, 40_000)] + rng.normal(0, 1, (40_000, 24)).astype(np.float32)
    counted: list[int] = []
    sort = np.sort

    def counting_sort(keys: np.ndarray) -> np.ndarray:
        counted.append(len(keys))
        return sort(keys)

    monkeypatch.setattr(memory.np, "sort", counting_sort)
    sampled = coreset_rows(patches, 1_000)
    tried = counted.count(memory.SAMPLE_SHARE * 1_000)  # every width on the sample first, some on all
    assert counted[0] == memory.SAMPLE_SHARE * 1_000 and 0 < counted.count(len(patches)) < tried
    monkeypatch.setattr(memory, "SAMPLE_SHARE", len(patches))  # every width counted on every patch
    np.testing.assert_array_equal(coreset_rows(patches, 1_000), sampled)


def test_a_search_can_leave_rows_of_the_memory_out():
    rng = np.random.default_rng(2)
    memory = rng.normal(size=(5_000, 16)).astype(np.float32)
    patches = memory[[10, 4_000]] + 0.01  # next to two remembered patches, in different chunks
    nearest = Nearest(memory, chunk=2_048)
    assert nearest.squared(patches).max() < 0.01
    excluded = np.zeros(len(memory), bool)
    excluded[[10, 4_000]] = True
    left_out = nearest.squared(patches, excluded)
    rest = memory[~excluded]
    expected = ((patches[:, None, :] - rest[None, :, :]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(left_out, expected, rtol=1e-4)
    assert left_out.min() > 1.0


def test_coreset_rows_name_the_patches_the_coreset_keeps():
    patches = np.random.default_rng(3).normal(size=(6_000, 16)).astype(np.float32)
    rows = coreset_rows(patches, 700)
    assert len(rows) == 700 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(patches[rows], coreset(patches, 700))


def test_the_quantized_search_leaves_out_whole_groups_as_a_search_without_them_would(monkeypatch):
    """QuantizedNearest searches as the served graph does (8-bit integers); its chunks never straddle two
    groups, so leaving a group out is exactly a search of the memory without it."""
    from server.training import graphs
    from server.training.memory import QuantizedNearest

    monkeypatch.setattr(graphs, "QUANTIZED_CHUNK", 64)  # a group of 150 rows: three chunks
    rng = np.random.default_rng(3)
    memory = rng.gamma(1.5, 0.8, size=(600, 24)).astype(np.float32)
    groups = rng.permutation(np.repeat(np.arange(4), 150))  # rows of four images, interleaved
    patches = np.concatenate([memory[groups == 2][:5] + 0.01, rng.gamma(1.5, 0.8, (30, 24))]).astype(
        np.float32
    )
    grouped = QuantizedNearest(memory, groups)
    np.testing.assert_allclose(grouped.squared(patches), QuantizedNearest(memory).squared(patches), atol=1e-3)
    left_out = grouped.squared(patches, groups == 2)
    np.testing.assert_allclose(left_out, QuantizedNearest(memory[groups != 2]).squared(patches), atol=1e-3)
    exact = ((patches[:, None, :] - memory[groups != 2][None, :, :]) ** 2).sum(-1).min(1)
    np.testing.assert_allclose(left_out, exact, rtol=0.05, atol=0.5)  # within the integers' error
    assert left_out[:5].min() > 10 * grouped.squared(patches)[:5].max()  # its own rows were found before
    with pytest.raises(ValueError, match="whole groups"):
        grouped.squared(patches, np.arange(600) == 7)
