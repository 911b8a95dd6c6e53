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


def nearest_graph(
    memory: np.ndarray, channels: int, quantized: bool = False, exact: int = 0
) -> onnxruntime.InferenceSession:
    nodes: list = []
    initializers: list = []
    name = graphs._nearest_squared(nodes, initializers, "patches", memory, quantized=quantized, exact=exact)
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


def integer_arithmetic(patches: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """The quantized search's arithmetic in numpy: the patches as ONNX's DynamicQuantizeLinear defines it
    (uint8, one scale, zero point from the range including 0), the memory as graphs.quantized_memory keeps
    it, exact integer products."""
    low, high = min(0.0, float(patches.min())), max(0.0, float(patches.max()))
    scale = np.float32((high - low) / 255)
    zero = np.clip(np.rint(-low / scale), 0, 255)
    quantized = np.clip(np.rint(patches / scale) + zero, 0, 255).astype(np.int64)
    weights, scales = graphs.quantized_memory(memory)
    products = (quantized - int(zero)) @ weights.astype(np.int64)
    bracket = products * (scale * scales.astype(np.float64)) + (memory.astype(np.float64) ** 2).sum(1)
    return bracket.min(1) + (patches.astype(np.float64) ** 2).sum(1)


def test_the_quantized_search_is_the_integer_arithmetic_it_stands_for(monkeypatch):
    monkeypatch.setattr(graphs, "QUANTIZED_CHUNK", 64)  # 250 remembered patches: 4 chunks, the last short
    rng = np.random.default_rng(5)
    memory = rng.normal(size=(250, 24)).astype(np.float32)
    patches = rng.normal(size=(60, 24)).astype(np.float32) * 1.5
    (found,) = nearest_graph(memory, 24, quantized=True).run(None, {"patches": patches})
    np.testing.assert_allclose(found, integer_arithmetic(patches, memory), rtol=1e-5, atol=1e-4)


def test_trailing_channels_kept_exact_are_added_in_floats(monkeypatch):
    """exact: the last channels (each cell's tone) stay out of the integers; their products are added in
    floats, so the bracket is the integers' over the others plus the floats' over them."""
    monkeypatch.setattr(graphs, "QUANTIZED_CHUNK", 64)
    rng = np.random.default_rng(8)
    memory = rng.normal(size=(250, 30)).astype(np.float32)
    patches = rng.normal(size=(60, 30)).astype(np.float32) * 1.5
    (found,) = nearest_graph(memory, 30, quantized=True, exact=6).run(None, {"patches": patches})
    trunk, tone = slice(0, 24), slice(24, 30)
    low, high = min(0.0, float(patches[:, trunk].min())), max(0.0, float(patches[:, trunk].max()))
    scale = np.float32((high - low) / 255)
    zero = np.clip(np.rint(-low / scale), 0, 255)
    quantized = np.clip(np.rint(patches[:, trunk] / scale) + zero, 0, 255).astype(np.int64)
    weights, scales = graphs.quantized_memory(memory[:, trunk])
    bracket = ((quantized - int(zero)) @ weights.astype(np.int64)) * (scale * scales.astype(np.float64))
    bracket += -2.0 * patches[:, tone].astype(np.float64) @ memory[:, tone].T.astype(np.float64)
    bracket += (memory.astype(np.float64) ** 2).sum(1)
    expected = bracket.min(1) + (patches.astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(found, expected, rtol=1e-5, atol=1e-3)


def test_a_wide_ranging_tone_kept_exact_leaves_the_trunks_distances_fine():
    """Features whose last 6 channels (a cell's tone, TONE_WEIGHT times a log ratio) span over ten times
    the trunk's range: one 8-bit scale for all of them moves the nearest distances by several percent and
    loses a near copy; kept in floats, the search stays within a percent, as without tone."""
    rng = np.random.default_rng(9)

    def features(count: int) -> np.ndarray:
        tone = rng.normal(0, 8, (count, 6)) * np.where(rng.random((count, 1)) < 0.02, 15, 1)
        return np.concatenate([rng.gamma(1.5, 0.8, (count, 152)), tone], axis=1).astype(np.float32)

    memory = features(3000)
    near = memory[[7, 1500, 2999]] + rng.normal(scale=0.05, size=(3, 158)).astype(np.float32)
    patches = np.concatenate([near, features(200)]).astype(np.float32)
    exact = np.sqrt(brute_force(patches.astype(np.float64), memory.astype(np.float64)))
    errors = {}
    for kept in (0, 6):
        (found,) = nearest_graph(memory, 158, quantized=True, exact=kept).run(None, {"patches": patches})
        distances = np.sqrt(np.maximum(found, 0))
        errors[kept] = (np.abs(distances - exact)[3:].max() / exact[3:].mean(), distances[:3].max())
    assert errors[6][0] < 0.01 < errors[0][0], errors
    assert errors[6][1] < 0.2 * exact[3:].min()  # the near copies stay near


def test_the_quantized_search_finds_nearly_the_exact_distances():
    """On features like the trunk's (non-negative, skewed, 152 channels), the 8-bit products move the
    nearest distances by well under a percent, and a patch next to a remembered one is still found."""
    rng = np.random.default_rng(6)
    memory = rng.gamma(1.5, 0.8, size=(3000, 152)).astype(np.float32)
    near = memory[[7, 1500, 2999]] + rng.normal(scale=0.05, size=(3, 152)).astype(np.float32)
    patches = np.concatenate([near, rng.gamma(1.5, 0.8, size=(200, 152))]).astype(np.float32)
    (found,) = nearest_graph(memory, 152, quantized=True).run(None, {"patches": patches})
    exact = np.sqrt(brute_force(patches.astype(np.float64), memory.astype(np.float64)))
    distances = np.sqrt(np.maximum(found, 0))
    assert np.abs(distances - exact)[3:].max() < 0.01 * exact[3:].mean()
    assert distances[:3].max() < 0.2 * exact[3:].min()  # the near copies stay near


def test_the_memorys_integers_cannot_overflow_a_16_bit_pair_sum():
    """x86 CPUs without VNNI add each two uint8 x int8 products in 16 bits: the memory's integers stay
    within 63 in magnitude, so that 255 x 63 x 2 fits, whatever the patches (a patch of one large channel,
    one of zeros, one of negative values)."""
    rng = np.random.default_rng(7)
    memory = np.concatenate(
        [rng.gamma(1.5, 0.8, (20, 16)), np.zeros((1, 16)), -rng.gamma(1.5, 3.0, (5, 16)), np.eye(16)[:2] * 40]
    ).astype(np.float32)
    weights, scales = graphs.quantized_memory(memory)
    assert weights.dtype == np.int8 and np.abs(weights.astype(int)).max() == graphs.WEIGHT_LEVELS
    assert np.iinfo(np.int16).max >= 255 * graphs.WEIGHT_LEVELS * 2  # two products of a pair, at worst
    np.testing.assert_allclose(weights.T * scales[:, None], -2 * memory, atol=scales.max() / 2 + 1e-6)
