"""Deterministic synthetic image sets of L4V size, for measuring the trainer on many kinds of data.

    python bench/synthetic.py OUT [--sets texture,boards] [--seed 0] [--count 30] [--grey] [--side 300]

Each set is written as OUT/<set>/normal/NNN.png and OUT/<set>/anomaly/NNN.png; segmentation sets also
have OUT/<set>/masks/NNN.png (the anomaly's name: white background, each defect class in its own colour)
and OUT/<set>/classes.json ({"#RRGGBB": "class name"}). With --grey the pictures are saved in grey (8-bit,
as many inspection cameras take them) under OUT/<set>-grey, the masks as they are. With --side N every
picture is saved reduced to N px on its longer side (Lanczos; the masks nearest-neighbour), as small
inspection pictures come (300 px electroluminescence cells and castings). Only numpy and Pillow
are used, and every image comes from its own seed (set, label, index, seed): the first N images are the
same whatever the count.

Every picture is "photographed": a random exposure and colour cast, a lighting gradient, a little blur
and sensor noise, so a set is not separable by mean colour. An anomalous picture is a clean scene of its
own with its defects drawn on it (one; one or two on some sets, 3 to 12 on the scans: MULTI);
`sample` also returns that clean picture (same lighting and noise), which differs from the anomalous one
only where the mask says.

- texture: brushed metal with random grain; scratches, pits and stains (segmentation).
- rotated_parts: a gear at any angle, small offset, on wood grain; a missing tooth, a filled hole, a crack
  or a chip off the rim (classification).
- boards: an aligned circuit board (1-3 px jitter); a missing pad, a short between traces, a spur, an open
  trace or spurious copper, 3-8 px (segmentation).
- thin_cracks: a speckled ceramic surface; 1-3 px cracks and pin-holes (segmentation).
- large_parts: a painted cover plate filling ~70 % of the frame at any angle on a plain background; a
  missing piece, a dent or a discoloured area (classification).
- solar_cells: electroluminescence pictures of monocrystalline cells (grey), which differ in brightness,
  growth rings, soft dark patches and a darker rim; a crack, a darker piece cut off by a crack, or
  interrupted fingers (classification).
- tiles: ground grey ferrite tiles whose own shade varies from tile to tile, the bevelled edge in view;
  blow-holes, fine cracks, a frayed (chipped) bevel, a broken-off corner and uneven (slightly lighter or
  darker) patches with soft borders (segmentation).
- pcb_scans: black-and-white scans (640 x 640) of a bare board's copper, each a stretch of one board design
  at its own offset (SMD pads, drilled pads, pours, traces at 0, 45 and 90 degrees ending on vias or leaving
  the picture); 3 to 12 opens, shorts, mouse bites, spurs, spurious copper or pin-holes, 4-14 px, as many
  as the public DeepPCB set's tested scans carry (segmentation).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SS = 2  # drawing supersampling, for antialiased edges
Steps = list[tuple[str | None, np.ndarray]]  # (defect class or None for the clean scene, scene after it)


@dataclass
class Sample:
    image: Image.Image  # what the camera saw
    clean: Image.Image  # the same picture without its defects (== image for a normal sample)
    mask: Image.Image | None  # anomalies of segmentation sets: white background, class colours


# ---------------------------------------------------------------- drawing helpers


def _noise(rng: np.random.Generator, h: int, w: int, cell: float, stretch: float = 1.0) -> np.ndarray:
    """Smooth noise of unit-ish amplitude with features about `cell` px (`stretch` x wider), random phase."""
    cy, cx = cell, cell * stretch
    gh, gw = int(h / cy) + 4, int(w / cx) + 4
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = np.asarray(Image.fromarray(grid, "F").resize((int(gw * cx), int(gh * cy)), Image.BICUBIC))
    oy, ox = rng.integers(0, int(cy) + 1), rng.integers(0, int(cx) + 1)
    return big[oy : oy + h, ox : ox + w]


class Layer:
    """A coverage layer drawn at SS x size; `alpha()` is its antialiased coverage in [0, 1]."""

    def __init__(self, w: int, h: int, fill: int = 0):
        self.size = (w, h)
        self.image = Image.new("L", (w * SS, h * SS), fill)
        self.draw = ImageDraw.Draw(self.image)

    def polygon(self, points, fill: int = 255) -> Layer:
        self.draw.polygon([(x * SS, y * SS) for x, y in points], fill=fill)
        return self

    def line(self, points, width: float, fill: int = 255) -> Layer:
        scaled = [(x * SS, y * SS) for x, y in points]
        self.draw.line(scaled, fill=fill, width=max(1, round(width * SS)), joint="curve")
        for x, y in (scaled[0], scaled[-1]):  # round caps
            r = width * SS / 2
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        return self

    def ellipse(self, cx: float, cy: float, rx: float, ry: float | None = None, fill: int = 255) -> Layer:
        ry = rx if ry is None else ry
        self.draw.ellipse(((cx - rx) * SS, (cy - ry) * SS, (cx + rx) * SS, (cy + ry) * SS), fill=fill)
        return self

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: int = 255) -> Layer:
        self.draw.rectangle((x0 * SS, y0 * SS, x1 * SS - 1, y1 * SS - 1), fill=fill)
        return self

    def alpha(self, blur: float = 0.0) -> np.ndarray:
        small = self.image.resize(self.size, Image.BOX)
        if blur:
            small = small.filter(ImageFilter.GaussianBlur(blur))
        return np.asarray(small, np.float32)[..., None] / 255


def _over(scene: np.ndarray, alpha: np.ndarray, colour) -> np.ndarray:
    return scene * (1 - alpha) + np.asarray(colour, np.float32) * alpha


def _rotate(points, angle: float, cx: float, cy: float):
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def _walk(rng, x, y, steps: int, step: tuple[float, float], turn: float, angle: float | None = None):
    """A jagged polyline: a random walk with momentum."""
    angle = rng.uniform(0, 2 * math.pi) if angle is None else angle
    points = [(x, y)]
    for _ in range(steps):
        angle += rng.uniform(-turn, turn)
        length = rng.uniform(*step)
        x, y = x + math.cos(angle) * length, y + math.sin(angle) * length
        points.append((x, y))
    return points


def _finish(scene: np.ndarray, seed) -> Image.Image:
    """The camera: exposure, colour cast, a lighting gradient and vignette, lens blur, sensor noise."""
    rng = np.random.default_rng(seed)
    h, w, _ = scene.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx, yy = xx / w - 0.5, yy / h - 0.5
    direction = rng.uniform(0, 2 * math.pi)
    ramp = 1 + rng.uniform(0.0, 0.25) * (xx * math.cos(direction) + yy * math.sin(direction))
    vignette = 1 - rng.uniform(0.0, 0.25) * (xx**2 + yy**2)
    light = (rng.uniform(0.85, 1.12) * ramp * vignette)[..., None] * (1 + rng.uniform(-0.04, 0.04, 3))
    image = Image.fromarray((np.clip(scene * light, 0, 1) * 255).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.8)))
    sigma = rng.uniform(2.0, 5.0)
    noisy = (
        np.asarray(image, np.float32) + rng.normal(0, sigma, (h, w, 3)) + rng.normal(0, sigma / 2, (h, w, 1))
    )
    return Image.fromarray(np.clip(noisy.round(), 0, 255).astype(np.uint8), "RGB")


# ---------------------------------------------------------------- texture: brushed metal


def _texture(rng: np.random.Generator, defects: int) -> Steps:
    h = w = 512
    base = np.array([0.56, 0.57, 0.59], np.float32) + rng.uniform(-0.04, 0.04)
    tilt = rng.uniform(-0.04, 0.04)  # grain direction varies a little
    streaks = _noise(rng, h + 40, w, 0.8, stretch=60)
    shift = (np.arange(w) * tilt).astype(int)
    rows = (np.arange(h)[:, None] + shift[None, :] + 20) % (h + 40)
    streaks = streaks[rows, np.arange(w)[None, :]]
    shade = 1 + 0.07 * streaks + 0.05 * _noise(rng, h, w, 90) + 0.025 * rng.standard_normal((h, w))
    scene = base * shade[..., None].astype(np.float32)
    steps: Steps = [(None, scene)]
    kinds = rng.choice(["scratch", "pit", "stain"], size=defects, replace=False)
    for kind in kinds:
        x, y = rng.uniform(60, w - 60), rng.uniform(60, h - 60)
        if kind == "scratch":
            points = _walk(rng, x, y, int(rng.integers(3, 7)), (20, 35), 0.15)
            alpha = Layer(w, h).line(points, rng.uniform(1.5, 3.0)).alpha()
            factor = rng.choice([rng.uniform(0.45, 0.65), rng.uniform(1.3, 1.5)])
            scene = scene * (1 - alpha) + np.clip(scene * factor, 0, 1) * alpha
        elif kind == "pit":
            r = rng.uniform(4, 9)
            rim = Layer(w, h).ellipse(x, y, r + 1.5).alpha(0.5)
            hole = Layer(w, h).ellipse(x + r * 0.15, y + r * 0.15, r * 0.85).alpha(0.8)
            scene = scene * (1 - rim) + np.clip(scene * 1.35, 0, 1) * rim
            scene = scene * (1 - hole) + scene * 0.35 * hole
        else:
            layer = Layer(w, h)
            for _ in range(int(rng.integers(2, 5))):
                layer.ellipse(x + rng.uniform(-12, 12), y + rng.uniform(-12, 12), *rng.uniform(8, 22, 2))
            alpha = layer.alpha(4) * rng.uniform(0.35, 0.55)
            tint = np.array([0.42, 0.33, 0.2], np.float32) * rng.uniform(0.9, 1.1)
            scene = scene * (1 - alpha) + tint * (0.6 + 0.4 * shade[..., None]) * alpha
        steps.append((str(kind), scene))
    return steps


# ---------------------------------------------------------------- rotated_parts: a gear on wood


def _wood(rng, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    warp = 5 * _noise(rng, h, w, 70) + 1.5 * _noise(rng, h, w, 12)
    rings = 0.5 + 0.5 * np.sin(u / rng.uniform(7, 11) + warp)
    grain = 0.85 + 0.1 * rings + 0.04 * _noise(rng, h, w, 2, stretch=8) + 0.03 * _noise(rng, h, w, 40)
    colour = np.array([0.55, 0.38, 0.22], np.float32) * rng.uniform(0.9, 1.1)
    return colour * grain[..., None]


def _gear_layer(w, h, cx, cy, angle, teeth, holes, cut=None, missing_tooth=None) -> Layer:
    outer, root, n = 150.0, 128.0, teeth
    points = []
    for k in range(n):
        a0 = 2 * math.pi * k / n
        top = root if k == missing_tooth else outer
        for frac, radius in ((0.0, root), (0.18, root), (0.3, top), (0.62, top), (0.74, root)):
            a = a0 + frac * 2 * math.pi / n
            points.append((radius * math.cos(a), radius * math.sin(a)))
    layer = Layer(w, h).polygon(_rotate(points, angle, cx, cy))
    layer.polygon(_rotate([(-34, -34), (34, -34), (34, 34), (-34, 34)], angle + 0.3, cx, cy), fill=0)
    hub = [(30 * math.cos(a), 30 * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 40)]
    layer.polygon(_rotate(hub, angle, cx, cy), fill=255)
    layer.ellipse(cx, cy, 22, fill=0)
    layer.polygon(_rotate([(14, -5), (29, -5), (29, 5), (14, 5)], angle, cx, cy), fill=0)
    for k, (radius, size) in enumerate(holes):
        a = angle + math.pi / 4 + k * math.pi / 2
        if size:
            layer.ellipse(cx + radius * math.cos(a), cy + radius * math.sin(a), size, fill=0)
    if cut:
        layer.polygon(cut, fill=0)
    return layer


def _rotated_parts(rng: np.random.Generator, defects: int) -> Steps:
    h = w = 480
    background = _wood(rng, h, w)
    angle = rng.uniform(0, 2 * math.pi)
    cx, cy = w / 2 + rng.uniform(-20, 20), h / 2 + rng.uniform(-20, 20)
    holes = [(82.0, 19.0)] * 4
    metal = np.array([0.66, 0.67, 0.7], np.float32) * rng.uniform(0.92, 1.05)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = rng.uniform(0, 2 * math.pi)
    sheen = 1 + 0.12 * (((xx - cx) * math.cos(light) + (yy - cy) * math.sin(light)) / 150)
    finish = (sheen + 0.05 * _noise(rng, h, w, 3, stretch=6) + 0.03 * _noise(rng, h, w, 30))[..., None]

    def render(layer: Layer, crack=None) -> np.ndarray:
        alpha = layer.alpha()
        shadow = np.roll(layer.alpha(6), (6, 6), (0, 1)) * 0.45
        scene = background * (1 - shadow)
        scene = scene * (1 - alpha) + np.clip(metal * finish, 0, 1) * alpha
        if crack is not None:
            line = Layer(w, h).line(crack, rng_width).alpha() * alpha
            scene = scene * (1 - line) + scene * 0.3 * line
        return scene

    rng_width = rng.uniform(1.5, 2.5)
    teeth = 14
    steps: Steps = [(None, render(_gear_layer(w, h, cx, cy, angle, teeth, holes)))]
    kind = str(rng.choice(["missing_tooth", "filled_hole", "crack", "chip"]))
    if defects:
        missing, cut, crack, filled = None, None, None, list(holes)
        tooth = int(rng.integers(teeth))
        if kind == "missing_tooth":
            missing = tooth
        elif kind == "filled_hole":
            filled[int(rng.integers(4))] = (82.0, 0.0)
        elif kind == "crack":
            a = angle + 2 * math.pi * (tooth + 0.05) / teeth
            start = (cx + 128 * math.cos(a), cy + 128 * math.sin(a))
            crack = _walk(rng, *start, int(rng.integers(4, 7)), (8, 14), 0.5, angle=a + math.pi)
        else:
            a = angle + 2 * math.pi * (tooth + rng.uniform(0.3, 0.6)) / teeth
            depth, half = rng.uniform(14, 26), rng.uniform(0.05, 0.09)
            tip = (cx + (150 - depth) * math.cos(a), cy + (150 - depth) * math.sin(a))
            cut = [tip] + [(cx + 170 * math.cos(a + d), cy + 170 * math.sin(a + d)) for d in (-half, half)]
        layer = _gear_layer(w, h, cx, cy, angle, teeth, filled, cut=cut, missing_tooth=missing)
        steps.append((kind, render(layer, crack)))
    return steps


# ---------------------------------------------------------------- boards: an aligned circuit board


@dataclass
class _Board:
    traces: list  # (points, width)
    bus: list  # (y, x0, x1): parallel horizontal traces, 12 px apart
    pads: list  # (x, y, r, round)
    chips: list  # (x0, y0, x1, y1)
    vias: list  # (x, y)


def _board_layout() -> _Board:
    rng = np.random.default_rng(12345)  # one board design for every image
    traces, bus, pads, chips, vias = [], [], [], [], []
    for k in range(7):  # a bus across the middle
        y = 190 + 12 * k
        bus.append((y, 150.0, 450.0))
        traces.append(([(150, y), (450, y)], 5.0))
        pads.append((140, y, 5.0, True))
        pads.append((460, y, 5.0, True))
    for i, (x0, y0) in enumerate(((40, 40), (330, 40), (40, 310), (330, 310))):  # chips with pins on pads
        x1, y1 = x0 + 130, y0 + 60
        chips.append((x0 + 12, y0 + 14, x1 - 12, y1 - 14))
        for p in range(8):
            px = x0 + 18 + p * 13
            pads.append((px, y0 + 8, 4.0, False))
            pads.append((px, y1 - 8, 4.0, False))
            if p % 2 == i % 2:  # fan-out traces from some pins
                out = y0 + 8 - 24 if y0 > 200 else y1 - 8 + 24
                traces.append(([(px, y1 - 8 if y0 < 200 else y0 + 8), (px, out)], 3.0))
                vias.append((px, out))
    for _ in range(6):  # L-shaped routes on the left and right edges
        x = float(rng.integers(20, 120))
        y0, y1 = float(rng.integers(120, 170)), float(rng.integers(270, 300))
        side = rng.choice([0, 1])
        x = x if side == 0 else 600 - x
        x2 = 140.0 if side == 0 else 460.0
        traces.append(([(x, y0), (x, y1), (x2 if abs(x2 - x) > 15 else x + 20, y1)], 4.0))
        pads.append((x, y0, 6.0, True))
    for k in range(5):  # two-pad passives
        x, y = 200 + 45 * k, 130.0 if k % 2 else 150.0
        pads.append((x - 7, y, 4.5, False))
        pads.append((x + 7, y, 4.5, False))
    return _Board(traces, bus, pads, chips, vias)


BOARD = _board_layout()


def _boards(rng: np.random.Generator, defects: int) -> Steps:
    w, h = 600, 420
    dx, dy = rng.uniform(-3, 3, 2)
    laminate = np.array([0.12, 0.36, 0.18], np.float32) * rng.uniform(0.92, 1.08)
    weave = 1 + 0.05 * _noise(rng, h, w, 3) + 0.04 * _noise(rng, h, w, 60)
    board = laminate * weave[..., None]
    trace_colour = np.array([0.2, 0.55, 0.26], np.float32)
    pad_colour = np.array([0.85, 0.72, 0.38], np.float32)

    def shifted(points):
        return [(x + dx, y + dy) for x, y in points]

    copper, pads = Layer(w, h), Layer(w, h)
    for points, width in BOARD.traces:
        copper.line(shifted(points), width)
    for x, y, r, round_ in BOARD.pads:
        x, y = x + dx, y + dy
        (pads.ellipse(x, y, r) if round_ else pads.rect(x - r * 0.7, y - r, x + r * 0.7, y + r))
    for x, y in BOARD.vias:
        pads.ellipse(x + dx, y + dy, 4)
    silk, chips, holes = Layer(w, h), Layer(w, h), Layer(w, h)
    for x0, y0, x1, y1 in BOARD.chips:
        chips.rect(x0 + dx, y0 + dy, x1 + dx, y1 + dy)
        silk.line(shifted([(x0 - 4, y0 - 18), (x1 + 4, y0 - 18)]), 1.5)
        silk.ellipse(x0 + dx + 6, y0 + dy + 6, 2.5, fill=0)
    for x, y in BOARD.vias:
        holes.ellipse(x + dx, y + dy, 1.8)
    copper_a, pads_a = copper.alpha(), pads.alpha()

    def render(copper_a, pads_a) -> np.ndarray:
        scene = _over(board, copper_a, trace_colour * weave[..., None])
        scene = _over(scene, pads_a, pad_colour)
        scene = _over(scene, silk.alpha(), (0.9, 0.9, 0.85))
        scene = _over(scene, chips.alpha(), (0.08, 0.08, 0.09))
        return _over(scene, holes.alpha(), (0.05, 0.05, 0.05))

    steps: Steps = [(None, render(copper_a, pads_a))]
    kinds = rng.choice(["missing_pad", "short", "spur", "open", "spurious_copper"], defects, replace=False)
    for kind in kinds:
        if kind == "missing_pad":
            candidates = [p for p in BOARD.pads if p[3]]  # round pads: no chip over them
            x, y, r, _ = candidates[int(rng.integers(len(candidates)))]
            gone = Layer(w, h).ellipse(x + dx, y + dy, r + 0.5).alpha()
            pads_a = pads_a * (1 - gone)
            copper_a = copper_a * (1 - gone)
        elif kind in ("short", "spur", "open"):
            y, x0, x1 = BOARD.bus[int(rng.integers(len(BOARD.bus) - 1))]
            x, y = rng.uniform(x0 + 20, x1 - 20) + dx, y + dy
            size = rng.uniform(3, 6)
            if kind == "short":
                bridge = Layer(w, h).polygon([(x, y), (x + size, y), (x + size + 2, y + 12), (x + 2, y + 12)])
                copper_a = np.maximum(copper_a, bridge.alpha())
            elif kind == "spur":
                tip = (x + rng.uniform(-2, 2), y + 2.5 + rng.uniform(3, 5))
                copper_a = np.maximum(
                    copper_a, Layer(w, h).polygon([(x - size / 2, y), (x + size / 2, y), tip]).alpha()
                )
            else:
                copper_a = copper_a * (1 - Layer(w, h).rect(x, y - 4, x + size, y + 4).alpha())
        else:  # spurious copper: a blob on bare laminate, clear of everything
            while True:
                x, y = rng.uniform(20, w - 20), rng.uniform(20, h - 20)
                window = (slice(int(y) - 14, int(y) + 14), slice(int(x) - 14, int(x) + 14))
                if copper_a[window].max() + pads_a[window].max() + chips.alpha()[window].max() == 0:
                    break
            blob = Layer(w, h)
            for _ in range(3):
                blob.ellipse(x + rng.uniform(-2, 2), y + rng.uniform(-2, 2), *rng.uniform(1.5, 3.5, 2))
            copper_a = np.maximum(copper_a, blob.alpha())
        steps.append((str(kind), render(copper_a, pads_a)))
    return steps


# ---------------------------------------------------------------- thin_cracks: ceramic surface


def _thin_cracks(rng: np.random.Generator, defects: int) -> Steps:
    h = w = 512
    glaze = np.array([0.8, 0.78, 0.74], np.float32) * rng.uniform(0.94, 1.04)
    shade = (
        1 + 0.05 * _noise(rng, h, w, 80) + 0.025 * _noise(rng, h, w, 6) + 0.02 * rng.standard_normal((h, w))
    )
    scene = glaze * shade[..., None].astype(np.float32)
    speckles = Layer(w, h)  # harmless speckles, so a dark dot alone is not an anomaly
    for _ in range(int(rng.integers(25, 60))):
        speckles.ellipse(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.8, 2.2))
    spots = speckles.alpha(0.3) * rng.uniform(0.08, 0.16)
    scene = scene * (1 - spots) + scene * 0.55 * spots
    steps: Steps = [(None, scene)]
    kinds = ["crack", "pinhole"] if defects == 2 else [str(rng.choice(["crack", "pinhole"]))] * defects
    for kind in kinds:
        if kind == "crack":
            layer = Layer(w, h)
            points = _walk(rng, rng.uniform(80, w - 80), rng.uniform(80, h - 80), int(rng.integers(10, 22)),
                           (5, 11), 0.45)  # fmt: skip
            width = rng.uniform(1.2, 2.6)
            for k in range(len(points) - 1):  # tapering towards the end
                layer.line(points[k : k + 2], max(0.8, width * (1 - 0.6 * k / len(points))))
            if rng.random() < 0.5:  # a branch
                k = int(rng.integers(2, len(points) - 2))
                layer.line(_walk(rng, *points[k], int(rng.integers(3, 7)), (4, 9), 0.5), 1.0)
            alpha = layer.alpha()
            scene = scene * (1 - alpha) + scene * rng.uniform(0.35, 0.55) * alpha
        else:
            layer = Layer(w, h)
            for _ in range(int(rng.integers(1, 5))):
                layer.ellipse(rng.uniform(30, w - 30), rng.uniform(30, h - 30), rng.uniform(1.5, 3.0))
            alpha = layer.alpha(0.4)
            scene = scene * (1 - alpha) + scene * rng.uniform(0.15, 0.3) * alpha
        steps.append((kind, scene))
    return steps


# ---------------------------------------------------------------- large_parts: a cover plate filling the frame


def _large_parts(rng: np.random.Generator, defects: int) -> Steps:
    h = w = 560
    background = np.array([0.86, 0.86, 0.84], np.float32) * (1 + 0.02 * _noise(rng, h, w, 120))[..., None]
    angle = rng.uniform(0, 2 * math.pi)
    cx, cy = w / 2 + rng.uniform(-6, 6), h / 2 + rng.uniform(-6, 6)
    radius = 0.475 * w
    paint = np.array([0.78, 0.42, 0.14], np.float32) * rng.uniform(0.92, 1.06)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (xx - cx) / radius, (yy - cy) / radius
    light = rng.uniform(0, 2 * math.pi)
    lx, ly = math.cos(light), math.sin(light)
    rr = np.sqrt(u**2 + v**2)
    ring = np.clip(1 - np.abs(rr - 0.62) / 0.05, 0, 1)  # a raised ring: lit on one side, dark on the other
    relief = 1 + 0.1 * (u * lx + v * ly) + 0.12 * ring * (u * lx + v * ly) / np.maximum(rr, 1e-3)
    texture = relief + 0.03 * _noise(rng, h, w, 2.5) + 0.025 * _noise(rng, h, w, 50)

    def outline(cut=None) -> Layer:
        n = 120
        rim = [
            (radius * math.cos(a), radius * math.sin(a))
            for a in np.linspace(0, 2 * math.pi, n, endpoint=False)
        ]
        layer = Layer(w, h).polygon(_rotate(rim, angle, cx, cy))
        layer.polygon(_rotate([(radius - 24, -14), (radius + 2, -14), (radius + 2, 14), (radius - 24, 14)],
                              angle, cx, cy), fill=0)  # fmt: skip
        for k in range(6):
            a = angle + k * math.pi / 3
            layer.ellipse(cx + 0.82 * radius * math.cos(a), cy + 0.82 * radius * math.sin(a), 11, fill=0)
        layer.ellipse(cx, cy, 0.18 * radius, fill=0)
        if cut:
            layer.polygon(cut, fill=0)
        return layer

    label = Layer(w, h).polygon(_rotate([(-60, 40), (60, 40), (60, 80), (-60, 80)], angle, cx, cy)).alpha()

    def render(layer: Layer, colour_shift=None) -> np.ndarray:
        alpha = layer.alpha()
        shadow = np.roll(layer.alpha(5), (4, 5), (0, 1)) * 0.3
        surface = paint * texture[..., None]
        surface = _over(surface, label * 0.9, np.array([0.92, 0.9, 0.85], np.float32) * texture[..., None])
        if colour_shift is not None:
            surface = colour_shift(surface)
        return _over(background * (1 - shadow), alpha, np.clip(surface, 0, 1))

    base = outline()
    steps: Steps = [(None, render(base))]
    if defects:
        kind = str(rng.choice(["missing_piece", "dent", "discoloured"]))
        a = rng.uniform(0, 2 * math.pi)
        if kind == "missing_piece":
            depth, half = rng.uniform(25, 45), rng.uniform(0.06, 0.12)
            cut = [(cx + (radius - depth) * math.cos(a + d), cy + (radius - depth) * math.sin(a + d))
                   for d in (-half * 0.5, half * 0.4)]  # fmt: skip
            cut += [
                (cx + (radius + 8) * math.cos(a + d), cy + (radius + 8) * math.sin(a + d))
                for d in (half, -half)
            ]
            steps.append((kind, render(outline(cut))))
        else:
            dist = rng.uniform(0.3, 0.5) * radius
            px, py = cx + dist * math.cos(a), cy + dist * math.sin(a)
            size = rng.uniform(16, 30) if kind == "dent" else rng.uniform(25, 45)
            if kind == "dent":
                du, dv = (xx - px) / size, (yy - py) / (size * rng.uniform(0.6, 1.0))
                bowl = np.clip(1 - du**2 - dv**2, 0, 1)
                slope = (du * lx + dv * ly) * bowl  # the far wall catches light, the near one is dark
                shift = (1 + 0.35 * slope - 0.05 * bowl)[..., None]
                steps.append((kind, render(base, lambda s: s * shift)))
            else:
                blob = Layer(w, h)
                for _ in range(4):
                    blob.ellipse(
                        px + rng.uniform(-15, 15), py + rng.uniform(-15, 15), *rng.uniform(0.4, 0.8, 2) * size
                    )
                stain = blob.alpha(6) * rng.uniform(0.35, 0.55)
                burnt = np.array([0.55, 0.4, 0.22], np.float32) * texture[..., None]
                steps.append((kind, render(base, lambda s: s * (1 - stain) + burnt * stain)))
    return steps


# ---------------------------------------------------------------- tiles: ground ferrite tiles, grey


def _tiles(rng: np.random.Generator, defects: int) -> Steps:
    h, w = 400, 560
    level = rng.uniform(0.28, 0.46)  # the tiles' own shade varies more than the camera's exposure
    tilt = rng.uniform(-0.03, 0.03)
    marks = _noise(rng, h + 40, w, 0.8, stretch=40)  # grinding marks along the tile
    shift = (np.arange(w) * tilt).astype(int)
    marks = marks[(np.arange(h)[:, None] + shift[None, :] + 20) % (h + 40), np.arange(w)[None, :]]
    shade = (1 + 0.04 * marks + 0.05 * _noise(rng, h, w, 1.5) + 0.03 * rng.standard_normal((h, w))
             + 0.08 * _noise(rng, h, w, 150))  # fmt: skip
    surface = level * shade
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = h - rng.uniform(40, 56) + rng.uniform(-0.02, 0.02) * (xx - w / 2)  # the tile's lower edge
    chamfer = np.clip((yy - (edge - 10)) / 10, 0, 1) * (yy < edge)  # a bevel that catches the light
    tile = (yy < edge).astype(np.float32)
    ground = 0.06 * (1 + 0.2 * _noise(rng, h, w, 8))
    grey = surface * (1 + 0.4 * chamfer) * tile + ground * (1 - tile)
    scene = np.repeat(grey[..., None], 3, axis=2).astype(np.float32) * np.array([1.0, 1.0, 0.97], np.float32)
    steps: Steps = [(None, scene)]
    kinds = rng.choice(["blowhole", "crack", "fray", "break", "uneven"], size=defects, replace=False)
    top = float(edge.min()) - 24  # the flat surface lies above this row
    for kind in kinds:
        if kind == "blowhole":
            rim, hole = Layer(w, h), Layer(w, h)
            for _ in range(int(rng.integers(1, 4))):
                x, y, r = rng.uniform(30, w - 30), rng.uniform(24, top), rng.uniform(2.5, 6.0)
                rim.ellipse(x, y, r + 1.2)
                hole.ellipse(x, y, r)
            scene = _over(scene, rim.alpha(0.5), np.clip(scene * 1.25, 0, 1))
            scene = _over(scene, hole.alpha(0.6), scene * 0.3)
        elif kind == "crack":
            points = _walk(rng, rng.uniform(60, w - 60), rng.uniform(40, top - 20), int(rng.integers(8, 18)),
                           (6, 12), 0.4)  # fmt: skip
            alpha = Layer(w, h).line(points, rng.uniform(1.0, 2.0)).alpha() * tile[..., None]
            scene = _over(scene, alpha, scene * rng.uniform(0.55, 0.75))
        elif kind == "fray":  # the bevel chipped along a stretch of the edge
            start, length = rng.uniform(20, w - 120), rng.uniform(40, 90)
            xs = np.linspace(start, start + length, 12)
            row = float(np.median(edge))
            points = [(x, row - rng.uniform(3, 10)) for x in xs] + [(xs[-1], row + 2), (xs[0], row + 2)]
            alpha = Layer(w, h).polygon(points).alpha(0.5) * tile[..., None]
            scene = _over(scene, alpha, scene * 0.35)
        elif kind == "break":  # a corner broken off: the ground shows through
            size, corner = rng.uniform(30, 70), int(rng.integers(2))
            x0 = 0.0 if corner == 0 else float(w)
            sign = 1 if corner == 0 else -1
            points = [
                (x0, 0.0),
                (x0 + sign * size * rng.uniform(0.8, 1.3), 0.0),
                (x0, size * rng.uniform(0.8, 1.3)),
            ]
            alpha = Layer(w, h).polygon(points).alpha(0.5)
            scene = _over(scene, alpha, np.repeat(ground[..., None], 3, axis=2))
        else:  # uneven: a broad patch a little lighter or darker, with soft borders
            layer = Layer(w, h)
            x, y = rng.uniform(80, w - 80), rng.uniform(60, top - 30)
            for _ in range(3):
                layer.ellipse(x + rng.uniform(-20, 20), y + rng.uniform(-15, 15), *rng.uniform(25, 50, 2))
            factor = 1 + rng.choice([-1, 1]) * rng.uniform(0.14, 0.22)
            alpha = layer.alpha(10) * tile[..., None]
            scene = _over(scene, alpha, np.clip(scene * factor, 0, 1))
        steps.append((str(kind), scene))
    return steps


# ---------------------------------------------------------------- solar_cells: electroluminescence images


def _solar_cells(rng: np.random.Generator, defects: int) -> Steps:
    """A monocrystalline cell lit by its own current (electroluminescence), filling the frame: three busbars,
    faint fingers, dark cut corners, and what makes normal cells differ: their brightness, the ingot's
    growth rings, soft darker patches and a darker rim."""
    h = w = 400
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ox, oy = rng.uniform(-3, 3, 2)
    u, v = (xx - w / 2 - ox) / (w / 2), (yy - h / 2 - oy) / (h / 2)  # -1..1 across the cell
    level = rng.uniform(0.45, 0.75)
    rings = (
        0.04 * rng.uniform(0.3, 1.0) * np.sin(np.hypot(u - rng.uniform(-0.3, 0.3), v) * rng.uniform(18, 30))
    )
    patches = 0.12 * np.clip(_noise(rng, h, w, 40), 0, None) * rng.uniform(0.4, 1.0)
    rim = 0.12 * np.clip(np.maximum(np.abs(u), np.abs(v)) - 0.8, 0, None) / 0.2
    shade = level * (1 + rings - patches - rim + 0.02 * _noise(rng, h, w, 2))
    fingers = 1 - 0.04 * (np.abs(((yy - oy) % 8) - 4) < 1.0)
    cell = Layer(w, h, fill=255)
    cut = 0.14 + rng.uniform(-0.01, 0.01)  # the pseudo-square's cut corners
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        cx, cy = w / 2 + ox + sx * w / 2, h / 2 + oy + sy * h / 2
        cell.polygon([(cx, cy), (cx - sx * cut * w, cy), (cx, cy - sy * cut * h)], fill=0)
    bars = Layer(w, h)
    for k in (-1, 0, 1):
        x = w / 2 + ox + k * w / 3.2 + rng.uniform(-1, 1)
        bars.rect(x - 3.5, 0, x + 3.5, h)
    inside = cell.alpha()[..., 0]
    spots = Layer(w, h)  # dark spots every cell may have (impurities), so a dark mark alone is no defect
    for _ in range(int(rng.integers(0, 5))):
        spots.ellipse(rng.uniform(20, w - 20), rng.uniform(20, h - 20), *rng.uniform(3, 9, 2))
    shade = shade * (1 - spots.alpha(2.0)[..., 0] * rng.uniform(0.1, 0.3))
    scene = shade * fingers * (1 - 0.6 * bars.alpha()[..., 0])
    scene = scene * inside + 0.04 * (1 - inside)
    steps: Steps = [(None, np.repeat(scene[..., None], 3, axis=2).astype(np.float32))]
    if defects:
        kind = str(rng.choice(["crack", "inactive", "broken_fingers"]))
        if kind == "crack":  # a thin dark line, often from a busbar
            start = (w / 2 + ox + int(rng.integers(-1, 2)) * w / 3.2, rng.uniform(40, h - 40))
            points = _walk(rng, *start, int(rng.integers(5, 12)), (10, 20), 0.35)
            dark = Layer(w, h).line(points, rng.uniform(0.8, 1.6)).alpha()[..., 0] * inside
            scene = scene * (1 - dark * rng.uniform(0.2, 0.4))
        elif kind == "inactive":  # a piece cut off by a crack: darker, with the crack as its border
            corner = int(rng.integers(4))
            x0 = 0.0 if corner in (0, 3) else float(w)
            y0 = 0.0 if corner < 2 else float(h)
            reach = rng.uniform(80, 160)
            sx, sy = (1 if x0 == 0 else -1), (1 if y0 == 0 else -1)
            piece = Layer(w, h).polygon(
                [
                    (x0, y0),
                    (x0 + sx * reach * rng.uniform(0.8, 1.4), y0),
                    (x0, y0 + sy * reach * rng.uniform(0.8, 1.4)),
                ]
            )
            scene = scene * (1 - piece.alpha(1.0)[..., 0] * rng.uniform(0.2, 0.45) * inside)
        else:  # fingers interrupted between two busbars: a darker band across them
            x = w / 2 + ox + rng.choice([-1, 1]) * w / 6.4 + rng.uniform(-12, 12)
            y = rng.uniform(40, h - 40)
            band = Layer(w, h).rect(
                x - rng.uniform(10, 26), y, x + rng.uniform(10, 26), y + rng.uniform(16, 40)
            )
            scene = scene * (1 - band.alpha(4.0)[..., 0] * rng.uniform(0.15, 0.3) * inside)
        steps.append((kind, np.repeat(scene[..., None], 3, axis=2).astype(np.float32)))
    return steps


# ---------------------------------------------------------------- pcb_scans: binarised scans of bare boards

PCB_PITCH = 16  # the routing grid: traces run along its lines, one cell apart at the closest
PCB_TURNS = [(1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1)]  # 45 degrees apart


@dataclass
class _Routed:
    copper: Layer
    drills: Layer
    segments: list  # (x0, y0, x1, y1, width): the traces' straight stretches, for defects on them


def _pcb_layout(rng: np.random.Generator, w: int, h: int) -> _Routed:
    """A board's copper, w x h px: SMD pads in facing rows, drilled through-hole pads and copper pours (as
    many per 640 x 640 px), buses entering at the edges, and traces routed from the pads at 0, 45 and 90
    degrees on a grid that keeps them a cell apart, ending on vias or leaving the board."""
    cols, rows = w // PCB_PITCH, h // PCB_PITCH
    taken = np.zeros((rows, cols), bool)
    routed = _Routed(Layer(w, h), Layer(w, h), [])
    starts: list[tuple[int, int, int]] = []  # (col, row, direction) where traces leave pads

    def centre(c: int, r: int) -> tuple[float, float]:
        return (c + 0.5) * PCB_PITCH, (r + 0.5) * PCB_PITCH

    def clear(c0: int, r0: int, c1: int, r1: int) -> bool:  # the box and a cell around it free and inside
        inside = min(c0, r0) >= 1 and c1 < cols - 1 and r1 < rows - 1
        return inside and not taken[r0 - 1 : r1 + 2, c0 - 1 : c1 + 2].any()

    def pad(c: int, r: int, across: int) -> None:  # an SMD pad, long across its row
        x, y = centre(c, r)
        half = (5, 10) if across == 1 else (10, 5)  # (half width, half height)
        routed.copper.rect(x - half[0], y - half[1], x + half[0], y + half[1])

    def hole(c: int, r: int, radius: float, drill: float) -> None:
        x, y = centre(c, r)
        routed.copper.ellipse(x, y, radius)
        routed.drills.ellipse(x, y, drill)

    area = w * h / 640**2  # as many parts and buses per 640 x 640 px
    parts = round(rng.integers(4, 8) * area)
    for kind in ["smd", *rng.choice(["smd", "through_hole", "pour"], parts, p=[0.45, 0.4, 0.15])]:
        for _ in range(30):
            vertical = bool(rng.integers(2))
            if kind == "smd":  # two facing rows of pads, one cell apart along the row
                count, gap = int(rng.integers(3, 9)), int(rng.integers(3, 6))
                size = (count, gap + 1) if not vertical else (gap + 1, count)
            elif kind == "through_hole":  # a row of round pads, two cells apart
                count, gap = int(rng.integers(2, 6)), 0
                size = (2 * count - 1, 1) if not vertical else (1, 2 * count - 1)
            else:
                count, gap = 0, 0
                size = (int(rng.integers(4, 10)), int(rng.integers(3, 8)))
            c0, r0 = (
                int(rng.integers(1, max(2, cols - size[0]))),
                int(rng.integers(1, max(2, rows - size[1]))),
            )
            c1, r1 = c0 + size[0] - 1, r0 + size[1] - 1
            if clear(c0, r0, c1, r1):
                break
        else:
            continue
        if kind == "pour":
            (x0, y0), (x1, y1) = centre(c0, r0), centre(c1, r1)
            routed.copper.rect(x0 - 5, y0 - 5, x1 + 5, y1 + 5)
            taken[r0 : r1 + 1, c0 : c1 + 1] = True
            continue
        taken[r0 : r1 + 1, c0 : c1 + 1] = True  # traces leave outwards, never between the rows
        radius, drill = rng.uniform(6, 8), rng.uniform(2.5, 3.5)
        for k in range(count):
            if kind == "smd":
                for side in (0, 1):
                    c, r = (c0 + k, (r0, r1)[side]) if not vertical else ((c0, c1)[side], r0 + k)
                    pad(c, r, 1 if not vertical else 0)
                    outward = (6 if side == 0 else 2) if not vertical else (4 if side == 0 else 0)
                    if rng.random() < 0.7:
                        starts.append((c, r, outward))
            else:
                c, r = (c0 + 2 * k, r0) if not vertical else (c0, r0 + 2 * k)
                hole(c, r, radius, drill)
                if rng.random() < 0.8:
                    starts.append((c, r, int(rng.integers(4)) * 2))
    for _ in range(round(rng.integers(1, 4) * math.sqrt(area))):  # a bus: parallel traces from an edge
        lanes, direction = int(rng.integers(2, 6)), int(rng.integers(4)) * 2
        first = int(rng.integers(1, (rows if direction in (0, 4) else cols) - lanes - 1))
        for lane in range(first, first + lanes):
            c, r = {0: (-1, lane), 4: (cols, lane), 2: (lane, -1), 6: (lane, rows)}[direction]
            starts.append((c, r, direction))
    order = rng.permutation(len(starts))
    for index in order:
        c, r, direction = starts[index]
        width = float(rng.choice([4.0, 6.0, 8.0]))  # even: edges on pixel borders, as a clean scan keeps them
        path, length, left = [(c, r)], int(rng.integers(6, 50)), False
        for step in range(length):
            if step > 1 and rng.random() < 0.12:
                direction = (direction + int(rng.choice([-1, 1]))) % 8
            dx, dy = PCB_TURNS[direction]
            nc, nr = c + dx, r + dy
            if not (0 <= nc < cols and 0 <= nr < rows):
                if 0 <= c < cols and 0 <= r < rows:
                    path.append((nc, nr))  # off the picture
                    left = True
                break
            if taken[nr, nc] or (dx and dy and (taken[r, nc] or taken[nr, c])):
                break
            taken[nr, nc] = True
            c, r = nc, nr
            path.append((c, r))
        if len(path) < 3:
            continue
        points = [centre(*cell) for cell in path]
        routed.copper.line(points, width)
        routed.segments += [(*a, *b, width) for a, b in itertools.pairwise(points)]
        if not left:  # an end on the board ends on a via
            hole(c, r, width / 2 + 3, 1.8)
    return routed


PCB_DESIGN = 1600  # the board the scans are taken from, px square


@functools.cache
def _pcb_design() -> tuple[np.ndarray, np.ndarray, list]:
    """One board design for every scan (copper and drill coverage, trace segments): a scanner takes
    stretches of the same boards, so the training scans show the parts of the design a test scan shows,
    each at its own offset."""
    routed = _pcb_layout(np.random.default_rng(4321), PCB_DESIGN, PCB_DESIGN)
    return routed.copper.alpha()[..., 0], routed.drills.alpha()[..., 0], routed.segments


def _pcb_scans(rng: np.random.Generator, defects: int) -> Steps:
    h = w = 640
    copper_all, drills_all, segments_all = _pcb_design()
    ox, oy = (int(v) for v in rng.integers(0, PCB_DESIGN - w + 1, 2))
    base, drills = copper_all[oy : oy + h, ox : ox + w], drills_all[oy : oy + h, ox : ox + w]
    segments = [
        (x0 - ox, y0 - oy, x1 - ox, y1 - oy, width)
        for x0, y0, x1, y1, width in segments_all
        if min(x0, x1) - ox >= 8
        and max(x0, x1) - ox <= w - 8
        and min(y0, y1) - oy >= 8
        and max(y0, y1) - oy <= h - 8
    ]

    def render(copper: np.ndarray) -> np.ndarray:
        # crisp copper: a half-covered pixel column would be left to the sensor's noise, a comb along the edge
        level = 0.12 + 0.73 * (copper >= 0.5) * (drills < 0.5)
        return np.repeat(level[..., None], 3, axis=2).astype(np.float32)

    def on_trace():
        x0, y0, x1, y1, width = segments[int(rng.integers(len(segments)))]
        length = math.hypot(x1 - x0, y1 - y0)
        u = np.array([x1 - x0, y1 - y0]) / length
        n = np.array([-u[1], u[0]]) * rng.choice([-1, 1])
        t = rng.uniform(0.2, 0.8)
        return np.array([x0 + t * (x1 - x0), y0 + t * (y1 - y0)]), u, n, width

    def free(x: float, y: float, reach: int) -> bool:  # no copper within `reach` px
        if not (reach <= x < w - reach and reach <= y < h - reach):
            return False
        return base[int(y) - reach : int(y) + reach + 1, int(x) - reach : int(x) + reach + 1].max() == 0

    copper = base.copy()
    steps: Steps = [(None, render(copper))]
    kinds = rng.choice(
        ["open", "short", "mousebite", "spur", "spurious_copper", "pin_hole"], defects, replace=True
    )
    for kind in kinds:
        layer = Layer(w, h)
        for _ in range(200):
            p, u, n, width = on_trace()
            if kind == "open":
                gap, half = rng.uniform(4, 12) / 2, width / 2 + 2
                layer.polygon(
                    [tuple(p + a * gap * u + b * half * n) for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
                )
                break
            if kind == "mousebite":
                radius = rng.uniform(0.4, 0.6) * width
                for k in range(int(rng.integers(2, 5))):
                    layer.ellipse(*(p + n * width / 2 + u * k * rng.uniform(1.5, 2.5) * radius), radius)
                break
            if kind == "spur":
                reach, half = rng.uniform(6, 14), rng.uniform(2, 4)
                edge, tip = p + n * (width / 2 - 0.5), p + n * (width / 2 + reach)
                if free(*(p + n * (width / 2 + reach + 4)), 3):
                    layer.polygon([tuple(edge - half * u), tuple(edge + half * u), tuple(tip)])
                    break
                continue
            if kind == "short":  # a bridge to the nearest copper across the gap
                ahead = [p + d * n for d in np.arange(width / 2 + 3, 24)]
                inside = [q for q in ahead if 0 <= q[0] < w and 0 <= q[1] < h]
                across = [i for i, q in enumerate(inside) if base[int(q[1]), int(q[0])] > 0.5]
                if across:
                    half = rng.uniform(1.0, 2.5)
                    end = inside[across[0]] + n
                    layer.polygon(
                        [
                            tuple(p - half * u),
                            tuple(p + half * u),
                            tuple(end + half * u),
                            tuple(end - half * u),
                        ]
                    )
                    break
                continue
            if kind == "spurious_copper":
                x, y = rng.uniform(20, w - 20), rng.uniform(20, h - 20)
                if free(x, y, 16):
                    for _ in range(3):
                        layer.ellipse(x + rng.uniform(-3, 3), y + rng.uniform(-3, 3), *rng.uniform(2.5, 6, 2))
                    break
                continue
            # pin hole: a small hole in copper wide enough around it (a pad or the pour), away from drills
            radius = rng.uniform(2.0, 4.0)
            reach = math.ceil(radius + 2)
            solid = np.argwhere(
                np.asarray(
                    Image.fromarray((base * (1 - drills) * 255).astype(np.uint8)).filter(
                        ImageFilter.MinFilter(2 * reach + 1)
                    )
                )
                > 250
            )
            if len(solid):
                y, x = solid[int(rng.integers(len(solid)))]
                layer.ellipse(float(x) + 0.5, float(y) + 0.5, radius)
                break
            kind = "spurious_copper"
        alpha = layer.alpha()[..., 0]
        copper = (
            copper * (1 - alpha) if kind in ("open", "mousebite", "pin_hole") else np.maximum(copper, alpha)
        )
        steps.append((str(kind), render(copper)))
    return steps


# ---------------------------------------------------------------- the sets

Maker = Callable[[np.random.Generator, int], Steps]
SETS: dict[str, tuple[Maker, dict[str, str] | None]] = {
    "texture": (_texture, {"#FF0000": "scratch", "#0000FF": "pit", "#00A000": "stain"}),
    "rotated_parts": (_rotated_parts, None),
    "boards": (
        _boards,
        {
            "#FF0000": "missing_pad",
            "#0000FF": "short",
            "#00A000": "spur",
            "#FF8000": "open",
            "#A000A0": "spurious_copper",
        },
    ),
    "thin_cracks": (_thin_cracks, {"#FF0000": "crack", "#0000FF": "pinhole"}),
    "large_parts": (_large_parts, None),
    "tiles": (
        _tiles,
        {
            "#FF0000": "blowhole",
            "#0000FF": "crack",
            "#00A000": "fray",
            "#FF8000": "break",
            "#A000A0": "uneven",
        },
    ),
    "solar_cells": (_solar_cells, None),
    "pcb_scans": (
        _pcb_scans,
        {
            "#FF0000": "open",
            "#0000FF": "short",
            "#00A000": "mousebite",
            "#FF8000": "spur",
            "#A000A0": "spurious_copper",
            "#00A0A0": "pin_hole",
        },
    ),  # new sets go last: a set's place in SETS seeds its pictures
}
GREY_ONLY = (
    "solar_cells",
    "pcb_scans",
)  # sets whose cameras see only grey: their pictures are always saved in grey
BINARISED = ("pcb_scans",)  # sets whose scanner keeps black and white only
MULTI = {
    "texture": (1, 2),
    "boards": (1, 2),
    "thin_cracks": (1, 2),
    "tiles": (1, 2),
    "pcb_scans": (3, 12),
}  # defects per anomalous image


def _binarised(image: Image.Image) -> Image.Image:
    """Black and white at the middle between the picture's dark and bright levels (a dim scan's copper
    edges stay where they are)."""
    grey = np.asarray(image.convert("L"), np.float32)
    cut = (np.percentile(grey, 1) + np.percentile(grey, 99)) / 2
    return Image.fromarray(np.where(grey >= cut, 255, 0).astype(np.uint8)).convert("RGB")


def sample(name: str, index: int, anomalous: bool, seed: int = 0) -> Sample:
    """One picture of set `name`, the same for the same (name, index, anomalous, seed)."""
    make, classes = SETS[name]
    set_id = list(SETS).index(name)
    scene_seq, defect_seq, camera_seq = np.random.SeedSequence([seed, set_id, int(anomalous), index]).spawn(3)
    defect_rng = np.random.default_rng(defect_seq)
    low, high = MULTI.get(name, (1, 1))
    count = int(defect_rng.integers(low, high + 1)) if anomalous else 0
    steps = make(np.random.default_rng(scene_seq), count)  # the scene first, then its defects
    clean, image = _finish(steps[0][1], camera_seq), _finish(steps[-1][1], camera_seq)
    if name in BINARISED:
        clean, image = _binarised(clean), _binarised(image)
    mask = None
    if classes is not None and anomalous:
        colour_of = {name: colour for colour, name in classes.items()}
        painted = np.full(steps[0][1].shape, 255, np.uint8)
        for (_, before), (kind, after) in itertools.pairwise(steps):
            changed = np.abs(after - before).max(axis=2) > 0.03
            painted[changed] = [int(colour_of[kind][i : i + 2], 16) for i in (1, 3, 5)]
        mask = Image.fromarray(painted, "RGB")
    return Sample(image, clean, mask)


def generate(
    name: str,
    out_dir: str | Path,
    seed: int = 0,
    count: int = 30,
    grey: bool = False,
    side: int | None = None,
) -> Path:
    """Write set `name` under out_dir/name (out_dir/name-grey, in grey, with `grey`) with `count` normal
    and `count` anomalous images, reduced to `side` px on the longer side when given; its folder."""
    folder = Path(out_dir) / (f"{name}-grey" if grey else name)
    classes = SETS[name][1]
    for label in ("normal", "anomaly") + (("masks",) if classes else ()):
        (folder / label).mkdir(parents=True, exist_ok=True)

    def reduced(image: Image.Image, resample: Image.Resampling) -> Image.Image:
        if side is None:
            return image
        scale = side / max(image.size)
        return image.resize((round(image.width * scale), round(image.height * scale)), resample)

    def picture(image: Image.Image) -> Image.Image:
        return reduced(image.convert("L") if grey or name in GREY_ONLY else image, Image.Resampling.LANCZOS)

    for index in range(count):
        picture(sample(name, index, False, seed).image).save(folder / "normal" / f"{index:03d}.png")
        anomalous = sample(name, index, True, seed)
        picture(anomalous.image).save(folder / "anomaly" / f"{index:03d}.png")
        if anomalous.mask is not None:
            reduced(anomalous.mask, Image.Resampling.NEAREST).save(folder / "masks" / f"{index:03d}.png")
    if classes:
        (folder / "classes.json").write_text(json.dumps(classes, indent=1) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of: {', '.join(SETS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=30, help="normal and anomalous images per set, each")
    parser.add_argument("--grey", action="store_true", help="save the pictures in grey, under OUT/<set>-grey")
    parser.add_argument("--side", type=int, help="reduce the pictures to this many px on the longer side")
    args = parser.parse_args()
    for name in args.sets.split(","):
        print(generate(name.strip(), args.out, args.seed, args.count, args.grey, args.side))


if __name__ == "__main__":
    main()
