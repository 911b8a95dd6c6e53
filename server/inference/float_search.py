"""A trained model's integer search, turned back into floats for a GPU.

CreateModel's models search a global memory with 8-bit products (DynamicQuantizeLinear over the image's
features, MatMulInteger against the memory's int8 values): about twice the speed of floats on a CPU.
onnxruntime's CUDA provider has no kernel for either with uint8 features (its MatMulInteger takes int8 x
int8 only), so a CUDA session would run the products on the CPU and copy every chunk's
[patches, memory] result to the GPU. There the same search is cheaper in floats: each MatMulInteger
becomes a MatMul of the features as they are with the memory's int8 values as floats (the same
remembered patches, to the bit), and the image's quantization scale becomes 1. The result is the search
without the features' rounding, which the integer search only approximates.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

# Operators that only move values: applied to the float features as they were to the quantized ones.
_LAYOUT = {"Slice", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten"}
_ONE = "float_search_one"


def float_search_model(path: Path) -> bytes | None:
    """The ONNX model at `path` with its dynamically quantized products in floats, serialised; None when
    it has none (or uses them in a way this does not recognise, then it is left as it is)."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception:  # onnx's decode errors; onnxruntime then says what is wrong with the file
        return None
    if not any(node.op_type == "MatMulInteger" for node in model.graph.node):
        return None
    rewritten = in_floats(model)
    return None if rewritten is None else rewritten.SerializeToString()


def in_floats(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """`model` with every MatMulInteger fed by DynamicQuantizeLinear in floats, as a new model; None when
    there is no such product or the quantizer's outputs are used otherwise (the graph would not mean the
    same)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {item.name: item for item in graph.initializer}
    consumers: dict[str, list] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    twin: dict[str, str] = {}  # a quantized tensor -> the float tensor it stands for
    scales: set[str] = set()
    zeros: set[str] = set()
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            twin[node.output[0]] = node.input[0]
            scales.add(node.output[1])
            zeros.add(node.output[2])
    outputs = {item.name for item in graph.output}
    if not twin or outputs & (set(twin) | scales | zeros):
        return None
    nodes, added = [], []
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear":
            continue
        if node.op_type in _LAYOUT and node.input[0] in twin:
            moved = onnx.NodeProto()
            moved.CopyFrom(node)
            moved.input[0] = twin[node.input[0]]
            moved.output[0] = twin[node.output[0]] = f"{node.output[0]}_float"
            nodes.append(moved)
        elif node.op_type == "MatMulInteger" and node.input[0] in twin:
            weights = initializers.get(node.input[1])
            # the product changes from int32 to float: only a Cast to float may read it
            if (
                weights is None
                or len(node.input) < 3
                or node.input[2] not in zeros
                or any(
                    user.op_type != "Cast" or _cast_to(user) != onnx.TensorProto.FLOAT
                    for user in consumers[node.output[0]]
                )
            ):
                return None
            values = numpy_helper.to_array(weights).astype(np.float32)
            if len(node.input) > 3 and node.input[3]:
                if node.input[3] not in initializers:
                    return None
                values = values - numpy_helper.to_array(initializers[node.input[3]]).astype(np.float32)
            added.append(numpy_helper.from_array(values, f"{node.input[1]}_float"))
            nodes.append(
                helper.make_node("MatMul", [twin[node.input[0]], f"{node.input[1]}_float"], list(node.output))
            )
        elif any(name in scales for name in node.input):
            if node.op_type != "Mul":  # the scale is only ever a factor of a product's dequantization
                return None
            scaled = onnx.NodeProto()
            scaled.CopyFrom(node)
            for position, name in enumerate(node.input):
                if name in scales:
                    scaled.input[position] = _ONE
            nodes.append(scaled)
        elif any(name in twin or name in zeros for name in node.input):
            return None  # a quantized value or a zero point read some other way
        else:
            nodes.append(node)
    result = onnx.ModelProto()
    result.CopyFrom(model)
    del result.graph.node[:]
    result.graph.node.extend(_needed(nodes, outputs))
    used = {name for node in result.graph.node for name in node.input}
    kept = [item for item in graph.initializer if item.name in used]
    kept += [item for item in added if item.name in used]
    kept.append(numpy_helper.from_array(np.array(1.0, np.float32), _ONE))
    del result.graph.initializer[:]
    result.graph.initializer.extend(kept)
    del result.graph.value_info[:]  # types of renamed or retyped tensors; onnxruntime infers them again
    return result


def _cast_to(node: onnx.NodeProto) -> int:
    return next((item.i for item in node.attribute if item.name == "to"), -1)


def _needed(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """The nodes that some graph output depends on, in their order."""
    wanted = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(name in wanted for name in node.output):
            kept.append(node)
            wanted.update(name for name in node.input if name)
    return kept[::-1]
