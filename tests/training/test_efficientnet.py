"""The trunk builder, generic over EfficientNet-Lite0/1/2: the block structure read from a state dict, the
layers tapped by stride, the ONNX graph against a plain numpy forward pass, and the trainer's graphs with a
wider (Lite2-like) trunk. The state dicts are generated here, so no test needs the Lite1/Lite2 wheels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from server.training import efficientnet
from server.training.efficientnet import TrunkBuilder, blocks, taps, trunk_name

EPS = 1e-3
LITE1_REPEATS = (1, 3, 3, 4, 4)  # the first five stages; the builder stops at stride 16
LITE0_WIDTHS = (16, 24, 40, 80, 112)
LITE2_WIDTHS = (16, 24, 48, 88, 120)
KERNELS = (3, 3, 5, 3, 5)
STRIDES = (1, 2, 2, 2, 1)


def _bn(state: dict[str, np.ndarray], name: str, channels: int, rng: np.random.Generator) -> None:
    state[f"{name}.weight"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    state[f"{name}.bias"] = rng.normal(0, 0.1, channels).astype(np.float32)
    state[f"{name}.running_mean"] = rng.normal(0, 0.1, channels).astype(np.float32)
    state[f"{name}.running_var"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)


def synthetic_state(
    repeats: tuple[int, ...], widths: tuple[int, ...], stem: int = 32, expansion: int = 6, seed: int = 0
) -> dict[str, np.ndarray]:
    """A state dict with EfficientNet-Lite's keys and shapes, random weights."""
    rng = np.random.default_rng(seed)
    state = {"_conv_stem.weight": rng.normal(0, 0.3, (stem, 3, 3, 3)).astype(np.float32)}
    _bn(state, "_bn0", stem, rng)
    channels, index = stem, 0
    for stage, (count, width) in enumerate(zip(repeats, widths, strict=True)):
        for _ in range(count):
            name = f"_blocks.{index}"
            middle = channels
            if index > 0:
                middle = channels * expansion
                state[f"{name}._expand_conv.weight"] = rng.normal(
                    0, 1 / np.sqrt(channels), (middle, channels, 1, 1)
                )
                _bn(state, f"{name}._bn0", middle, rng)
            kernel = KERNELS[stage]
            state[f"{name}._depthwise_conv.weight"] = rng.normal(0, 1 / kernel, (middle, 1, kernel, kernel))
            _bn(state, f"{name}._bn1", middle, rng)
            state[f"{name}._project_conv.weight"] = rng.normal(0, 1 / np.sqrt(middle), (width, middle, 1, 1))
            _bn(state, f"{name}._bn2", width, rng)
            channels, index = width, index + 1
    return {key: value.astype(np.float32) for key, value in state.items()}


def test_the_blocks_and_their_strides_are_read_from_a_lite1_like_state_dict():
    found = blocks(synthetic_state(LITE1_REPEATS, LITE0_WIDTHS))
    assert len(found) == sum(LITE1_REPEATS)
    firsts = np.cumsum((0, *LITE1_REPEATS[:-1]))
    assert [found[first].stride for first in firsts] == list(STRIDES)
    assert all(block.stride == 1 for block in found if block.index not in firsts)
    assert [block.expand for block in found[:2]] == [False, True]
    tapped = taps(found)
    assert {scale: (block.index, block.out_channels) for scale, block in tapped.items()} == {
        2: (0, 16),
        4: (3, 24),
        8: (6, 40),
        16: (14, 112),  # the last block of the second stride-16 stage
    }


def test_the_lite0_wheel_is_tapped_where_the_trainer_always_tapped_it():
    found = blocks(efficientnet.load_state_dict(efficientnet.weights_path("lite0")))
    assert len(found) == 16
    assert {scale: (block.index, block.out_channels) for scale, block in taps(found).items()} == {
        2: (0, 16),
        4: (2, 24),
        8: (4, 40),
        16: (10, 112),
        32: (15, 320),
    }


def test_the_switch_names_the_trunk():
    assert trunk_name({}) == "lite0"
    assert trunk_name({efficientnet.TRUNK_VARIABLE: " Lite2 "}) == "lite2"
    with pytest.raises(ValueError, match="lite0, lite1, lite2"):
        trunk_name({efficientnet.TRUNK_VARIABLE: "lite4"})


def _same_conv(x: np.ndarray, weight: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
    """TensorFlow's SAME convolution of [C, H, W], written out plainly."""
    kernel = weight.shape[-1]
    rows, cols = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
    pad_rows = max((rows - 1) * stride + kernel - x.shape[1], 0)
    pad_cols = max((cols - 1) * stride + kernel - x.shape[2], 0)
    padded = np.pad(
        x, ((0, 0), (pad_rows // 2, pad_rows - pad_rows // 2), (pad_cols // 2, pad_cols - pad_cols // 2))
    )
    out = np.zeros((weight.shape[0], rows, cols))
    for i in range(kernel):
        for j in range(kernel):
            window = padded[:, i : i + stride * rows : stride, j : j + stride * cols : stride]
            if depthwise:
                out += weight[:, 0, i, j][:, None, None] * window
            else:
                out += np.einsum("oc,chw->ohw", weight[:, :, i, j], window)
    return out


def _conv_bn(state, x, conv: str, bn: str, stride: int, depthwise: bool, relu: bool) -> np.ndarray:
    y = _same_conv(x, state[f"{conv}.weight"].astype(np.float64), stride, depthwise)
    scale = state[f"{bn}.weight"] / np.sqrt(state[f"{bn}.running_var"] + EPS)
    shift = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
    y = y * scale[:, None, None] + shift[:, None, None]
    return np.clip(y, 0, 6) if relu else y


def _numpy_trunk(state, image: np.ndarray, repeats: tuple[int, ...]) -> dict[int, np.ndarray]:
    """The stage outputs by stride, from the construction's own stage table (not the builder's reading)."""
    x = _conv_bn(state, image, "_conv_stem", "_bn0", 2, False, True)
    index, scale, outputs = 0, 2, {}
    for stage, count in enumerate(repeats):
        for repeat in range(count):
            name = f"_blocks.{index}"
            stride = STRIDES[stage] if repeat == 0 else 1
            inputs = x
            if index > 0:
                x = _conv_bn(state, x, f"{name}._expand_conv", f"{name}._bn0", 1, False, True)
            x = _conv_bn(state, x, f"{name}._depthwise_conv", f"{name}._bn1", stride, True, True)
            x = _conv_bn(state, x, f"{name}._project_conv", f"{name}._bn2", 1, False, False)
            if repeat > 0:
                x = x + inputs
            index += 1
        scale *= STRIDES[stage]
        outputs[scale] = x
    return outputs


def test_the_graph_computes_what_the_blocks_say():
    repeats, widths = LITE1_REPEATS, (4, 6, 8, 10, 12)
    state = synthetic_state(repeats, widths, stem=8, expansion=2, seed=1)
    trunk = TrunkBuilder(state)
    stride8, stride16 = trunk.build("image")
    names = {2: trunk.stride2, 4: trunk.stride4, 8: stride8, 16: stride16}
    assert trunk.channels == {2: 4, 4: 6, 8: 8, 16: 12}
    assert sum(node.op_type == "Add" for node in trunk.nodes) == sum(count - 1 for count in repeats)
    graph = helper.make_graph(
        trunk.nodes,
        "trunk",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 96])],
        [
            helper.make_tensor_value_info(
                names[scale], TensorProto.FLOAT, [1, channels, 64 // scale, 96 // scale]
            )
            for scale, channels in trunk.channels.items()
        ],
        initializer=trunk.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    from server.training.samples import cpu_session

    image = np.random.default_rng(2).uniform(-1, 1, (3, 64, 96))
    served = cpu_session(model.SerializeToString()).run(None, {"image": image[None].astype(np.float32)})
    expected = _numpy_trunk(state, image, repeats)
    for scale, found in zip((2, 4, 8, 16), served, strict=True):
        assert found.shape == (1, expected[scale].shape[0], 64 // scale, 96 // scale)
        assert np.allclose(found[0], expected[scale], rtol=1e-3, atol=1e-3 * np.abs(expected[scale]).max())


def test_the_trainers_graphs_take_a_wider_trunk(monkeypatch):
    """A Lite2-like trunk (48 + 120 patch channels) through the feature graph and the served graph with a
    segmentation head that also reads the anomaly level."""
    from server.training.decision import Combination
    from server.training.graphs import Decision, feature_graph, scoring_graph
    from server.training.samples import cpu_session

    state = synthetic_state(LITE1_REPEATS, LITE2_WIDTHS)
    monkeypatch.setattr(efficientnet, "weights_path", lambda trunk: Path(trunk))
    monkeypatch.setattr(efficientnet, "load_state_dict", lambda path: state if str(path) == "lite2" else {})
    size = (96, 64)
    image = np.random.default_rng(3).uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    features, fine, colour, stride2 = cpu_session(
        feature_graph(size, True, trunk="lite2").SerializeToString()
    ).run(None, {"image": image})
    assert (features.shape, fine.shape) == ((1, 168, 8, 12), (1, 192, 16, 24))
    assert (colour.shape, stride2.shape) == ((1, 12, 64, 96), (1, 16, 32, 48))  # 28 pixel features
    rng = np.random.default_rng(4)
    combination = Combination(rng.normal(size=7), 0.3, rng.normal(size=168), rng.normal(size=(168, 3)))
    memory = features[0].reshape(168, -1).T[::2]
    head = (rng.normal(size=(2, 193)), rng.normal(size=2))
    refine = (rng.normal(size=(2, 30)), rng.normal(size=2))
    served = scoring_graph(size, memory, Decision(combination, 0.0, 1.0), head, refine, trunk="lite2")
    score, classes = cpu_session(served.SerializeToString()).run(["score", "class_scores"], {"image": image})
    assert 0.0 <= score[0] <= 1.0
    assert classes.shape == (1, 2, 64, 96)
