"""Nearest-patch distances: the exported graph, chunked over the memory, and the trainer's numpy copy agree
with a brute-force computation."""

from __future__ import annotations

import numpy as np
import onnxruntime
from onnx import TensorProto, helper

from server.training import graphs
from server.training.memory import Nearest


def brute_force(patches: np.ndarray, memory: np.ndarray) -> np.ndarray:
    return ((patches[:, None, :] - memory[None, :, :]) ** 2).sum(2).min(1)


def nearest_graph(memory: np.ndarray, channels: int) -> onnxruntime.InferenceSession:
    nodes: list = []
    initializers: list = []
    name = graphs._nearest_squared(nodes, initializers, "patches", memory)
    graph = helper.make_graph(
        nodes,
        "nearest",
        [helper.make_tensor_value_info("patches", TensorProto.FLOAT, ["n", channels])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", graphs.OPSET)])
    model.ir_version = graphs.IR_VERSION
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_the_graph_finds_the_nearest_patch_across_memory_chunks(monkeypatch):
    monkeypatch.setattr(graphs, "MEMORY_CHUNK", 64)  # 250 remembered patches: 4 Gemm chunks, the last short
    rng = np.random.default_rng(0)
    memory = rng.normal(size=(250, 12)).astype(np.float32)
    patches = np.concatenate([memory[[3, 100, 249]] + 0.01, rng.normal(size=(40, 12))]).astype(np.float32)
    (found,) = nearest_graph(memory, 12).run(None, {"patches": patches})
    expected = brute_force(patches.astype(np.float64), memory.astype(np.float64))
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-4)
    assert found[:3].max() < 0.01  # a patch next to a remembered one is near it, whichever chunk holds it


def test_the_trainers_numpy_distances_match_the_graphs(monkeypatch):
    monkeypatch.setattr(graphs, "MEMORY_CHUNK", 100)
    rng = np.random.default_rng(1)
    memory = rng.normal(size=(333, 8)).astype(np.float32)
    patches = rng.normal(size=(50, 8)).astype(np.float32)
    (from_graph,) = nearest_graph(memory, 8).run(None, {"patches": patches})
    from_numpy = Nearest(memory, chunk=70).squared(patches)
    np.testing.assert_allclose(from_numpy, from_graph, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(from_numpy, brute_force(patches, memory), rtol=1e-4, atol=1e-4)
