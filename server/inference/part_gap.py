"""Where a part is missing material: background pixels inside the convex hull of the part.

People who label a broken cookie or a chipped part paint the missing piece, which is background in the
photograph, and the background shows through a crack: nothing in those pixels says defect, only the outline
of what is left (cookies: 65 % of the labelled training pixels lie in such gaps). The segmentation's
refinement reads this map beside the colours (see training.graphs GAP) and learns from the masks how much
it counts.

For parts on a plain background; numpy and Pillow only. The part is what differs from the border's colour
by more than an Otsu cut of those differences (lighting falls off across a tray: a fixed tolerance took
its darker edge for part); pieces touching the border are background, and pieces much smaller than the
largest (crumbs, dust) are left out of the hull.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from server.inference.alignment import ONE_PIECE, border_colour, piece_labels, silhouette

PIECES_SIDE = 96  # pieces and the hull are found on a copy this many pixels on its longer side (as alignment)
MIN_PIECE = 0.05  # a piece smaller than this share of the largest is not part of the hull
ONE_PART_AREA = 0.02  # one_part: the part covers at least this share of the picture
MIN_TOLERANCE = 20.0  # the Otsu cut never goes below this difference from the border's colour


def part_gap(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """float32 [height, width] at `size` (width, height): 1.0 where the picture shows background inside
    the convex hull of the part, else 0.0 (all 0.0 when no part stands apart from the border). Drawn from
    the picture resized to `size` (bilinear; callers that have it at that size pass it so): the trainer
    and the runtime start from the same pixels."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    small, colour, tolerance, differs = _part(rgb)
    part = pieces(differs)
    width, height = size
    if not part.any():
        return np.zeros((height, width), np.float32)
    scale = (width / small.width, height / small.height)
    outline = convex_hull(_row_ends(part))
    if len(outline) < 3:  # a part a thumbnail's pixel wide has no inside
        return np.zeros((height, width), np.float32)
    hull = Image.new("L", size)
    ImageDraw.Draw(hull).polygon([(x * scale[0], y * scale[1]) for x, y in outline], fill=255)
    # the part itself at `size`, softened by the resize: a grainy background does not read as holes
    shown = silhouette(rgb, colour, tolerance)
    return ((np.asarray(hull) > 0) & (shown == 0)).astype(np.float32)


def one_part(image: Image.Image) -> bool:
    """Whether the picture shows one part on its background: a piece apart from the border covering at
    least ONE_PART_AREA of the picture and holding most (alignment.ONE_PIECE) of what differs from the
    background inside the border (a texture's grain, a board's traces: many pieces, none of them ruling)."""
    _, _, _, differs = _part(image if image.mode == "RGB" else image.convert("RGB"))
    _, sizes = _inner_pieces(differs)
    return bool(sizes.any()) and sizes.max() >= max(ONE_PART_AREA * differs.size, ONE_PIECE * sizes.sum())


def gap_at(gap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A gap map (part_gap's, [height, width]) at another `size` (width, height), bool: resized smoothly and
    cut at a half. The map the graph's gap input took serves the mask drawn at the picture's size (the
    cookies' fill: IoU 0.705 from it, 0.704 from the map worked out again at the mask's size, which costs
    4.6 ms against 0.5)."""
    if gap.shape == (size[1], size[0]):
        return gap > 0.5
    plane = Image.fromarray(gap.astype(np.float32), "F").resize(size, Image.Resampling.BILINEAR)
    return np.asarray(plane) > 0.5


def fill_gaps(class_map: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """The class map (uint8 [height, width], 0 the background) with each painted piece's gaps painted too:
    the pixels of `gap` (bool, part_gap's map at the map's size) inside the convex hull of a 4-connected
    piece of one class, where nothing else is painted, take that class. People paint a missing piece up
    to the straight line across where the part was; the classifier reads the gap map pixel by pixel, but
    only the piece's outline says how far the missing part reaches (the cookies' test masks: IoU 0.698 ->
    0.705). A map without painted pixels or gaps is returned as it is."""
    rows, cols = np.nonzero(class_map)
    if not len(rows) or not gap.any():
        return class_map
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))  # every hull lies in it
    crop = class_map[box]
    filled = class_map.copy()
    painting = filled[box]  # a view: painted in place
    free = gap[box] & (crop == 0)
    labels = np.zeros(crop.shape, np.int64)
    for index in np.unique(crop[crop > 0]):  # pieces of one class: two classes side by side stay apart
        pieces_of = piece_labels(crop == index)
        labels += np.where(pieces_of > 0, pieces_of + int(index) * crop.size, 0)
    flat = labels.ravel()
    inside = np.flatnonzero(flat)
    ordered = inside[np.argsort(flat[inside], kind="stable")]  # piece by piece, each in row-major order
    firsts = np.flatnonzero(np.r_[True, flat[ordered[1:]] != flat[ordered[:-1]]])
    width = crop.shape[1]
    for group in np.split(ordered, firsts[1:]):
        ys, xs = np.divmod(group, width)
        starts = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])
        ends = np.r_[starts[1:], len(group)] - 1
        corners = convex_hull(
            [(float(xs[i]), float(ys[i])) for i in starts] + [(float(xs[i]), float(ys[i])) for i in ends]
        )
        if len(corners) < 3:  # a row or a column has no inside
            continue
        y0, x0 = int(ys.min()), int(xs.min())
        hull = Image.new("L", (int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1))
        ImageDraw.Draw(hull).polygon([(x - x0, y - y0) for x, y in corners], fill=255)
        region = (slice(y0, y0 + hull.height), slice(x0, x0 + hull.width))
        taken = free[region] & (np.asarray(hull) > 0)
        painting[region][taken] = crop.flat[group[0]]
        free[region] &= ~taken
    return filled


def _part(rgb: Image.Image) -> tuple[Image.Image, tuple[int, int, int], float, np.ndarray]:
    """The thumbnail, the border's colour, the tolerance cut, and what differs from the border's colour by
    more than it on the thumbnail."""
    colour = border_colour(rgb)
    small = rgb.copy()
    small.thumbnail((PIECES_SIDE, PIECES_SIDE), Image.Resampling.BILINEAR)
    differences = np.abs(np.asarray(small, np.int16) - np.array(colour, np.int16)).max(axis=2)
    tolerance = max(MIN_TOLERANCE, otsu(differences))
    return small, colour, tolerance, differences > tolerance


def otsu(values: np.ndarray) -> float:
    """The cut between 0 and 255 that best splits `values` into two groups (Otsu's between-class variance)."""
    counts = np.bincount(np.clip(values, 0, 255).astype(np.int64).ravel(), minlength=256).astype(np.float64)
    share = counts / max(counts.sum(), 1.0)
    below = np.cumsum(share)
    mass = np.cumsum(share * np.arange(256))
    between = (mass[-1] * below - mass) ** 2 / np.maximum(below * (1 - below), 1e-12)
    return float(np.argmax(between[:-1]))


def pieces(mask: np.ndarray, least: float = MIN_PIECE) -> np.ndarray:
    """The mask's 4-connected pieces that do not touch its border and hold at least `least` of the largest
    of them."""
    labels, sizes = _inner_pieces(mask)
    if not sizes.any():
        return np.zeros_like(mask)
    return np.isin(labels, np.flatnonzero((sizes > 0) & (sizes >= least * sizes.max())))


def _inner_pieces(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask's piece labels and each label's size, 0 for pieces that touch the border (and label 0)."""
    labels = piece_labels(mask)
    sizes = np.bincount(labels.ravel(), minlength=labels.size + 1)
    sizes[0] = 0
    sizes[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = 0
    return labels, sizes


def _row_ends(mask: np.ndarray) -> list[tuple[float, float]]:
    """The centres of each row's first and last pixel: their hull is the mask's hull through its pixels'
    centres (through their outer corners, a thumbnail's coarse pixels left a rim of background around
    every part)."""
    ends = []
    for y in np.flatnonzero(mask.any(axis=1)):
        xs = np.flatnonzero(mask[y])
        ends += [(xs[0] + 0.5, y + 0.5), (xs[-1] + 0.5, y + 0.5)]
    return [(float(x), float(y)) for x, y in ends]


def convex_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The hull's corners in order (Andrew's monotone chain)."""
    ordered = sorted(set(points))
    if len(ordered) < 3:
        return ordered

    def turn(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    chains = []
    for sequence in (ordered, ordered[::-1]):
        chain: list[tuple[float, float]] = []
        for point in sequence:
            while len(chain) >= 2 and turn(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
        chains.append(chain[:-1])
    return chains[0] + chains[1]
