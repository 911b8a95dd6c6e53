"""Where the part lies: the cells of an aligned picture that normal parts cover, the only cells a model of
aligned parts scores.

Parts on a plain background are aligned (centred and turned upright) before the trunk sees them; what lies
around them is background, and the corners of a turned picture are filled with its border's colour. Both
vary from photo to photo (lighting, white balance, how far the picture was turned) without being a defect:
on generated plates whose photos' white balance varied, 11 of 15 normal test pictures had their highest
cell in the picture's outer ring, four of them above the threshold. The part's area is measured on the
normal training pictures (each one's silhouette, aligned as the model aligns it), its holes filled (a filled
hole is a defect) and widened by a cell (a part a little off its place, a defect standing out of it).
"""

from __future__ import annotations

import numpy as np

CELL = 8  # pixels of the working picture per cell, each way (graphs.feature_grid)
COVERED = 0.05  # a cell is covered by a part when this share of its pixels belongs to the silhouette
SHARE = 0.1  # a cell belongs to the area when this share of the normal parts covers it (not one stray photo)
MARGIN = 1  # cells added around the area


def cell_cover(silhouette: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """[rows, cols]: the share of each cell's pixels that the silhouette (0/1, at the working size) covers;
    pixels beyond the last whole cell are left out, as the trunk's grid leaves them."""
    rows, cols = grid
    cut = silhouette[: rows * CELL, : cols * CELL].astype(np.float32)
    return cut.reshape(rows, CELL, cols, CELL).mean(axis=(1, 3))


def part_area(covers: list[np.ndarray]) -> np.ndarray | None:
    """[rows, cols] float32, 1 where the part lies and 0 elsewhere, from each normal picture's cell_cover;
    None where no part covers any cell (pictures of the bare background): every cell is scored then."""
    if not covers:
        return None
    covered = np.stack([cover >= COVERED for cover in covers]).mean(0) >= SHARE
    if not covered.any():
        return None
    return widened(filled(covered), MARGIN).astype(np.float32)


def filled(area: np.ndarray) -> np.ndarray:
    """The area with its holes: every cell that the outside (the cells not in it that reach the picture's
    border) cannot reach."""
    outside = np.zeros_like(area)
    outside[[0, -1], :] = ~area[[0, -1], :]
    outside[:, [0, -1]] |= ~area[:, [0, -1]]
    while True:  # grow the outside through cells not in the area, a ring a step
        grown = outside | (widened(outside, 1) & ~area)
        if (grown == outside).all():
            return ~outside
        outside = grown


def widened(area: np.ndarray, cells: int) -> np.ndarray:
    """The area and every cell within `cells` of it (the 8 neighbours a step)."""
    for _ in range(cells):
        padded = np.pad(area, 1)
        rows, cols = area.shape
        area = np.logical_or.reduce([padded[i : i + rows, j : j + cols] for i in range(3) for j in range(3)])
    return area
