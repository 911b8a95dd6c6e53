"""Tiny ONNX graphs whose outputs are known exactly, and bundles around them.

Pixels are fed as float32 RGB in 0..1, so for a solid colour (r, g, b):
- `red_classifier`: score = mean of the red channel.
- `channel_segmenter`: class 1 where red > 0.5, else class 2 where blue > 0.5, else 0; score = max red.
- `anomalib2_like`: pred_score = mean red, pred_label = score > 0.5, anomaly_map = red, pred_mask = red > 0.5.
- `anomalib1_like`: output = 10 * red (raw space), with metadata mapping 0..10 to 0..1 and 5 to 0.5.
- `detail_segmenter_bundle`: two inputs; score = mean of the input, class scores [0.2, red - 0.2] of every
  pixel of the detail input (so class 1 where the detail's red exceeds 0.4).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
from onnx import TensorProto, helper
from PIL import Image

FORMAT = "lookoutvision-emulator-bundle/1"


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def _split(nodes: list, source: str = "image") -> None:
    nodes.append(helper.make_node("Split", [source], ["r", "g", "b"], axis=1))


def _const(name: str, value: float, kind: int = TensorProto.FLOAT) -> onnx.TensorProto:
    return helper.make_tensor(name, kind, [], [value])


def red_classifier(path: Path, height: int | str = "h", width: int | str = "w", name: str = "image") -> Path:
    nodes: list = []
    _split(nodes, name)
    nodes += [
        helper.make_node("ReduceMean", ["r"], ["mean"], keepdims=0),
        helper.make_node("Reshape", ["mean", "one_shape"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "red_classifier",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])],
        initializer=[helper.make_tensor("one_shape", TensorProto.INT64, [1], [1])],
    )
    return _save(graph, path)


def channel_segmenter(path: Path, height: int | str = "h", width: int | str = "w") -> Path:
    nodes: list = []
    _split(nodes)
    nodes += [
        helper.make_node("Greater", ["r", "half"], ["is_red"]),
        helper.make_node("Greater", ["b", "half"], ["is_blue"]),
        helper.make_node("Cast", ["is_red"], ["red_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["is_blue"], ["blue_f"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["one", "red_f"], ["not_red"]),
        helper.make_node("Mul", ["blue_f", "not_red"], ["only_blue"]),
        helper.make_node("Mul", ["only_blue", "two"], ["blue_class"]),
        helper.make_node("Add", ["red_f", "blue_class"], ["classes_f"]),
        helper.make_node("Cast", ["classes_f"], ["class_map"], to=TensorProto.INT64),
        helper.make_node("ReduceMax", ["r"], ["peak"], keepdims=0),
        helper.make_node("Reshape", ["peak", "one_shape"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "channel_segmenter",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("class_map", TensorProto.INT64, [1, 1, height, width]),
        ],
        initializer=[
            _const("half", 0.5),
            _const("one", 1.0),
            _const("two", 2.0),
            helper.make_tensor("one_shape", TensorProto.INT64, [1], [1]),
        ],
    )
    return _save(graph, path)


def anomalib2_like(path: Path, size: int = 64, with_labels: bool = True) -> Path:
    nodes: list = []
    _split(nodes, "input")
    nodes += [
        helper.make_node("ReduceMean", ["r"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Identity", ["mean"], ["pred_score"]),
        helper.make_node("Identity", ["r"], ["anomaly_map"]),
    ]
    outputs = [
        helper.make_tensor_value_info("pred_score", TensorProto.FLOAT, ["batch"]),
        helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["batch", 1, size, size]),
    ]
    if with_labels:
        nodes += [
            helper.make_node("Greater", ["mean", "half"], ["pred_label"]),
            helper.make_node("Greater", ["r", "half"], ["pred_mask"]),
        ]
        outputs.insert(1, helper.make_tensor_value_info("pred_label", TensorProto.BOOL, ["batch"]))
        outputs.append(helper.make_tensor_value_info("pred_mask", TensorProto.BOOL, ["batch", 1, size, size]))
    graph = helper.make_graph(
        nodes,
        "anomalib2_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        outputs,
        initializer=[_const("half", 0.5)],
    )
    return _save(graph, path)


def anomalib1_like(folder: Path, size: int = 64) -> Path:
    nodes: list = []
    _split(nodes, "input")
    nodes.append(helper.make_node("Mul", ["r", "ten"], ["output"]))
    graph = helper.make_graph(
        nodes,
        "anomalib1_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, size, size])],
        initializer=[_const("ten", 10.0)],
    )
    model = _save(graph, folder / "model.onnx")
    metadata = {"task": "segmentation", "image_threshold": 5.0, "pixel_threshold": 5.0, "pred_scores.min": 0.0,
                "pred_scores.max": 10.0, "anomaly_maps.min": 0.0, "anomaly_maps.max": 10.0}  # fmt: skip
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return model


def classifier_bundle(folder: Path, image_size: tuple[int, int] | None = None, **extra) -> Path:
    red_classifier(folder / "model.onnx")
    description = {"format": FORMAT, "task": "classification", "input": {"name": "image"},
                   "outputs": {"score": "score"}, "threshold": 0.5, **extra}  # fmt: skip
    if image_size:
        description.update(image_width=image_size[0], image_height=image_size[1])
    (folder / "model.json").write_text(json.dumps(description))
    return folder


SEGMENT_CLASSES = [{"name": "scratch", "color": "#ff0000"}, {"name": "dent", "color": "#0000FF"}]


def segmenter_bundle(
    folder: Path, image_size: tuple[int, int], input_size: tuple[int, int] | None = None
) -> Path:
    width, height = input_size or image_size
    channel_segmenter(folder / "model.onnx", height, width)
    description = {
        "format": FORMAT,
        "task": "segmentation",
        "input": {"name": "image", "width": width, "height": height},
        "outputs": {"score": "score", "class_map": "class_map"},
        "image_width": image_size[0],
        "image_height": image_size[1],
        "threshold": 0.5,
        "classes": SEGMENT_CLASSES,
    }
    (folder / "model.json").write_text(json.dumps(description))
    return folder


def detail_segmenter_bundle(
    folder: Path,
    input_size: tuple[int, int],
    detail_size: tuple[int, int],
    image_size: tuple[int, int] | None = None,
) -> Path:
    """A segmentation bundle whose graph reads its class scores from a second input, `detail`, at
    `detail_size` (width, height); its first input is `input_size`."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0),
        helper.make_node("Reshape", ["mean", "shape"], ["score"]),
        helper.make_node("Slice", ["detail", "first", "second", "axis"], ["red"]),
        helper.make_node("Sub", ["red", "cut"], ["lead"]),
        helper.make_node("Sub", ["red", "red"], ["zero"]),
        helper.make_node("Add", ["zero", "cut"], ["normal"]),
        helper.make_node("Concat", ["normal", "lead"], ["class_scores"], axis=1),
    ]
    (width, height), (detail_width, detail_height) = input_size, detail_size
    graph = helper.make_graph(
        nodes, "detail",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width]),
         helper.make_tensor_value_info("detail", TensorProto.FLOAT, [1, 3, detail_height, detail_width])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, [1, 2, detail_height, detail_width])],
        initializer=[helper.make_tensor("shape", TensorProto.INT64, [1], [1]), _const("cut", 0.2),
                     helper.make_tensor("first", TensorProto.INT64, [1], [0]),
                     helper.make_tensor("second", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("axis", TensorProto.INT64, [1], [1])],
    )  # fmt: skip
    _save(graph, folder / "model.onnx")
    description = {
        "format": FORMAT, "task": "segmentation", "input": {"name": "image", "width": width, "height": height},
        "detail_input": {"name": "detail", "width": detail_width, "height": detail_height},
        "outputs": {"score": "score", "class_map": "class_scores"}, "classes": [SEGMENT_CLASSES[0]],
        **({"image_width": image_size[0], "image_height": image_size[1]} if image_size else {}),
    }  # fmt: skip
    (folder / "model.json").write_text(json.dumps(description))
    return folder


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()


def image_bytes(pixels: np.ndarray, kind: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, format=kind, **options)
    return buffer.getvalue()


def solid(width: int, height: int, color: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(color, np.uint8), (height, width, 3)).copy()


def slow_classifier(path: Path, size: int = 192, layers: int = 3, channels: int = 32) -> Path:
    """A few real convolutions (tens of ms per image on one core): to keep inference units busy."""
    rng = np.random.default_rng(0)
    nodes: list = []
    initializers = []
    previous, width = "image", 3
    for index in range(layers):
        weight = rng.normal(0, 0.1, (channels, width, 3, 3)).astype(np.float32)
        initializers.append(onnx.numpy_helper.from_array(weight, f"w{index}"))
        nodes += [
            helper.make_node("Conv", [previous, f"w{index}"], [f"c{index}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{index}"], [f"r{index}"]),
        ]
        previous, width = f"r{index}", channels
    nodes += [
        helper.make_node("ReduceMean", [previous], ["mean"], keepdims=0),
        helper.make_node("Reshape", ["mean", "one_shape"], ["score"]),
    ]
    initializers.append(helper.make_tensor("one_shape", TensorProto.INT64, [1], [1]))
    graph = helper.make_graph(
        nodes,
        "slow_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])],
        initializer=initializers,
    )
    return _save(graph, path)


def slow_bundle(folder: Path, size: int = 192) -> Path:
    slow_classifier(folder / "model.onnx", size=size)
    description = {"format": FORMAT, "task": "classification", "input": {"name": "image", "width": size,
                   "height": size}, "outputs": {"score": "score"}, "threshold": 0.5}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(description))
    return folder
