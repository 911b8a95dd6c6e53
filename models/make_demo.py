"""Build the demo bundles in server/demo_models/ (run: python models/make_demo.py; needs the `onnx` package).

They live inside the `server` package so that a wheel ships them as package data.

Both models look for coloured marks on a grey part, which makes them easy to try with a drawn image:
- classification: a part is anomalous when an 8x8 patch is clearly red;
- segmentation: red marks are `scratch`, blue marks are `spot`.
They take 128x128 inputs, so images of any size (64 to 4096 px) work.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

HERE = Path(__file__).resolve().parents[1] / "server" / "demo_models"
SIZE = 128
OPSET = 13
IR_VERSION = 8  # loads in every onnxruntime the project supports


def _constant(name: str, value: float) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor(name, TensorProto.FLOAT, [], [value])
    )


def _excess(nodes: list, main: str, others: tuple[str, str], out: str) -> None:
    """out = relu(main - (other1 + other2) / 2): how much one channel stands out."""
    nodes += [
        helper.make_node("Add", list(others), [f"{out}_sum"]),
        helper.make_node("Mul", [f"{out}_sum", "half"], [f"{out}_mean"]),
        helper.make_node("Sub", [main, f"{out}_mean"], [f"{out}_diff"]),
        helper.make_node("Relu", [f"{out}_diff"], [out]),
    ]


def _common(nodes: list) -> None:
    nodes += [
        _constant("half", 0.5),
        helper.make_node("Split", ["image"], ["r", "g", "b"], axis=1),
    ]


def _score(nodes: list, peak: str, gain: float) -> None:
    """score [1] = clip(peak * gain, 0, 1)."""
    nodes += [
        _constant("gain", gain),
        helper.make_node("Mul", [peak, "gain"], ["scaled"]),
        _constant("zero", 0.0),
        _constant("one", 1.0),
        helper.make_node("Clip", ["scaled", "zero", "one"], ["clipped"]),
        helper.make_node("Reshape", ["clipped", "shape1"], ["score"]),
    ]


def _save(graph: onnx.GraphProto, folder: Path, description: dict) -> None:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_demo"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "model.json").write_text(json.dumps(description, indent=2) + "\n")


def _input_spec() -> dict:
    return {"name": "image", "layout": "NCHW", "width": SIZE, "height": SIZE, "color_order": "RGB",
            "dtype": "float32", "scale": 255.0}  # fmt: skip


def classification() -> None:
    nodes: list = []
    _common(nodes)
    _excess(nodes, "r", ("g", "b"), "redness")
    nodes += [
        helper.make_node("AveragePool", ["redness"], ["patches"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("ReduceMax", ["patches"], ["peak"], keepdims=0),
    ]
    _score(nodes, "peak", 4.0)
    graph = helper.make_graph(
        nodes,
        "demo_classification",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])],
        initializer=[helper.make_tensor("shape1", TensorProto.INT64, [1], [1])],
    )
    _save(graph, HERE / "classification", {
        "format": "lookoutvision-emulator-bundle/1",
        "task": "classification",
        "input": _input_spec(),
        "outputs": {"score": "score"},
        "threshold": 0.5,
        "classes": [],
        "source": "bundle",
    })  # fmt: skip


def segmentation() -> None:
    nodes: list = []
    _common(nodes)
    _excess(nodes, "r", ("g", "b"), "redness")
    _excess(nodes, "b", ("r", "g"), "blueness")
    nodes += [
        _constant("floor", 0.3),  # a mark must stand out by 0.3 to beat the background
        helper.make_node("Mul", ["redness", "zero_c"], ["zeros"]),
        helper.make_node("Add", ["zeros", "floor"], ["background"]),
        helper.make_node("Concat", ["background", "redness", "blueness"], ["class_scores"], axis=1),
        helper.make_node("Max", ["redness", "blueness"], ["marks"]),
        helper.make_node("ReduceMax", ["marks"], ["peak"], keepdims=0),
    ]
    _score(nodes, "peak", 1.0 / 0.6)
    graph = helper.make_graph(
        nodes,
        "demo_segmentation",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, [1, 3, SIZE, SIZE]),
        ],
        initializer=[
            helper.make_tensor("shape1", TensorProto.INT64, [1], [1]),
            helper.make_tensor("zero_c", TensorProto.FLOAT, [], [0.0]),
        ],
    )
    _save(graph, HERE / "segmentation", {
        "format": "lookoutvision-emulator-bundle/1",
        "task": "segmentation",
        "input": _input_spec(),
        "outputs": {"score": "score", "class_map": "class_scores"},
        "threshold": 0.5,
        "classes": [{"name": "scratch", "color": "#D62728"}, {"name": "spot", "color": "#1F77B4"}],
        "source": "bundle",
    })  # fmt: skip


if __name__ == "__main__":
    classification()
    segmentation()
    print(f"wrote {HERE}/classification and {HERE}/segmentation")
