"""Where the part lies in an aligned picture: the cells normal parts cover, holes filled, a cell wider."""

from __future__ import annotations

import numpy as np

from server.training.part_area import cell_cover, filled, part_area, widened


def test_a_cell_is_covered_by_the_share_of_its_pixels_in_the_silhouette():
    silhouette = np.zeros((20, 36), np.uint8)  # 2 x 4 cells of 8 px; the last 4 rows and columns left out
    silhouette[0:8, 0:4] = 1  # half of the first cell
    silhouette[8:16, 24:32] = 1  # all of the last cell of the second row
    silhouette[16:, :] = 1  # beyond the grid
    cover = cell_cover(silhouette, (2, 4))
    np.testing.assert_allclose(cover, [[0.5, 0, 0, 0], [0, 0, 0, 1.0]])


def test_holes_are_filled_and_the_outside_stays_out():
    ring = np.zeros((7, 9), bool)
    ring[1:6, 2:7] = True
    ring[2:5, 3:6] = False  # a hole in the part: a filled hole is a defect, so it belongs to the area
    ring[3, 0:2] = True  # a spur reaching the border does not close anything
    area = filled(ring)
    assert area[2:5, 3:6].all() and area[1:6, 2:7].all()
    assert not area[0].any() and not area[:, 7:].any() and not area[1, 0]


def test_a_gap_open_to_the_outside_is_not_a_hole():
    notched = np.zeros((7, 9), bool)
    notched[1:6, 2:7] = True
    notched[3:6, 4] = False  # a slot reaching the part's edge
    assert not filled(notched)[3:6, 4].any()


def test_the_area_is_widened_by_a_cell_and_one_stray_picture_does_not_count():
    covers = []
    for index in range(20):
        cover = np.zeros((8, 10), np.float32)
        cover[3:5, 4:6] = 1.0  # the part
        if index == 0:
            cover[0, 0] = 0.6  # one photo's background differs in a corner
        covers.append(cover)
    area = part_area(covers)
    assert area.dtype == np.float32
    np.testing.assert_array_equal(area, widened(covers[1] > 0, 1).astype(np.float32))
    assert area[2:6, 3:7].all() and area.sum() == 16 and area[0, 0] == 0
    covers[1][0, 0] = 0.6  # a second photo: a tenth of the parts reach the corner
    assert part_area(covers)[0, 0] == 1


def test_a_cell_barely_touched_by_the_part_is_not_covered():
    covers = [np.full((4, 4), 0.01, np.float32) for _ in range(10)]
    covers[0][1, 1] = covers[1][1, 1] = 0.05
    area = part_area(covers)
    assert area.sum() == 9 and area[1, 1] == 1  # the touched cell and its neighbours


def test_pictures_of_the_bare_background_leave_every_cell_scored():
    assert part_area([np.zeros((4, 5), np.float32)] * 3) is None
    assert part_area([]) is None
