"""Put a part where the model expects it: move its centre to the image centre and undo its rotation.

For parts photographed on a plain background. The part is what differs from the background colour;
its rotation is found by circular cross-correlation (FFT along the angle axis) of its polar silhouette
with the reference silhouette the trainer kept. numpy and Pillow only; a few milliseconds per image.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageChops

RADII = 48
ANGLES = 360
TOLERANCE = 40.0  # how far (per channel) a pixel may be from the background colour and still be background
MAX_SHARE = 0.9  # parts may fill most of the frame, as long as the border stays background
ONE_PIECE = 0.5  # the largest connected piece of what is not background holds at least this share of it
PIECES_SIDE = 96  # pieces are counted on a copy this many pixels on its longer side
WINDOW_MARGIN = 0.1  # room left around the largest normal part in its window: this share of its reach
WINDOW_SHARE = 0.6  # a window covering this share of the picture or more is not worth it: the whole picture
WINDOW_STEP = 32  # the network takes sides in multiples of this (see part_window's `working`)


@dataclass(frozen=True)
class Alignment:
    background: tuple[int, int, int]
    tolerance: float
    reference: np.ndarray  # [RADII, ANGLES] polar silhouette of an upright normal part
    window: tuple[int, int] | None = None  # (width, height) around the part that the model sees; None: all


@dataclass(frozen=True)
class Placement:
    """Where the part was: its centre (x, y) and its rotation in degrees, counter-clockwise; and the size of
    the window around it that the aligned picture shows (None: the picture's own size)."""

    center: tuple[float, float]
    angle: float
    window: tuple[int, int] | None = None


def silhouette(image: Image.Image, background: tuple[int, int, int], tolerance: float) -> np.ndarray:
    """1.0 where some channel of a pixel lies more than `tolerance` from the background's, else 0.0. Each
    channel goes through a 256-entry table and the channels' maximum is taken by Pillow: 2 ms at 560x560,
    where numpy's arithmetic on the whole image in int16 took 23 ms."""
    table = [255 if abs(level - value) > tolerance else 0 for value in background for level in range(256)]
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # (a copy otherwise)
    red, green, blue = rgb.point(table).split()
    differs = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    return (np.asarray(differs) > 0).astype(np.float32)


def centre(mask: np.ndarray) -> tuple[float, float]:
    """The mean (x, y) of the mask's pixels (not empty), from its row and column counts: the same numbers
    as the mean of np.nonzero's coordinates, without listing every pixel."""
    columns, rows = np.count_nonzero(mask, axis=0), np.count_nonzero(mask, axis=1)
    total = int(columns.sum())
    return float(columns @ np.arange(len(columns))) / total, float(rows @ np.arange(len(rows))) / total


def polar(mask: np.ndarray, center: tuple[float, float]) -> np.ndarray:
    """[RADII, ANGLES] samples of the mask around `center`, out to the largest radius inside the image."""
    height, width = mask.shape
    cx, cy = center
    reach = max(1.0, min(cx, cy, width - 1 - cx, height - 1 - cy, max(width, height) / 2))
    radii = np.linspace(0, reach, RADII)[:, None]
    angles = np.deg2rad(np.arange(ANGLES))[None, :]
    xs = np.clip(np.rint(cx + radii * np.cos(angles)).astype(int), 0, width - 1)
    ys = np.clip(np.rint(cy - radii * np.sin(angles)).astype(int), 0, height - 1)
    return mask[ys, xs]


def own_background(image: Image.Image, fallback: tuple[int, int, int]) -> tuple[int, int, int]:
    """The colour of this image's border, when the border is plain (lighting changes from one photo to the
    next); otherwise the model's background colour."""
    return plain_border(image) or fallback


def plain_border(image: Image.Image) -> tuple[int, int, int] | None:
    """The colour of the image's border if the border is plain, else None."""
    colour, plain = _border(np.asarray(image))
    return colour if plain >= 0.9 else None


def border_colour(image: Image.Image) -> tuple[int, int, int]:
    """The median colour of the image's border, plain or not."""
    return _border(np.asarray(image))[0]


def _border(pixels: np.ndarray) -> tuple[tuple[int, int, int], float]:
    """The border's median colour and the share of border pixels within TOLERANCE of it (pixels: uint8
    [height, width, 3])."""
    border = np.concatenate([pixels[:3].reshape(-1, 3), pixels[-3:].reshape(-1, 3),
                             pixels[:, :3].reshape(-1, 3), pixels[:, -3:].reshape(-1, 3)]).astype(np.int16)  # fmt: skip
    colour = np.median(border, axis=0)
    red, green, blue = (int(c) for c in colour)
    return (red, green, blue), float((np.abs(border - colour).max(axis=1) <= TOLERANCE).mean())


def locate(
    image: Image.Image, alignment: Alignment, background: tuple[int, int, int] | None = None
) -> Placement:
    mask = silhouette(image, background or alignment.background, alignment.tolerance)
    total = mask.sum()
    if total < 16:
        return Placement((image.width / 2, image.height / 2), 0.0, alignment.window)
    center = centre(mask)
    found = polar(mask, center)
    # Cross-correlation along the angle axis, summed over radii: the best shift is the rotation.
    spectrum = np.fft.rfft(found, axis=1) * np.conj(np.fft.rfft(alignment.reference, axis=1))
    correlation = np.fft.irfft(spectrum.sum(axis=0), n=ANGLES)
    return Placement(center, float(np.argmax(correlation)), alignment.window)


def align(image: Image.Image, alignment: Alignment) -> tuple[Image.Image, Placement]:
    """The image with the part centred and upright (the window around it, when the alignment has one), and
    where the part was."""
    background = own_background(image, alignment.background)
    placement = locate(image, alignment, background)
    return transform(image, placement, background, Image.Resampling.BILINEAR), placement


def transform(
    image: Image.Image,
    placement: Placement,
    fill,
    resample: int,
    inverse: bool = False,
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """Centre and un-rotate (or, with `inverse`, put back where it was) with one affine warp. Forward, the
    result is the placement's window (or the image's size); put back, it is `size` (or the image's)."""
    if inverse:
        output, aligned = size or image.size, image.size
    else:
        output = aligned = placement.window or image.size
    cx, cy = placement.center
    middle = (aligned[0] / 2, aligned[1] / 2)  # where the aligned picture holds the part's centre
    theta = np.deg2rad(placement.angle)
    cos, sin = np.cos(theta), np.sin(theta)
    # Pillow's AFFINE maps each output pixel to an input pixel. The forward warp takes the output pixel
    # p to the input pixel c + R(angle) (p - m); the inverse warp is its inverse.
    if not inverse:
        a, b, d, e = cos, sin, -sin, cos
        coefficients = (a, b, cx - a * middle[0] - b * middle[1], d, e, cy - d * middle[0] - e * middle[1])
    else:
        a, b, d, e = cos, -sin, sin, cos
        coefficients = (a, b, middle[0] - a * cx - b * cy, d, e, middle[1] - d * cx - e * cy)
    return image.transform(output, Image.Transform.AFFINE, coefficients, resample=resample, fillcolor=fill)


def part_window(images: list[Image.Image], alignment: Alignment, working: int = 0) -> tuple[int, int] | None:
    """The window (width, height) around the centre of an aligned picture that holds each of these normal
    parts once upright, with WINDOW_MARGIN to spare; None where that is most of the picture. A window gives
    the part more of the model's working size, and keeps out of sight what a turn brings in from beyond
    the photo's edges: on a busy background (wood, a tray) a flat corner there is a pattern of its own,
    which normal pictures show anywhere and so teach nothing (the highest map cells of aligned gears).
    A window that fits within the `working` size with its sides rounded up to WINDOW_STEP gets them, so the
    network sees it pixel for pixel (a 68 px window resized to 64 drew a 3 px scratch at IoU 0.49, not 0.9);
    a larger one is resized anyway and stays tight (at 352 px instead of 325, the gears' window took in the
    corners a turn brings in, and its local memory's held-out AUROC fell from 1.000 to 0.973)."""
    width, height = images[0].size
    reach = np.zeros(2)
    for image in images:
        background = own_background(image, alignment.background)
        placement = replace(locate(image, alignment, background), window=None)
        mask = Image.fromarray((silhouette(image, background, alignment.tolerance) * 255).astype(np.uint8))
        rows, columns = np.nonzero(np.asarray(transform(mask, placement, 0, Image.Resampling.NEAREST)))
        if len(rows) == 0:
            return None
        # the part's centre is at the middle of the upright picture; pixel i spans [i, i + 1)
        offsets = np.abs(columns + 0.5 - image.width / 2), np.abs(rows + 0.5 - image.height / 2)
        reach = np.maximum(reach, [np.percentile(offset, 99.5) for offset in offsets])
    needed = np.ceil(2 * reach * (1 + WINDOW_MARGIN)).astype(int) + 2
    stepped = -(-needed // WINDOW_STEP) * WINDOW_STEP
    window = np.minimum(stepped if stepped.max() <= working else needed, (width, height))
    if window[0] * window[1] >= WINDOW_SHARE * width * height:
        return None
    return int(window[0]), int(window[1])


def reference_for(image: Image.Image, background: tuple[int, int, int], tolerance: float) -> np.ndarray:
    mask = silhouette(image, background, tolerance)
    if not mask.any():
        return np.zeros((RADII, ANGLES), np.float32)
    return polar(mask, centre(mask))


def piece_labels(mask: np.ndarray) -> np.ndarray:
    """The mask's 4-connected pieces: one label per piece (0 outside the mask). Every run of the mask along
    a row takes its largest label, then every run along a column, until nothing changes: as many passes
    as a piece's paths take turns, where pixel-by-pixel growth took one pass a pixel of its longest path
    (83 on a cookie's thumbnail)."""
    height, width = mask.shape
    labels = np.where(mask, np.arange(1, height * width + 1).reshape(height, width), 0)
    while True:
        grown = _runs_take_their_largest(_runs_take_their_largest(labels).T).T
        if np.array_equal(grown, labels):
            return labels
        labels = grown


def _runs_take_their_largest(labels: np.ndarray) -> np.ndarray:
    """Each run of non-zero labels along the rows of `labels`, set to its largest label."""
    flat = np.ascontiguousarray(labels).reshape(-1)
    inside = flat > 0
    # a new stretch starts at every row's first pixel and wherever inside changes
    starts = np.ones(flat.size, bool)
    starts[1:] = inside[1:] != inside[:-1]
    starts[:: labels.shape[1]] = True
    bounds = np.flatnonzero(starts)
    largest = np.maximum.reduceat(flat, bounds)
    return np.repeat(largest, np.diff(np.append(bounds, flat.size))).reshape(labels.shape)


def largest_piece(mask: np.ndarray) -> float:
    """The share of the mask's pixels in its largest 4-connected piece (0 for an empty mask)."""
    sizes = np.bincount(piece_labels(mask).ravel())[1:]
    return float(sizes.max() / sizes.sum()) if sizes.sum() else 0.0


def plain_background(images: list[Image.Image], tolerance: float = TOLERANCE) -> tuple[int, int, int] | None:
    """The typical background colour if every image's border is almost all one colour (its own: the light
    may change between photos) and the part covers between 2 % and MAX_SHARE of the image in mostly one
    piece; otherwise None (alignment would not be reliable)."""
    colours = []
    for image in images:
        colour, plain = _border(np.asarray(image))
        if plain < 0.9:
            return None
        share = silhouette(image, colour, tolerance).mean()
        if not 0.02 <= share <= MAX_SHARE:
            return None
        small = image.copy()
        small.thumbnail((PIECES_SIDE, PIECES_SIDE))
        if largest_piece(silhouette(small, colour, tolerance) > 0) < ONE_PIECE:
            return None  # a pattern of many pieces (the traces of a board), not a part to turn upright
        colours.append(colour)
    red, green, blue = (int(c) for c in np.median(np.array(colours), axis=0))
    return red, green, blue


def to_json(alignment: Alignment) -> dict:
    rows = ["".join("1" if value > 0.5 else "0" for value in row) for row in alignment.reference]
    window = {"window": list(alignment.window)} if alignment.window is not None else {}
    return {"background": list(alignment.background), "tolerance": alignment.tolerance, "reference": rows,
            **window}  # fmt: skip


def from_json(document: dict) -> Alignment:
    reference = np.array(
        [[1.0 if ch == "1" else 0.0 for ch in row] for row in document["reference"]], np.float32
    )
    window = document.get("window")
    return Alignment(tuple(document["background"]), float(document["tolerance"]), reference,
                     (int(window[0]), int(window[1])) if window is not None else None)  # fmt: skip
