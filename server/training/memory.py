"""The memory of normal patches: which patches it keeps, and nearest distances to it in numpy.

The memory's size sets the serving cost (one distance per remembered patch and input patch), so large
sets of patches are thinned to a coreset that keeps rare normal patches (an edge, a label, a hole) while
the many near-copies of plain areas go.
"""

from __future__ import annotations

import numpy as np

PROJECTION = 6  # dimensions of the projection the coreset bins patches in
ROUNDS = 24  # bisection steps for the cell width
SAMPLE_SHARE = 3  # a width is tried on this many patches per coreset place first (see coreset_rows)


class Nearest:
    """Squared distances to the nearest of a memory's patches, in numpy, by the same arithmetic as the
    exported graph: |p|^2 + min(|m|^2 - 2 p.m), over chunks of the memory so the products stay small."""

    def __init__(self, memory: np.ndarray, chunk: int = 2048) -> None:
        self.chunks = [
            (
                np.ascontiguousarray(-2.0 * memory[start : start + chunk].T),
                (memory[start : start + chunk] ** 2).sum(1),
            )
            for start in range(0, len(memory), chunk)
        ]

    def squared(self, patches: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
        """`excluded`: a mask of memory rows left out of this search (an image's own patches)."""
        best = np.full(len(patches), np.inf, dtype=np.float32)
        start = 0
        for minus_two_t, norms in self.chunks:
            if excluded is not None:
                norms = np.where(excluded[start : start + len(norms)], np.float32(np.inf), norms)
            start += len(norms)
            bracket = patches @ minus_two_t
            bracket += norms
            np.minimum(best, bracket.min(1), out=best)
        return best + (patches**2).sum(1)


class QuantizedNearest:
    """Nearest's interface over the served model's own search (8-bit integers, graphs.nearest_graph): the
    held-out distances are then those the model will serve, at a third of numpy's time. `groups` (a label
    per remembered patch, e.g. the image it came from) keeps each chunk of the search within one group, so
    that a search can leave groups out; the rows are searched grouped, in a different order (the same
    nearest distances). The last `exact` channels (each cell's tone) are searched in floats, as served."""

    def __init__(self, memory: np.ndarray, groups: np.ndarray | None = None, exact: int = 0) -> None:
        from server.training.graphs import QUANTIZED_CHUNK, nearest_graph
        from server.training.samples import cpu_session

        groups = np.zeros(len(memory), int) if groups is None else np.asarray(groups)
        self.order = np.argsort(groups, kind="stable")
        ordered = groups[self.order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        bounds: list[int] = []
        for start, end in zip(starts, [*starts[1:], len(ordered)], strict=True):
            bounds += range(int(start), int(end), QUANTIZED_CHUNK)  # each group in chunks of at most that
        self.bounds = np.array([*bounds, len(ordered)])
        self.session = cpu_session(
            nearest_graph(memory[self.order], [int(b) for b in self.bounds], exact).SerializeToString()
        )

    def squared(self, patches: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
        """`excluded`: a mask of memory rows left out of this search: whole groups, as the chunks hold them."""
        patches = np.ascontiguousarray(patches, np.float32)
        (minima,) = self.session.run(None, {"patches": patches})
        if excluded is not None:
            left_out = excluded[self.order]
            whole = np.add.reduceat(left_out, self.bounds[:-1]) == np.diff(self.bounds)
            if left_out.sum() != np.diff(self.bounds)[whole].sum():
                raise ValueError("a search can leave out whole groups only")
            minima = minima[~whole]
        return minima.min(0) + (patches**2).sum(1)


def coreset(patches: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """The coreset's patches (see coreset_rows); `patches` itself when all of them fit."""
    return patches if len(patches) <= size else patches[coreset_rows(patches, size, seed)]


def coreset_rows(patches: np.ndarray | list[np.ndarray], size: int, seed: int = 0) -> np.ndarray:
    """The rows of at most `size` of `patches` [n, channels] (or of the parts' rows one after another, never
    copied into one array), spread over the space they fill rather than over where
    most of them lie: the patches are binned into cells of a coarse grid in a random low-dimensional
    projection, the cell width is chosen so that about `size` cells are occupied, and each occupied cell
    gives one patch (the rest filled at random). A rare normal patch owns its cell and stays; a thousand
    near-copies of a plain area share a few. Linear in the patches, unlike an exact k-centre cover.
    Returns the rows kept, in order."""
    parts = patches if isinstance(patches, list) else [patches]
    count = sum(len(part) for part in parts)
    if count <= size:
        return np.arange(count)
    rng = np.random.default_rng(seed)
    projection = rng.normal(size=(parts[0].shape[1], PROJECTION)).astype(np.float32)
    projected = np.concatenate([part @ projection for part in parts])
    projected -= projected.min(0)
    order = rng.permutation(count)  # which patch represents a cell: a random one
    low, high = 1e-6, float(projected.max()) + 1e-6  # cell widths: `high` puts everything in one cell
    mixing = rng.integers(1, 2**62, PROJECTION, dtype=np.int64) | 1  # hashes a cell's coordinates to one key
    shuffled = projected[order]

    def keys(width: float, first: int = count) -> np.ndarray:  # of the first patches in the shuffled order
        with np.errstate(over="ignore"):
            return np.floor(shuffled[:first] / width).astype(np.int64) @ mixing

    def distinct(values: np.ndarray) -> int:  # counted by a sort: 10-20x faster than np.unique
        ordered = np.sort(values)
        return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1

    def occupied(width: float) -> int:
        """The cells the patches occupy at that width, or, where the first SAMPLE_SHARE * size of them
        (a random sample) already occupy more than `size`, theirs: all of them occupy more too, which is
        all the bisection asks then, at a fraction of the sort (most narrow widths put every patch alone)."""
        sample = min(count, SAMPLE_SHARE * size)
        cells = distinct(keys(width, sample))
        return cells if cells > size or sample == count else distinct(keys(width))

    chosen = None  # the narrowest width tried that occupies at most `size` cells
    for _ in range(ROUNDS):
        width = np.sqrt(low * high)
        cells = occupied(width)
        if cells > size:
            low = width
        else:
            high = chosen = width
            if cells > 0.9 * size:
                break
    # each occupied cell's first patch in the shuffled order
    firsts = order[:1] if chosen is None else order[np.unique(keys(chosen), return_index=True)[1]]
    taken = np.zeros(count, dtype=bool)
    taken[firsts] = True
    rest = np.flatnonzero(~taken)
    fill = rng.choice(rest, size - len(firsts), replace=False)
    return np.sort(np.concatenate([firsts, fill]))
