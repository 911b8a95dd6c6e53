"""Where background shows inside a part's hull: a broken disc's missing wedge, and nothing for textures."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from server.inference.part_gap import convex_hull, fill_gaps, gap_at, one_part, otsu, part_gap

SIDE = 240


def photo(draw_part, seed: int = 0, tray_falloff: float = 0.0) -> Image.Image:
    """A grainy dark tray whose top edge may darken (`tray_falloff`), with a part drawn on it."""
    rng = np.random.default_rng(seed)
    tray = 70 + rng.normal(0, 6, (SIDE, SIDE, 3))
    tray[: SIDE // 10] -= tray_falloff
    image = Image.fromarray(np.clip(tray, 0, 255).astype(np.uint8))
    draw_part(ImageDraw.Draw(image))
    return image


def disc(draw: ImageDraw.ImageDraw) -> None:
    draw.ellipse((50, 50, 190, 190), fill=(205, 160, 105))


def bitten_disc(draw: ImageDraw.ImageDraw) -> None:
    disc(draw)
    draw.pieslice((50, 50, 190, 190), -30, 30, fill=(70, 70, 70))  # a wedge gone, on the right


def wedge() -> np.ndarray:
    mask = Image.new("L", (SIDE, SIDE))
    ImageDraw.Draw(mask).pieslice((50, 50, 190, 190), -30, 30, fill=255)
    return np.asarray(mask) > 0


def test_a_missing_wedge_is_the_gap_and_a_whole_disc_has_almost_none():
    gap = part_gap(photo(bitten_disc, tray_falloff=35.0), (SIDE, SIDE)) > 0.5
    truth = wedge()
    overlap = (gap & truth).sum() / (gap | truth).sum()
    assert overlap > 0.6, overlap  # the hull's chord cuts the wedge's round end off
    assert (gap & ~truth).sum() < 0.1 * truth.sum()
    whole = part_gap(photo(disc, tray_falloff=35.0), (SIDE, SIDE))
    assert whole.sum() < 0.05 * truth.sum()


def test_the_gap_comes_at_the_size_asked_for():
    gap = part_gap(photo(bitten_disc), (120, 90))
    assert gap.shape == (90, 120) and gap.dtype == np.float32
    assert set(np.unique(gap)) <= {0.0, 1.0} and gap.any()


def test_a_texture_or_a_bare_tray_has_no_part_and_no_gap():
    rng = np.random.default_rng(3)
    grain = Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8))
    bare = photo(lambda draw: None)
    assert not one_part(grain) and not one_part(bare)
    assert part_gap(bare, (SIDE, SIDE)).sum() == 0


def test_one_part_means_one_piece_ruling_not_many_small_ones():
    def dots(draw: ImageDraw.ImageDraw) -> None:
        for x in range(30, 210, 30):
            for y in range(30, 210, 30):
                draw.ellipse((x, y, x + 8, y + 8), fill=(220, 220, 220))

    assert one_part(photo(disc)) and one_part(photo(bitten_disc))
    assert not one_part(photo(dots))


def test_otsu_cuts_between_two_groups():
    values = np.concatenate([np.full(500, 10), np.full(300, 200)])
    assert 10 <= otsu(values) < 200


def test_the_hull_keeps_only_the_outer_corners():
    square = [(0, 0), (4, 0), (4, 4), (0, 4), (2, 2), (1, 3), (2, 0)]
    assert sorted(convex_hull(square)) == [(0, 0), (0, 4), (4, 0), (4, 4)]


def test_a_speck_has_no_inside():
    speck = photo(lambda draw: draw.rectangle((100, 100, 102, 102), fill=(230, 230, 230)))
    assert part_gap(speck, (SIDE, SIDE)).sum() == 0


def test_plain_grey_and_one_colour_pictures_give_an_empty_map():
    """Whatever DetectAnomalies is sent, the map comes: a picture of one colour, a grey one, one with alpha."""
    plain = Image.new("RGB", (200, 150), (90, 90, 90))
    assert part_gap(plain, (100, 75)).sum() == 0 and not one_part(plain)
    grey = photo(bitten_disc).convert("L")
    assert part_gap(grey, (SIDE, SIDE)).any()
    clear = photo(bitten_disc).convert("RGBA")
    assert np.array_equal(part_gap(clear, (SIDE, SIDE)), part_gap(photo(bitten_disc), (SIDE, SIDE)))


def test_a_painted_piece_takes_the_gap_within_its_own_hull():
    """A mask that paints the missing wedge's edges (what the classifier sees) but not the background
    between them: the piece's convex hull reaches across the gap, so the gap's pixels within it take the
    piece's class; nothing else changes, and a piece whose hull holds no gap fills nothing."""
    picture = photo(bitten_disc)
    gap = part_gap(picture, (SIDE, SIDE)) > 0.5
    truth = wedge()
    # the wedge's edges, a few pixels thick, as the classifier finds them
    edges = Image.new("L", (SIDE, SIDE))
    ImageDraw.Draw(edges).pieslice((50, 50, 190, 190), -30, 30, outline=255, width=4)
    painted = np.where((np.asarray(edges) > 0) & truth, 2, 0).astype(np.uint8)
    filled = fill_gaps(painted, gap)
    before = ((painted > 0) & truth).sum() / ((painted > 0) | truth).sum()
    after = ((filled > 0) & truth).sum() / ((filled > 0) | truth).sum()
    assert after > 0.8 > before + 0.3, (before, after)
    assert set(np.unique(filled)) == {0, 2}  # the piece's own class
    assert not (filled[painted > 0] != painted[painted > 0]).any()  # painted pixels stay as they were
    assert not ((filled != painted) & ~gap).any()  # only gap pixels are added
    far = np.zeros_like(painted)
    far[10:14, 10:40] = 1  # a piece far from the gap: its hull holds none of it
    assert np.array_equal(fill_gaps(far, gap), far)
    assert fill_gaps(np.zeros_like(painted), gap).sum() == 0


def test_pieces_of_two_classes_fill_within_their_own_hulls():
    """Two touching pieces of different classes are two pieces: each fills its own hull's gap pixels (the
    first to reach a pixel keeps it), and a thin line of one class (no inside) fills nothing."""
    gap = np.zeros((40, 60), bool)
    gap[10:30, 5:25] = True
    gap[10:30, 35:55] = True
    painted = np.zeros((40, 60), np.uint8)
    painted[10:30, 5] = 1  # the left gap's left and right edges, class 1
    painted[10:30, 24] = 1
    painted[10, 5:25] = 1
    painted[10:30, 35] = 2  # the right gap's edges, class 2, touching a class-1 column
    painted[10:30, 54] = 2
    painted[29, 35:55] = 2
    painted[10:30, 34] = 1
    filled = fill_gaps(painted, gap)
    assert (filled[12:28, 7:23] == 1).all() and (filled[12:27, 37:53] == 2).all()
    line = np.zeros((40, 60), np.uint8)
    line[20, 5:25] = 1
    assert np.array_equal(fill_gaps(line, gap), line)


def test_a_gap_map_serves_a_mask_drawn_at_another_size():
    """gap_at: the map the graph's gap input took, resized to the mask's size, marks about what part_gap
    marks at that size (the runtime fills the mask's gaps from it rather than work the map out again)."""
    picture = photo(bitten_disc)
    small = part_gap(picture.resize((120, 120), Image.Resampling.BILINEAR), (120, 120))
    resized, own = gap_at(small, (SIDE, SIDE)), part_gap(picture, (SIDE, SIDE)) > 0.5
    assert resized.shape == (SIDE, SIDE) and resized.dtype == bool
    assert (resized & own).sum() > 0.9 * (resized | own).sum()
    assert np.array_equal(gap_at(own.astype(np.float32), (SIDE, SIDE)), own)
