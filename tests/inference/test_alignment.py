from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from server.inference.alignment import (
    Alignment,
    Placement,
    align,
    centre,
    from_json,
    largest_piece,
    locate,
    own_background,
    part_window,
    plain_background,
    reference_for,
    silhouette,
    to_json,
    transform,
)


def part(angle: float = 0.0, shift: tuple[int, int] = (0, 0)) -> Image.Image:
    """An L-shaped part on white: asymmetric, so its rotation is well defined."""
    image = Image.new("RGB", (200, 160), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((70, 40, 90, 120), fill=(30, 140, 40))
    draw.rectangle((70, 100, 140, 120), fill=(30, 140, 40))
    turned = image.rotate(angle, resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    return turned.transform(
        turned.size, Image.AFFINE, (1, 0, -shift[0], 0, 1, -shift[1]), fillcolor=(255, 255, 255)
    )


@pytest.fixture
def alignment() -> Alignment:
    background = plain_background([part(), part(10)])
    assert background == (255, 255, 255)
    return Alignment(background, 40.0, reference_for(part(), background, 40.0))


@pytest.mark.parametrize("angle", [0, 37, 90, 181, 300])
def test_rotation_is_found(alignment, angle):
    found = locate(part(angle, (8, -5)), alignment).angle
    assert min(abs(found - angle), 360 - abs(found - angle)) <= 4


def test_aligned_parts_look_alike_and_masks_go_back(alignment):
    upright = np.asarray(transform(part(), locate(part(), alignment), (255, 255, 255), Image.BILINEAR))
    turned_image = part(120, (10, 6))
    placement = locate(turned_image, alignment)
    realigned = np.asarray(transform(turned_image, placement, (255, 255, 255), Image.BILINEAR))
    dark = (upright.min(axis=2) < 128) & (realigned.min(axis=2) < 128)
    assert dark.sum() / max((upright.min(axis=2) < 128).sum(), 1) > 0.8  # the same pixels are the part
    mask = Image.new("L", turned_image.size, 0)
    back = transform(transform(mask.point(lambda _: 1), placement, 0, Image.NEAREST), placement, 0, Image.NEAREST,
                     inverse=True)  # fmt: skip
    assert np.asarray(back)[80, 100] == 1


def test_no_alignment_without_a_plain_background():
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (160, 200, 3), dtype=np.uint8))
    assert plain_background([noisy]) is None


def test_largest_piece_counts_connected_pixels():
    mask = np.zeros((10, 12), bool)
    mask[1:4, 1:4] = True  # 9 pixels
    mask[6:9, 5:11] = True  # 18 pixels
    mask[5, 0] = True  # 1 pixel, touching the others only at a corner
    assert largest_piece(mask) == pytest.approx(18 / 28)
    mask[4:6, 2] = True  # joins the first square to the lone pixel's neighbour: still three pieces
    assert largest_piece(mask) == pytest.approx(18 / 30)
    assert largest_piece(np.zeros((4, 4), bool)) == 0.0


def test_no_alignment_for_a_pattern_of_many_pieces():
    """Traces and pads on a plain board: every border is plain and the copper covers a fair share, but it
    is many pieces, not one part whose silhouette says how it lies."""
    board = Image.new("RGB", (200, 160), (20, 90, 40))
    draw = ImageDraw.Draw(board)
    for row in range(6):
        for col in range(8):
            draw.rectangle((20 + 21 * col, 20 + 21 * row, 32 + 21 * col, 30 + 21 * row), fill=(200, 170, 90))
    assert plain_background([board]) is None
    assert plain_background([part()]) == (255, 255, 255)


def test_round_trip_through_json(alignment):
    again = from_json(to_json(alignment))
    assert again.background == alignment.background and np.array_equal(again.reference, alignment.reference)
    assert locate(part(45), again) == locate(part(45), alignment)
    assert isinstance(locate(part(45), again), Placement)
    assert again.window is None
    windowed = replace(alignment, window=(120, 96))
    assert from_json(to_json(windowed)).window == (120, 96)


def dark(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L")) < 128


def test_a_small_part_is_seen_through_a_window_that_holds_it_upright(alignment):
    """Parts that leave most of the frame empty are seen through a window around them: the smallest that
    holds each normal part upright, with room to spare, and every pixel of the part comes back where it was."""
    photos = [
        part(angle, shift) for angle, shift in ((0, (0, 0)), (70, (9, -6)), (200, (-8, 5)), (305, (4, 9)))
    ]
    window = part_window(photos, alignment)
    assert window is not None
    width, height = window
    assert width < 200 * 0.8 and height < 160 * 0.9  # the L is 71 x 81 pixels
    # the L reaches 46.5 px sideways and 51.5 px up from its centre (93.5, 91.5), upright: twice that
    # and the margin, give or take the turned silhouettes' edges (107 x 118)
    assert 2 * 46.5 * 1.1 <= width <= 2 * 46.5 * 1.1 + 8 and 2 * 51.5 * 1.1 <= height <= 2 * 51.5 * 1.1 + 8
    # where the network would see it without a resize, its sides are the network's multiples of 32
    stepped = part_window(photos, alignment, working=320)
    assert stepped == (-(-width // 32) * 32, -(-height // 32) * 32)
    assert part_window(photos, alignment, working=96) == window  # it would be resized anyway: kept tight
    upright = replace(alignment, window=window)
    for photo in [*photos, part(133, (-10, -10))]:
        aligned, placement = align(photo, upright)
        assert aligned.size == window and placement.window == window
        inside = dark(aligned)
        assert inside.sum() >= 0.97 * dark(photo).sum()  # the whole part is in the window...
        assert not inside[[0, -1]].any() and not inside[:, [0, -1]].any()  # ...with room to spare
        back = transform(aligned.convert("L"), placement, 255, Image.NEAREST, inverse=True, size=photo.size)
        assert back.size == photo.size
        assert (dark(back) & dark(photo)).sum() >= 0.9 * dark(photo).sum()


def test_no_window_for_a_part_filling_the_frame():
    photos = [large_part(0, 250), large_part(20, 200), large_part(200, 170)]
    background = plain_background(photos)
    first = photos[0]
    assert background is not None
    alignment = Alignment(background, 40.0, reference_for(first, own_background(first, background), 40.0))
    assert part_window(photos, alignment) is None


def large_part(angle: float, light: int) -> Image.Image:
    """A part filling about three quarters of the frame, on a plain background whose brightness changes
    from photo to photo (the lamp, the exposure)."""
    image = Image.new("RGB", (200, 200), (light, light, light))
    ImageDraw.Draw(image).polygon([(22, 30), (178, 22), (170, 178), (30, 170), (20, 100)], fill=(40, 60, 150))
    ImageDraw.Draw(image).rectangle((60, 60, 90, 90), fill=(200, 40, 40))  # so the rotation is defined
    return image.rotate(angle, resample=Image.BILINEAR, fillcolor=(light, light, light))


def test_large_parts_under_changing_light_still_align():
    photos = [large_part(0, 250), large_part(20, 200), large_part(200, 170)]
    background = plain_background(photos)
    assert background is not None  # one shared colour would fail: the borders differ by up to 80
    first = photos[0]
    alignment = Alignment(background, 40.0, reference_for(first, own_background(first, background), 40.0))
    aligned, placement = align(large_part(120, 185), alignment)
    assert min(abs(placement.angle - 120), 360 - abs(placement.angle - 120)) <= 4
    # the corners the turn uncovered take this photo's own background, not the typical one
    assert np.asarray(aligned)[1, 1].tolist() == [185, 185, 185]


@pytest.mark.parametrize("seed", range(3))
def test_the_silhouette_and_its_centre_are_the_arithmetic_ones(seed):
    """The tables give what the per-pixel arithmetic gives (some channel beyond the tolerance, in either
    direction, at the very edge of it too), and the centre is the mean of the silhouette's coordinates."""
    rng = np.random.default_rng(seed)
    background = tuple(int(value) for value in rng.integers(0, 256, 3))
    pixels = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
    pixels[:5] = np.clip(np.array(background) + rng.integers(-41, 42, (5, 53, 3)), 0, 255)  # near the edge
    tolerance = float(rng.choice([0.0, 40.0, 40.5, 100.0]))
    mask = silhouette(Image.fromarray(pixels), background, tolerance)
    expected = (np.abs(pixels.astype(int) - np.array(background)).max(axis=2) > tolerance).astype(np.float32)
    assert mask.dtype == np.float32 and np.array_equal(mask, expected)
    rows, cols = np.nonzero(expected)
    assert centre(expected) == (cols.mean(), rows.mean())
