from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from server.inference.bundle import Normalization, parse_description
from server.inference.masks import AnomalyArea, anomalies, best_class, class_labels, mask_png
from server.inference.runtime import ModelRunner, confidence, normalise
from tests.support.onnx_models import red_classifier


@pytest.mark.parametrize(
    ("score", "threshold", "anomalous", "expected"),
    [(0.5, 0.5, True, 0.5), (1.0, 0.5, True, 1.0), (0.0, 0.5, False, 1.0), (0.75, 0.5, True, 0.75),
     (0.2, 0.4, False, 0.75), (0.3, 0.5, True, 0.5), (7.0, 0.5, True, 1.0)],
)  # fmt: skip
def test_confidence_is_in_the_decision(score, threshold, anomalous, expected):
    assert confidence(score, threshold, anomalous) == pytest.approx(expected)


def test_anomalib_normalisation():
    stats = Normalization(threshold=5.0, minimum=0.0, maximum=10.0)
    assert normalise(5.0, stats) == pytest.approx(0.5)
    assert normalise(np.array([-20.0, 2.5, 50.0]), stats).tolist() == pytest.approx([0.0, 0.25, 1.0])
    assert normalise(3.0, None) == 3.0


def test_runner_bgr_uint8_nhwc_inputs(tmp_path):
    """The description's layout, colour order and dtype reach the graph as declared."""
    from onnx import TensorProto, helper

    from tests.support.onnx_models import _save

    # NHWC uint8 input; score = mean of channel 0 (blue in BGR order) / 255.
    nodes = [
        helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Split", ["f"], ["c0", "c1", "c2"], axis=3),
        helper.make_node("ReduceMean", ["c0"], ["m"], keepdims=0),
        helper.make_node("Div", ["m", "scale"], ["d"]),
        helper.make_node("Reshape", ["d", "shape"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "bgr", [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, "h", "w", 3])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])],
        initializer=[helper.make_tensor("scale", TensorProto.FLOAT, [], [255.0]),
                     helper.make_tensor("shape", TensorProto.INT64, [1], [1])],
    )  # fmt: skip
    _save(graph, tmp_path / "model.onnx")
    spec = {"name": "image", "layout": "NHWC", "color_order": "BGR", "dtype": "uint8"}
    description = parse_description({"task": "classification", "input": spec, "outputs": {"score": "score"}})
    runner = ModelRunner(tmp_path, description)
    prediction = runner.predict(Image.new("RGB", (70, 70), (10, 20, 204)))
    assert prediction.score == pytest.approx(0.8) and prediction.is_anomalous


@pytest.mark.parametrize(
    "spec",
    [{"layout": "NCHW", "color_order": "RGB", "scale": 1.0, "mean": [127, 127, 127], "std": [128, 128, 128]},
     {"layout": "NHWC", "color_order": "BGR", "scale": 255.0, "mean": [0.485, 0.456, 0.406],
      "std": [0.229, 0.224, 0.225]},
     {"layout": "NCHW", "color_order": "BGR", "scale": 255.0},
     {"layout": "NHWC", "color_order": "RGB", "dtype": "uint8"}],
)  # fmt: skip
def test_the_input_tensor_is_the_arithmetic_on_the_pixels(tmp_path, spec):
    """Each channel goes through a table of its 256 values: the numbers the float32 arithmetic on the whole
    picture gives, in the declared layout and colour order (and grey pictures as RGB)."""
    red_classifier(tmp_path / "model.onnx")
    description = parse_description({"task": "classification", "input": {"name": "image", **spec},
                                     "outputs": {"score": "score"}})  # fmt: skip
    runner = ModelRunner(tmp_path, description)
    pixels = np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    for picture, rgb in (
        (Image.fromarray(pixels), pixels),
        (Image.fromarray(pixels[:, :, 0]), pixels[:, :, [0] * 3]),
    ):
        ordered = rgb[:, :, ::-1] if spec["color_order"] == "BGR" else rgb
        if spec.get("dtype") == "uint8":
            expected = ordered
        else:
            mean = np.asarray(spec.get("mean", [0, 0, 0]), np.float32)
            std = np.asarray(spec.get("std", [1, 1, 1]), np.float32)
            expected = (ordered.astype(np.float32) / np.float32(spec["scale"]) - mean) / std
        expected = expected.transpose(2, 0, 1) if spec["layout"] == "NCHW" else expected
        tensor = runner._tensor(picture)
        assert tensor.dtype == expected.dtype and tensor.shape == (1, *expected.shape)
        assert np.array_equal(tensor[0], expected)


def test_runner_resizes_to_a_fixed_input(tmp_path):
    red_classifier(tmp_path / "model.onnx", height=16, width=16)
    description = parse_description({"task": "classification", "input": {"name": "image", "width": 16, "height": 16},
                                     "outputs": {"score": "score"}})  # fmt: skip
    prediction = ModelRunner(tmp_path, description).predict(Image.new("RGB", (300, 200), (51, 0, 0)))
    assert prediction.score == pytest.approx(0.2, abs=1e-3) and not prediction.is_anomalous


def test_a_detail_input_gets_the_picture_at_its_own_size(tmp_path):
    """A bundle with a detail input: the runner feeds the picture at the input's size and again at the
    detail's, both through the input's arithmetic; the class map comes from the detail (here: red pixels)."""
    from server.inference.bundle import read_bundle
    from tests.support.onnx_models import detail_segmenter_bundle

    folder = detail_segmenter_bundle(tmp_path, input_size=(8, 8), detail_size=(40, 40))
    runner = ModelRunner(folder, read_bundle(folder))
    picture = Image.new("RGB", (80, 80), (0, 0, 0))
    picture.paste(
        (255, 0, 0), (10, 10, 12, 70)
    )  # a line 2 pixels wide: 1 at the detail's size, 0.2 at the input's
    feeds = runner.feeds(picture)
    assert feeds["image"].shape == (1, 3, 8, 8) and feeds["detail"].shape == (1, 3, 40, 40)
    resized = picture.resize((40, 40), Image.Resampling.BILINEAR)
    assert np.array_equal(feeds["detail"], runner._tensor(resized, (40, 40)))
    prediction = runner.predict(picture)
    columns = np.flatnonzero(prediction.class_map[40] == 1)
    assert prediction.class_map.shape == (80, 80) and 1 <= len(columns) <= 4 and 9 <= columns.min() <= 12


def test_a_bundle_that_reduces_its_pictures_sees_them_reduced_and_draws_at_their_own_size(tmp_path):
    """reduce_to: the picture is reduced (inference.images.reduced) before it is resized to the inputs, as
    the trainer reads its pictures; the class map is drawn at the picture's own size all the same."""
    import json

    from server.inference.bundle import read_bundle
    from server.inference.images import reduced
    from tests.support.onnx_models import detail_segmenter_bundle

    folder = detail_segmenter_bundle(tmp_path, input_size=(8, 8), detail_size=(40, 40))
    plain = ModelRunner(folder, read_bundle(folder))
    description = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**description, "reduce_to": 40}))
    runner = ModelRunner(folder, read_bundle(folder))
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 40, (200, 200, 3), dtype=np.uint8))  # dark: no class
    picture.paste((255, 0, 0), (50, 20, 60, 180))  # a line 10 pixels wide: 2 at the detail's size
    shrunk = reduced(picture, 40)
    assert shrunk.size == (40, 40)  # reduced by 5, not resized
    for name, tensor in runner.feeds(shrunk).items():
        assert not np.array_equal(tensor, plain.feeds(picture)[name]), name  # the two ways differ here
    prediction, expected = runner.predict(picture), plain.predict(shrunk)
    assert prediction.score == pytest.approx(expected.score, abs=1e-6)
    columns = np.flatnonzero(prediction.class_map[100] == 1)
    assert prediction.class_map.shape == (200, 200) and 48 <= columns.min() <= columns.max() <= 62


def test_masks_and_areas():
    from server.inference.bundle import AnomalyClass

    classes = (AnomalyClass("a", "#010203"), AnomalyClass("b", "#0A0B0C"))
    labels = np.zeros((4, 5), np.uint8)
    labels[0, :] = 2
    entries = anomalies(labels, classes)
    assert entries == [AnomalyArea("background", 0.75, "#FFFFFF"), AnomalyArea("b", 0.25, "#0A0B0C")]
    import io

    image = np.asarray(Image.open(io.BytesIO(mask_png(labels, classes))))
    assert image.shape == (4, 5, 3)
    assert (image[0] == (10, 11, 12)).all() and (image[1:] == 255).all()
    # a mask without anomalies: white, of its own size (encoded once per size)
    for size in ((4, 5), (7, 3), (4, 5)):
        image = Image.open(io.BytesIO(mask_png(np.zeros(size, np.uint8), classes)))
        assert image.mode == "RGB" and image.size == size[::-1] and (np.asarray(image) == 255).all()


def test_class_scores_are_resized_before_the_best_class_is_picked():
    """A diagonal edge between background and class 1, scored at 16 x 16 and drawn at 80 x 80: resizing
    the scores puts the edge where it lies; resizing the picked classes would draw a staircase of 5-pixel
    steps (what thin defects lose most to)."""
    cells = np.arange(16, dtype=np.float32)
    scores = np.stack([np.zeros((16, 16), np.float32), cells[:, None] + cells[None, :] - 15.3])
    labels = class_labels(scores, (80, 80))
    assert labels.shape == (80, 80) and labels.dtype == np.uint8
    at = (np.arange(80) + 0.5) / 5 - 0.5  # where each drawn pixel falls among the cells
    ideal = (at[:, None] + at[None, :] - 15.3 > 0).astype(np.uint8)
    inner = np.s_[3:-3, 3:-3]  # the edge rows and columns repeat the outer cells
    assert (labels[inner] == ideal[inner]).mean() > 0.995
    staircase = np.kron(scores.argmax(axis=0), np.ones((5, 5), np.uint8))
    assert (staircase[inner] != ideal[inner]).sum() > 50
    # several classes: each plane resized and the best one picked; at the scores' own size, the best one
    third = np.where(cells[:, None] < 4, 20.0, -20.0) * np.ones((16, 16), np.float32)
    three = np.concatenate([scores, third[None]])
    labels = class_labels(three, (80, 80))
    assert (labels[:15] == 2).all() and (labels[inner][20:] == ideal[inner][20:]).mean() > 0.995
    assert (class_labels(three, (16, 16)) == three.argmax(axis=0)).all()
    normal = np.stack([np.ones((16, 16), np.float32), np.zeros((16, 16), np.float32)])
    assert class_labels(normal, (80, 60)).shape == (60, 80) and not class_labels(normal, (80, 60)).any()


@pytest.mark.parametrize("seed", range(4))
def test_only_the_pixels_near_a_defect_are_resized(seed):
    """Pixels far from every cell where another class than the most common one wins take that class
    without their scores being resized; the map is the one of resizing every plane, growing or shrinking,
    for defects anywhere (at the border too) and for maps where no class is rare."""
    rng = np.random.default_rng(seed)
    for _ in range(25):
        count, (height, width), (tall, wide) = (
            rng.integers(2, 5),
            rng.integers(6, 90, 2),
            rng.integers(4, 300, 2),
        )
        scores = np.zeros((count, height, width), np.float32)
        scores[0] = 1.0
        rows, cols = np.ogrid[:height, :width]
        for _ in range(rng.integers(1, 4)):
            row, col, reach = rng.integers(0, height), rng.integers(0, width), rng.integers(1, 6)
            scores[rng.integers(1, count)] += 2.5 * np.exp(
                -((rows - row) ** 2 + (cols - col) ** 2) / reach**2
            )
        if rng.random() < 0.2:  # no class rare: the whole map is resized
            scores = rng.normal(size=scores.shape).astype(np.float32)
        scores += rng.normal(0, 0.05, scores.shape).astype(np.float32)
        size = (int(wide), int(tall))
        planes = [Image.fromarray(plane, "F").resize(size, Image.Resampling.BILINEAR) for plane in scores]
        expected = np.stack([np.asarray(plane) for plane in planes]).argmax(axis=0)
        assert (class_labels(scores, size) == expected).all()


def test_worker_threads_stop_spinning_when_a_run_ends():
    """onnxruntime's intra-op threads would otherwise spin for about 40 ms after each run, taking a core
    from the event loop and the mask encoding (measured: 43 ms of CPU in the 200 ms after a run)."""
    import threading
    import time

    import onnxruntime
    from onnx import TensorProto, helper

    from server.inference.runtime import session_options

    # A convolution big enough to be split over the 2 intra-op threads.
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
        "spin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 128, 128])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 128, 128])],
        initializer=[
            helper.make_tensor("w", TensorProto.FLOAT, [16, 16, 3, 3], np.ones(16 * 16 * 9).tolist())
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), session_options(2), providers=["CPUExecutionProvider"]
    )
    x = np.ones((1, 16, 128, 128), dtype=np.float32)
    burned = []
    for _ in range(5):
        session.run(None, {"x": x})
        before = time.process_time()
        threading.Event().wait(0.1)
        burned.append(time.process_time() - before)
    assert min(burned) < 0.01, burned


@pytest.mark.parametrize("classes", [1, 2, 6])
def test_the_best_class_is_numpys_argmax_ties_included(classes):
    scores = np.random.default_rng(classes).integers(0, 4, (classes, 37, 41)).astype(np.float32)  # many ties
    assert np.array_equal(best_class(scores), scores.argmax(axis=0))


def test_a_bundle_that_fills_part_gaps_paints_the_gap_within_each_pieces_hull(tmp_path):
    """fill_part_gaps: the class map's pieces take the background inside their own hull where it lies inside
    the part's hull (part_gap); a bundle without a gap input has the map worked out at the mask's size.
    The graph paints red pixels: the rims along a wedge cut out of a blue disc."""
    import json

    from PIL import ImageDraw

    from server.inference.bundle import read_bundle
    from server.inference.part_gap import part_gap
    from tests.support.onnx_models import detail_segmenter_bundle

    folder = detail_segmenter_bundle(tmp_path, input_size=(8, 8), detail_size=(160, 160))
    plain = ModelRunner(folder, read_bundle(folder))
    description = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**description, "fill_part_gaps": True}))
    runner = ModelRunner(folder, read_bundle(folder))
    picture = Image.new("RGB", (160, 160), (40, 40, 40))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((20, 20, 140, 140), fill=(0, 0, 200))
    draw.pieslice((20, 20, 140, 140), -30, 30, fill=(220, 0, 0))  # the wedge with its rims...
    draw.pieslice((26, 26, 134, 134), -22, 22, fill=(40, 40, 40))  # ...its inside gone: background
    rims = plain.predict(picture).class_map == 1
    filled = runner.predict(picture).class_map == 1
    gap = part_gap(picture, (160, 160)) > 0.5
    assert rims.any() and not (rims & gap).any()  # the graph paints the rims, not the gap between them
    assert not (rims & ~filled).any() and not (filled & ~rims & ~gap).any()  # the fill adds gap pixels only
    assert (filled & gap).sum() > 0.6 * gap.sum(), ((filled & gap).sum(), gap.sum())
