"""Where background shows inside a part's hull: a broken disc's missing wedge, and nothing for textures."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from server.inference.part_gap import convex_hull, one_part, otsu, part_gap

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
