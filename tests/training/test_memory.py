"""The memory's coreset and position channels."""

from __future__ import annotations

import numpy as np

from server.training.memory import Nearest, coreset


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
