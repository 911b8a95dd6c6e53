"""The segmentation's pieces: masks to class indices, cells' classes, and the logistic regression."""

from __future__ import annotations

import numpy as np
from PIL import Image

from server.training.samples import Sample
from server.training.segmentation import cell_classes, fit_logistic, mask_classes


def test_mask_colours_become_class_indices_and_unknown_colours_background(tmp_path):
    mask = np.full((8, 8, 3), 255, dtype=np.uint8)
    mask[0:2, 0:2] = (255, 0, 0)
    mask[4:6, 4:8] = (0, 0, 255)
    mask[7, 7] = (0, 255, 0)  # a colour no class has
    Image.fromarray(mask).save(tmp_path / "mask.png")
    sample = Sample(str(tmp_path / "image.png"), "anomaly", "s3://b/k", str(tmp_path / "mask.png"),
                    {"#FFFFFF": "BACKGROUND", "#FF0000": "scratch", "#0000FF": "spot"})  # fmt: skip
    classes = mask_classes(sample, [("spot", "#0000FF"), ("scratch", "#FF0000")], (8, 8))
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[0:2, 0:2] = 2
    expected[4:6, 4:8] = 1
    np.testing.assert_array_equal(classes, expected)


def test_a_cell_takes_the_class_covering_most_of_it_from_a_quarter():
    truth = np.zeros((4, 12), dtype=np.uint8)
    truth[:, 0:4] = 1  # a full cell of class 1
    truth[0, 4:8] = 2  # a quarter of a cell: enough
    truth[0, 8:11] = 2  # three sixteenths: background
    np.testing.assert_array_equal(cell_classes(truth, 3, cell=4), [1, 2, 0])


def test_logistic_regression_separates_classes_and_folds_the_scaling_in():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 100.0], [5.0, 0.0, 100.0], [0.0, 5.0, 100.0]])
    targets = rng.integers(0, 3, 3000)
    features = (centres[targets] + rng.normal(size=(3000, 3)) * [1.0, 1.0, 30.0]).astype(np.float32)
    weights, bias = fit_logistic(features, targets, 3, balance=0.0)
    predicted = (features @ weights.T + bias).argmax(1)  # raw features: the standardisation is folded in
    assert (predicted == targets).mean() > 0.9


def test_class_weights_favour_a_rare_class_when_balancing():
    rng = np.random.default_rng(1)
    targets = (rng.random(20_000) < 0.03).astype(np.int64)
    features = (targets[:, None] * 1.0 + rng.normal(size=(20_000, 1))).astype(np.float32)
    plain = fit_logistic(features, targets, 2, balance=0.0)
    balanced = fit_logistic(features, targets, 2, balance=1.0)

    def flagged(head) -> float:
        weights, bias = head
        return float(((features @ weights.T + bias).argmax(1) == 1).mean())

    assert flagged(balanced) > 2 * flagged(plain)
