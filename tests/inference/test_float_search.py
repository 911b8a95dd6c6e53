from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from server.inference.float_search import float_search_model, in_floats
from server.training.graphs import QUANTIZED_CHUNK, nearest_graph, quantized_memory
from server.training.samples import cpu_session

INTEGER_OPS = {"MatMulInteger", "DynamicQuantizeLinear"}


def _ops(model) -> set[str]:
    return {node.op_type for node in model.graph.node}


@pytest.mark.parametrize("exact", [0, 6])
def test_the_integer_search_in_floats_is_the_search_of_the_stored_memory(exact):
    """Each chunk's minimum of |m|^2 - 2 p.m, with -2 m as the int8 values and scales store it and p as it
    comes (not rounded to uint8): numpy's answer to float precision, and the integer graph's within its
    rounding of the features; with the last `exact` channels (each cell's tone) in floats beside them."""
    rng = np.random.default_rng(3)
    memory = rng.normal(1.0, 2.0, (2 * QUANTIZED_CHUNK + 37, 24)).astype(np.float32)
    bounds = [0, QUANTIZED_CHUNK, 2 * QUANTIZED_CHUNK, len(memory)]
    integers = nearest_graph(memory, bounds, exact)
    floats = in_floats(integers)
    assert floats is not None
    assert _ops(integers) >= INTEGER_OPS and not INTEGER_OPS & _ops(floats)
    patches = rng.normal(1.0, 2.0, (300, 24)).astype(np.float32)
    (found,) = cpu_session(floats.SerializeToString()).run(["minima"], {"patches": patches})
    (rounded,) = cpu_session(integers.SerializeToString()).run(["minima"], {"patches": patches})
    for chunk, (start, end) in enumerate(itertools.pairwise(bounds)):
        part = memory[start:end].astype(np.float64)
        weights, scales = quantized_memory(memory[start:end, : 24 - exact])
        stored = weights.astype(np.float64) * scales.astype(np.float64)  # -2 m^T as the graph holds it
        stored = np.concatenate([stored, -2.0 * part[:, 24 - exact :].T])  # the exact channels as they are
        expected = ((part**2).sum(1) + patches.astype(np.float64) @ stored).min(1)
        np.testing.assert_allclose(found[chunk], expected, rtol=1e-5, atol=1e-3)
    squared = (patches.astype(np.float64) ** 2).sum(1)  # the integer error is about 1 % of |p|^2
    assert np.abs(found - rounded).max() < 0.02 * squared.max()
    assert np.abs(found - rounded).max() > 0  # they are different computations


def test_a_served_model_in_floats_scores_as_in_integers(tmp_path):
    """A trained model's graph (features, integer search, map, score) in floats: no integer operator left,
    the map and score of the integer graph within its rounding, and the file's own graph untouched."""
    from server.training.decision import memory_only
    from server.training.graphs import Decision, feature_graph, scoring_graph

    size = (96, 64)
    rng = np.random.default_rng(5)
    features = cpu_session(feature_graph(size).SerializeToString())
    pictures = [rng.normal(0.0, 0.5, (1, 3, 64, 96)).astype(np.float32) for _ in range(3)]
    memory = np.concatenate(
        [features.run(["features"], {"image": p})[0][0].reshape(152, -1).T for p in pictures[:2]]
    )
    decision = Decision(memory_only(152), threshold=30.0, slope=0.1, map_threshold=0.0, map_spread=200.0)
    graph = scoring_graph(size, memory, decision, quantized=True)
    path = tmp_path / "model.onnx"
    path.write_bytes(graph.SerializeToString())
    floats = float_search_model(path)
    assert floats is not None
    served = cpu_session(floats)
    assert _ops(graph) >= INTEGER_OPS
    picture = pictures[2]
    wanted = cpu_session(path.read_bytes()).run(["anomaly_map", "score"], {"image": picture})
    found = served.run(["anomaly_map", "score"], {"image": picture})
    np.testing.assert_allclose(found[0] * 200, wanted[0] * 200, atol=0.5)
    assert found[1][0] == pytest.approx(wanted[1][0], abs=0.002)


def test_models_without_or_with_other_uses_of_integers_are_left_alone(tmp_path):
    plain = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "plain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )  # fmt: skip
    path = tmp_path / "model.onnx"
    path.write_bytes(helper.make_model(plain).SerializeToString())
    assert float_search_model(path) is None
    path.write_bytes(b"not a model")
    assert float_search_model(path) is None
    # the quantized features also leave the graph as they are: floats would change what that output is
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
        helper.make_node("MatMulInteger", ["q", "w", "z"], ["p"]),
        helper.make_node("Cast", ["p"], ["y"], to=TensorProto.FLOAT),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])]
    weights = [numpy_helper.from_array(np.ones((3, 2), np.int8), "w")]
    graph = helper.make_graph(nodes, "q", inputs, outputs, initializer=weights)
    assert in_floats(helper.make_model(graph)) is not None
    nodes.append(helper.make_node("Identity", ["q"], ["q_out"]))
    leaking = helper.make_graph(
        nodes,
        "q",
        inputs,
        [*outputs, helper.make_tensor_value_info("q_out", TensorProto.UINT8, [1, 3])],
        initializer=weights,
    )
    assert in_floats(helper.make_model(leaking)) is None
    # the zero point read elsewhere, or the quantized features or scale given out as they are
    zero_read = [*nodes[:3], helper.make_node("Cast", ["z"], ["z_out"], to=TensorProto.FLOAT)]
    zero_output = [helper.make_tensor_value_info("z_out", TensorProto.FLOAT, [])]
    assert in_floats(helper.make_model(helper.make_graph(zero_read, "z", inputs, [*outputs, *zero_output],
                                                         initializer=weights))) is None  # fmt: skip
    for name, kind in (("q", TensorProto.UINT8), ("s", TensorProto.FLOAT)):
        given = [*outputs, helper.make_tensor_value_info(name, kind, None)]
        assert in_floats(helper.make_model(helper.make_graph(nodes[:3], name, inputs, given,
                                                             initializer=weights))) is None  # fmt: skip


def test_a_runner_on_cuda_serves_the_trainer_search_in_floats(tmp_path, monkeypatch):
    """Where CUDA is asked for, a trained bundle's session gets the float search (onnxruntime without
    CUDA here falls back to the CPU with a warning, which is what makes this checkable); on the CPU, and
    for models that did not come from the trainer, the file's own graph."""
    from PIL import Image

    from server.inference import runtime
    from server.inference.bundle import parse_description
    from server.inference.devices import CPU, CUDA
    from server.training.decision import memory_only
    from server.training.graphs import Decision, scoring_graph

    memory = np.random.default_rng(1).normal(size=(40, 152)).astype(np.float32)
    decision = Decision(memory_only(152), threshold=30.0, slope=0.1, map_threshold=0.0, map_spread=200.0)
    (tmp_path / "model.onnx").write_bytes(
        scoring_graph((64, 64), memory, decision, quantized=True).SerializeToString()
    )
    document = {"task": "classification", "input": {"name": "image", "width": 64, "height": 64},
                "outputs": {"score": "score", "anomaly_map": "anomaly_map"}}  # fmt: skip
    trained = parse_description({**document, "source": "trainer"})
    assert not runtime.ModelRunner(tmp_path, trained, "cpu").search_in_floats
    monkeypatch.setattr(runtime, "resolve_providers", lambda device: [CUDA, CPU])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnxruntime: CUDA is not among its providers here
        on_gpu = runtime.ModelRunner(tmp_path, trained, "cuda")
        other = runtime.ModelRunner(tmp_path, parse_description(document), "cuda")
    assert on_gpu.search_in_floats and not other.search_in_floats
    image = Image.new("RGB", (64, 64), (120, 90, 60))
    assert on_gpu.predict(image).score == pytest.approx(other.predict(image).score, abs=0.01)
