"""The ONNX graphs of the trainer: patch features, and the served model (features, memory, scores)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from server.training.decision import LIKENESS_EPSILON, Combination, blur_kernel, top_count
from server.training.efficientnet import TrunkBuilder

OPSET = 13
IR_VERSION = 8
MEMORY_CHUNK = 500  # remembered patches per Gemm: each chunk's [patches, chunk] products stay in the
# cache for the minimum that reads them (bench/served_search.py: 0.86-0.92 of the time of 10,000-patch chunks)


def feature_grid(size: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of patches for an input of `size` (width, height)."""
    return size[1] // 8, size[0] // 8


TONE_WEIGHT = 300.0  # tone values are scaled to weigh like the trunk's features (measured: docs/quality.md)
TONE_CHANNELS = 6  # a cell's tone: one number per colour channel, against a near and a wide surrounding
TONE_CELLS = 7  # a cell's tone is measured against the cells around it, this many across
TONE_WIDE_CELLS = 15  # and again against these many across: a patch wider than the near surrounding
# (a stain or band of a few cells) is most of that surrounding, and shows against the wide one
TONE_FLOOR = 0.02  # added to intensities (0..1) before the logarithm: black stays finite
LOG_FLOOR = 1e-6  # a score calibrated in logarithms is read as at least this (decision.Calibration)


@dataclass(frozen=True)
class Widths:
    """Channels of the feature maps (Lite0: 152 patch features, 40 at stride 8 and 112 at stride 16;
    176 fine features, 24 at stride 4 beside them; 28 pixel features: 12 from the colours (see
    _colour_features), then 16 at stride 2)."""

    features: int
    fine: int
    pixel: int


def _tone(nodes: list, initializers: list) -> str:
    """Adds each cell's tone: per colour channel, the mean log intensity of its 8x8 pixels less that of
    the cells around it (TONE_CELLS across), then the same against TONE_WIDE_CELLS across, times
    TONE_WEIGHT; returns the [1, 6, H/8, W/8] name.

    The trunk's features answer to edges and texture and hardly to a soft change of colour or brightness
    over a few cells (a stain, a discoloured or burnt patch, an uneven coating). Against its surroundings
    and in logarithms, a cell's tone keeps such a patch and drops what light does to a whole part: a
    gradient across it, a brighter or dimmer exposure."""
    half, wide = TONE_CELLS // 2, TONE_WIDE_CELLS // 2
    initializers += [
        helper.make_tensor("tone_half", TensorProto.FLOAT, [], [0.5]),  # the input is (pixel - 127) / 128
        helper.make_tensor("tone_offset", TensorProto.FLOAT, [], [127.0 / 256 + TONE_FLOOR]),
        helper.make_tensor("tone_weight", TensorProto.FLOAT, [], [TONE_WEIGHT]),
    ]
    nodes += [
        helper.make_node("Mul", ["image", "tone_half"], ["tone_scaled"]),
        helper.make_node("Add", ["tone_scaled", "tone_offset"], ["tone_intensity"]),
        helper.make_node("Log", ["tone_intensity"], ["tone_log"]),
        helper.make_node("AveragePool", ["tone_log"], ["tone_cells"], kernel_shape=[8, 8], strides=[8, 8]),
        helper.make_node("AveragePool", ["tone_cells"], ["tone_around"], kernel_shape=[TONE_CELLS] * 2,
                         pads=[half] * 4, count_include_pad=0),
        helper.make_node("Sub", ["tone_cells", "tone_around"], ["tone_contrast"]),
        helper.make_node("AveragePool", ["tone_cells"], ["tone_wide_around"], kernel_shape=[TONE_WIDE_CELLS] * 2,
                         pads=[wide] * 4, count_include_pad=0),
        helper.make_node("Sub", ["tone_cells", "tone_wide_around"], ["tone_wide_contrast"]),
        helper.make_node("Concat", ["tone_contrast", "tone_wide_contrast"], ["tone_contrasts"], axis=1),
        helper.make_node("Mul", ["tone_contrasts", "tone_weight"], ["tone"]),
    ]  # fmt: skip
    return "tone"


def _features(
    nodes: list,
    initializers: list,
    segmentation: bool,
    trunk_name: str | None = None,
    tone: bool = False,
    detail: tuple[int, int] | None = None,
    pixels: bool = True,
    fine: bool = True,
) -> Widths:
    """Adds the trunk and the patch features ("features", [1, channels, H/8, W/8]), with each cell's tone
    after them when `tone` (see _tone); for `segmentation`, also the trunk's stride-4 features, the head's
    fine_features when `fine` (the served graph weighs their parts apart: _head_scores), and, with `pixels`,
    the refinement's colour features and stride-2 features: its colours are read from the graph's second
    input, at the `detail` size (width, height), when it has one (see DETAIL). Returns their channel
    counts."""
    trunk = TrunkBuilder(trunk=trunk_name)
    stride8, stride16 = trunk.build("image")
    nodes += trunk.nodes
    initializers += trunk.initializers
    initializers.append(helper.make_tensor("upscale", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0]))
    nodes += [
        helper.make_node("Resize", [stride16, "", "upscale"], ["stride16_up"], mode="nearest"),
        helper.make_node("Concat", [stride8, "stride16_up"], ["stacked"], axis=1),
        helper.make_node("AveragePool", ["stacked"], ["trunk_features" if tone else "features"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], count_include_pad=0),
    ]  # fmt: skip
    if tone:
        nodes.append(
            helper.make_node("Concat", ["trunk_features", _tone(nodes, initializers)], ["features"], axis=1)
        )
    if segmentation:
        nodes.append(helper.make_node("Identity", [trunk.stride4], ["stride4_features"]))
    if segmentation and fine:
        nodes += [
            # The stride-4 map beside the patch features, upsampled: what the head classifies.
            helper.make_node("Resize", ["features", "", "upscale"], ["features_up"], mode="linear"),
            helper.make_node("Concat", ["stride4_features", "features_up"], ["fine_features"], axis=1),
        ]
    if segmentation and pixels:
        nodes.append(helper.make_node("Identity", [trunk.stride2], ["stride2_features"]))
        _colour_features(nodes, initializers, detail)
    features = trunk.channels[8] + trunk.channels[16] + (TONE_CHANNELS if tone else 0)
    return Widths(features, trunk.channels[4] + features, COLOUR_FEATURES + trunk.channels[2])


COLOUR_FEATURES = 12  # the refinement's per-pixel colour features (see _colour_features)


DETAIL = "detail"  # the served graph's second input: the image at a finer size, where its mask is drawn
# (the trunk keeps its working size: thin cracks and edges are drawn at up to the images' own size for a
# few pooling operations and one small convolution per pixel, not a trunk four times as dear)


GAP = "part_gap"  # with masks of missing pieces, a third input: inference.part_gap's map at the mask's size


def _colour_features(nodes: list, initializers: list, detail: tuple[int, int] | None = None) -> None:
    """Adds colour_features [1, 12, H, W] for the refinement that draws the segmentation's edges at the
    input's size: each pixel's colour, its colour against the 9x9 and the 25x25 pixels around it, and
    how far it is from the 9x9 mean either way. The refinement is linear: without that last, a scratch
    that is lighter in one place and darker in another cancels out (texture scratches: IoU 0.32 -> 0.51
    with the wider contrast and the distance together). With a `detail` size, the pixels are the detail
    input's, against the same means taken at the working size and resized: the windows keep their part of
    the scene, and pooling wider windows at the finer size is dear (onnxruntime's pooling down 41 rows of a
    512x512 picture: 81 ms, against 8 for 31)."""
    nodes += [
        helper.make_node("AveragePool", ["image"], ["local_mean"], kernel_shape=[9, 9], pads=[4, 4, 4, 4],
                         count_include_pad=0),
        # a 25x25 mean as two passes, 25 pixels each way instead of 625
        helper.make_node("AveragePool", ["image"], ["wide_rows"], kernel_shape=[25, 1], pads=[12, 0, 12, 0],
                         count_include_pad=0),
        helper.make_node("AveragePool", ["wide_rows"], ["wide_mean"], kernel_shape=[1, 25], pads=[0, 12, 0, 12],
                         count_include_pad=0),
    ]  # fmt: skip
    source, local, wide = "image", "local_mean", "wide_mean"
    if detail is not None:
        source = DETAIL
        nodes += [
            _resized(initializers, "local_mean", "local_mean_up", 3, detail),
            _resized(initializers, "wide_mean", "wide_mean_up", 3, detail),
        ]
        local, wide = "local_mean_up", "wide_mean_up"
    nodes += [
        helper.make_node("Sub", [source, local], ["contrast"]),
        helper.make_node("Sub", [source, wide], ["wide_contrast"]),
        helper.make_node("Abs", ["contrast"], ["contrast_size"]),
        helper.make_node("Concat", [source, "contrast", "wide_contrast", "contrast_size"], ["colour_features"],
                         axis=1),
    ]  # fmt: skip


def _model(
    nodes: list,
    initializers: list,
    size: tuple[int, int],
    outputs: list,
    detail: tuple[int, int] | None = None,
    gap: tuple[int, int] | None = None,
) -> onnx.ModelProto:
    width, height = size
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])]
    if detail is not None:
        inputs.append(helper.make_tensor_value_info(DETAIL, TensorProto.FLOAT, [1, 3, detail[1], detail[0]]))
    if gap is not None:
        inputs.append(helper.make_tensor_value_info(GAP, TensorProto.FLOAT, [1, 1, gap[1], gap[0]]))
    graph = helper.make_graph(
        nodes,
        "lookoutvision_emulator_trainer",
        inputs,
        outputs,
        initializer=initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lfv-trainer"
    )
    model.ir_version = IR_VERSION
    return model


def feature_graph(
    size: tuple[int, int],
    segmentation: bool = False,
    trunk: str | None = None,
    tone: bool = False,
    detail: tuple[int, int] | None = None,
    pixels: bool = True,
) -> onnx.ModelProto:
    """image -> features [1, 152, H/8, W/8] (158 with `tone`); for `segmentation` also fine_features
    [1, 176, H/4, W/4] (182) and, with `pixels`, the refinement's pixel features in their two parts:
    colour_features [1, 12, H, W] and stride2_features [1, 16, H/2, W/2] (channels for Lite0; `trunk`
    defaults to efficientnet.trunk_name()), or, with a `detail` size (width, height), colour_features at that
    size from the second input (see DETAIL). The stride-2 map is left at its size: the refinement samples a
    few thousand pixels of an image, which segmentation.PixelFeatures resizes it at (the whole map resized
    and stacked is 46 MB at 640 px). onnxruntime computes every output whichever are asked for: the head's
    passes that read the fine features alone take the graph without the pixel features (at 640 px, a
    quarter of its time)."""
    nodes: list = []
    initializers: list = []
    detail = detail if pixels else None
    widths = _features(nodes, initializers, segmentation, trunk, tone, detail, pixels)
    width, height = size
    pixel_width, pixel_height = detail or size
    outputs = [
        helper.make_tensor_value_info(
            "features", TensorProto.FLOAT, [1, widths.features, height // 8, width // 8]
        )
    ]
    if segmentation:
        outputs.append(
            helper.make_tensor_value_info(
                "fine_features", TensorProto.FLOAT, [1, widths.fine, height // 4, width // 4]
            )
        )
    if segmentation and pixels:
        outputs += [
            helper.make_tensor_value_info(
                "colour_features", TensorProto.FLOAT, [1, COLOUR_FEATURES, pixel_height, pixel_width]
            ),
            helper.make_tensor_value_info(
                "stride2_features",
                TensorProto.FLOAT,
                [1, widths.pixel - COLOUR_FEATURES, height // 2, width // 2],
            ),
        ]
    return _model(nodes, initializers, size, outputs, detail)


def _to_mask_pixels(
    initializers: list, source: str, target: str, channels: int, stride: int, detail: tuple[int, int] | None
) -> onnx.NodeProto:
    """A linear Resize of the map `source`, `stride` input pixels a cell, to the pixels the mask is drawn
    on: the input's, or the `detail` size (width, height)."""
    if detail is not None:
        return _resized(initializers, source, target, channels, detail)
    scales = {2: "upscale", 4: "to_input"}[stride]
    if not any(item.name == scales for item in initializers):
        initializers.append(helper.make_tensor(scales, TensorProto.FLOAT, [4], [1.0, 1.0, stride, stride]))
    return helper.make_node("Resize", [source, "", scales], [target], mode="linear")


def _resized(
    initializers: list, source: str, target: str, channels: int, size: tuple[int, int]
) -> onnx.NodeProto:
    """A linear Resize of `source` [1, channels, h, w] to `size` (width, height)."""
    sizes = f"{target}_sizes"
    initializers.append(helper.make_tensor(sizes, TensorProto.INT64, [4], [1, channels, size[1], size[0]]))
    return helper.make_node("Resize", [source, "", "", sizes], [target], mode="linear")


def _nearest_squared(
    nodes: list,
    initializers: list,
    patches: str,
    memory: np.ndarray,
    prefix: str = "",
    quantized: bool = False,
    quantized_patches: tuple[str, str, str] | None = None,
    exact: int = 0,
) -> str:
    """Adds each patch's squared distance to its nearest remembered patch; returns the [patches] name
    (every name the nodes add starts with `prefix`, so that two searches can share a graph).

    |p - m|^2 = |p|^2 + (|m|^2 - 2 p.m): one Gemm gives the bracket for a chunk of the memory, so the
    big [patches, memory] matrix is written once and read once, and |p|^2 is added after the minimum.
    `quantized`: the products p.m in 8-bit integers (see _quantized_bracket), the rest in floats; the
    patches quantized as `quantized_patches` names them (uint8 values, scale, zero point) if given; the
    last `exact` channels (each cell's tone) then stay in floats (see _chunk_minima).
    """
    minima = _chunk_minima(
        nodes, initializers, patches, memory, prefix, quantized, None, quantized_patches, exact
    )
    nodes += [
        helper.make_node("Min", minima, [f"{prefix}nearest_bracket"]),
        helper.make_node("ReduceSumSquare", [patches], [f"{prefix}patch_norms"], axes=[1], keepdims=0),
        helper.make_node("Add", [f"{prefix}nearest_bracket", f"{prefix}patch_norms"], [f"{prefix}nearest"]),
    ]
    return f"{prefix}nearest"


def _chunk_minima(
    nodes: list,
    initializers: list,
    patches: str,
    memory: np.ndarray,
    prefix: str,
    quantized: bool,
    bounds: list[int] | None = None,
    quantized_patches: tuple[str, str, str] | None = None,
    exact: int = 0,
) -> list[str]:
    """Adds, per chunk of the memory (rows bounds[k]:bounds[k+1]; by default MEMORY_CHUNK rows each, or
    QUANTIZED_CHUNK when `quantized`), each patch's least |m|^2 - 2 p.m over the chunk's rows; their names.
    Quantized, the patches are those `quantized_patches` names, else `patches` (all but the last `exact`
    channels) by DynamicQuantizeLinear. The last `exact` channels' products stay in floats, one small
    Gemm that adds them to the integers' bracket: each cell's tone spans over ten times the trunk's range,
    and one scale for both would leave the trunk's values a few levels."""
    memory = memory.astype(np.float32)
    channels = memory.shape[1]
    if bounds is None:
        size = QUANTIZED_CHUNK if quantized else MEMORY_CHUNK
        bounds = [int(b[0]) for b in np.array_split(np.arange(len(memory)), max(1, -(-len(memory) // size)))]
        bounds.append(len(memory))
    if not quantized:
        quantized_patches, exact = None, 0
    else:
        if exact:
            initializers += [
                numpy_helper.from_array(np.array([channels - exact], np.int64), f"{prefix}exact_from"),
                numpy_helper.from_array(np.array([channels], np.int64), f"{prefix}exact_to"),
                numpy_helper.from_array(np.array([1], np.int64), f"{prefix}exact_axis"),
            ]
            nodes.append(helper.make_node("Slice", [patches, f"{prefix}exact_from", f"{prefix}exact_to",
                                                    f"{prefix}exact_axis"], [f"{prefix}patches_exact"]))  # fmt: skip
        if quantized_patches is None:
            quantized_patches = (f"{prefix}patches_q", f"{prefix}patches_scale", f"{prefix}patches_zero")
            quantized_input = patches
            if exact:  # the channels before the exact ones (the served graph slices its own)
                quantized_input = f"{prefix}patches_integer"
                initializers.append(numpy_helper.from_array(np.array([0], np.int64), f"{prefix}exact_none"))
                nodes.append(helper.make_node("Slice", [patches, f"{prefix}exact_none", f"{prefix}exact_from",
                                                        f"{prefix}exact_axis"], [quantized_input]))  # fmt: skip
            nodes.append(
                helper.make_node("DynamicQuantizeLinear", [quantized_input], list(quantized_patches))
            )
    minima = []
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        part = memory[start:end]
        bracket = f"{prefix}bracket_{index}"
        if quantized_patches is not None and exact:  # the integers' bracket, the floats' products added
            name = f"{prefix}memory_{index}"
            _quantized_bracket(
                nodes, initializers, part, quantized_patches, name, f"{bracket}_integer", exact
            )
            initializers.append(
                numpy_helper.from_array(np.ascontiguousarray(-2.0 * part[:, -exact:].T), f"{name}_exact_t")
            )
            nodes.append(helper.make_node("Gemm", [f"{prefix}patches_exact", f"{name}_exact_t",
                                                   f"{bracket}_integer"], [bracket]))  # fmt: skip
        elif quantized_patches is not None:  # quantized
            name = f"{prefix}memory_{index}"
            _quantized_bracket(nodes, initializers, part, quantized_patches, name, bracket)
        else:
            initializers += [
                numpy_helper.from_array(np.ascontiguousarray(-2.0 * part.T), f"{prefix}memory_t_{index}"),
                numpy_helper.from_array((part**2).sum(1)[None, :], f"{prefix}memory_norms_{index}"),
            ]
            searched = [patches, f"{prefix}memory_t_{index}", f"{prefix}memory_norms_{index}"]
            nodes.append(helper.make_node("Gemm", searched, [bracket]))
        nodes.append(
            helper.make_node("ReduceMin", [bracket], [f"{prefix}nearest_{index}"], axes=[1], keepdims=0)
        )
        minima.append(f"{prefix}nearest_{index}")
    return minima


def nearest_graph(memory: np.ndarray, bounds: list[int], exact: int = 0) -> onnx.ModelProto:
    """patches [n, channels] -> [chunks, n]: per chunk of a global `memory` (rows bounds[k]:bounds[k+1]),
    each patch's least |m|^2 - 2 p.m, in 8-bit integers as the served graph computes it (the last `exact`
    channels in floats; |p|^2 is the caller's to add). The trainer's held-out distances are then the ones
    the model will serve, and a search can leave chunks out (an image's own patches)."""
    nodes: list = []
    initializers: list = [numpy_helper.from_array(np.array([0], np.int64), "first_axis")]
    minima = _chunk_minima(nodes, initializers, "patches", memory, "", True, bounds, exact=exact)
    for name in minima:
        nodes.append(helper.make_node("Unsqueeze", [name, "first_axis"], [f"{name}_row"]))
    nodes.append(helper.make_node("Concat", [f"{name}_row" for name in minima], ["minima"], axis=0))
    graph = helper.make_graph(
        nodes,
        "nearest",
        [helper.make_tensor_value_info("patches", TensorProto.FLOAT, ["patches", memory.shape[1]])],
        [helper.make_tensor_value_info("minima", TensorProto.FLOAT, [len(minima), "patches"])],
        initializer=initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lfv-trainer"
    )
    model.ir_version = IR_VERSION
    return model


QUANTIZED_CHUNK = 1_000  # remembered patches per integer product (bench/served_search.py: 0.52-0.68 of the
# float search at 500, the best or within 0.04 of it at each working size)


WEIGHT_LEVELS = 63  # the memory's int8 values lie in -63..63 (see quantized_memory)


def quantized_memory(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-2 m^T for remembered patches m [n, channels] in 8-bit integers [channels, n], one scale per patch
    (its largest magnitude maps to WEIGHT_LEVELS): the int8 weights and their scales [n].

    Seven bits, not eight: x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake; onnxruntime's U8S8
    kernels there) add each two uint8 x int8 products in 16 bits, which 255 x 127 x 2 overflows and
    255 x 64 x 2 does not; VNNI CPUs accumulate in 32 bits either way."""
    doubled = -2.0 * part.astype(np.float32)
    scales = np.abs(doubled).max(1) / WEIGHT_LEVELS
    scales[scales == 0] = 1.0
    weights = np.clip(np.rint(doubled / scales[:, None]), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8)
    return np.ascontiguousarray(weights.T), scales.astype(np.float32)


def _quantized_bracket(
    nodes: list,
    initializers: list,
    part: np.ndarray,
    patches: tuple[str, str, str],
    name: str,
    bracket: str,
    exact: int = 0,
) -> None:
    """|m|^2 - 2 p.m for one chunk, with p.m from 8-bit integers: the patches as DynamicQuantizeLinear
    gives them (`patches`: uint8 values, scale, zero point; one scale for the image), the memory as
    quantized_memory stores it. onnxruntime fuses MatMulInteger, Cast, Mul and Add into one
    MatMulIntegerToFloat, about three times the products per second of the float Gemm on CPUs with VNNI.
    The error of a squared distance is about 1 % of |p|^2: under a percent of the distance for most
    patches, but a near-copy of a remembered patch (d of 2 where |p|^2 is 3,700) may read 0 or 4
    (docs/performance.md)."""
    weights, scales = quantized_memory(part[:, : part.shape[1] - exact])  # the norms are the whole patch's
    initializers += [
        numpy_helper.from_array(weights, f"{name}_q"),
        numpy_helper.from_array(scales, f"{name}_scales"),
        numpy_helper.from_array((part.astype(np.float32) ** 2).sum(1), f"{name}_norms"),
    ]
    nodes += [
        helper.make_node("MatMulInteger", [patches[0], f"{name}_q", patches[2]], [f"{name}_products"]),
        helper.make_node("Cast", [f"{name}_products"], [f"{name}_float"], to=TensorProto.FLOAT),
        helper.make_node("Mul", [patches[1], f"{name}_scales"], [f"{name}_scale"]),
        helper.make_node("Mul", [f"{name}_float", f"{name}_scale"], [f"{name}_doubled"]),
        helper.make_node("Add", [f"{name}_doubled", f"{name}_norms"], [bracket]),
    ]  # fmt: skip


def local_memory_tensors(memory: np.ndarray) -> dict[str, np.ndarray]:
    """A local memory [images, channels, rows, cols] as _local_nearest_squared reads it: place-major
    ([places, channels, images], times -2) and each remembered patch's squared norm."""
    images, channels, rows, cols = memory.shape
    # one copy in place-major order (astype copies), doubled in place: a third of the time of products
    # over the strided view (a 150-image project's model choice lays out 25 such memories)
    by_place = (
        memory.transpose(2, 3, 1, 0).astype(np.float32, order="C").reshape(rows * cols, channels, images)
    )
    norms = np.einsum("pci,pci->pi", by_place, by_place)[:, np.newaxis, :]
    by_place *= -2.0
    return {"local_memory": by_place, "local_norms": norms}


def _local_nearest_squared(
    nodes: list, initializers: list, features: str, grid: tuple[int, int, int], radius: int
) -> str:
    """Adds each patch's squared distance to the nearest patch of the remembered normal images at the
    same place, give or take `radius` cells; returns the name of the [rows * cols] distances. The memory is
    read from "local_memory" and "local_norms" (local_memory_tensors), which the caller adds as
    initializers (the served graph) or feeds (the trainer's held-out scoring); `grid` is (channels, rows,
    cols).

    The input, place-major, is moved by each shift and the moved copies stacked, so that at every
    remembered place q one batched MatMul compares the input patches the shifts bring there (from
    q - shift) with every image's patch at q: [places, shifts, channels] x [places, channels, images];
    nothing of the memory's size is written out (a product per shift and channel was, and cost 4-8 times
    as long). Each shift's minimum is then moved back to the input's place (what fell off the grid never
    wins).
    """
    channels, rows, cols = grid
    places = rows * cols
    shifts = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    initializers += [
        helper.make_tensor("local_pads", TensorProto.INT64, [8], [0, radius, radius, 0, 0, radius, radius, 0]),
        helper.make_tensor("local_found_pads", TensorProto.INT64, [8],
                           [0, 0, radius, radius, 0, 0, radius, radius]),
        helper.make_tensor("local_far", TensorProto.FLOAT, [], [1e30]),
        helper.make_tensor("local_moved_shape", TensorProto.INT64, [3], [places, 1, channels]),
        helper.make_tensor("local_found_shape", TensorProto.INT64, [4], [len(shifts), 1, rows, cols]),
        helper.make_tensor("local_flat", TensorProto.INT64, [1], [rows * cols]),
    ]  # fmt: skip
    nodes += [
        helper.make_node("Transpose", [features], ["local_place_major"], perm=[0, 2, 3, 1]),
        helper.make_node("Pad", ["local_place_major", "local_pads"], ["local_padded"], mode="edge"),
    ]
    moved = []
    for index, (dy, dx) in enumerate(shifts):
        initializers += [
            # the input moved by (dy, dx): at place q, the patch from q - (dy, dx)
            helper.make_tensor(f"in_starts_{index}", TensorProto.INT64, [4], [0, radius - dy, radius - dx, 0]),
            helper.make_tensor(f"in_ends_{index}", TensorProto.INT64, [4],
                               [1, radius - dy + rows, radius - dx + cols, channels]),
        ]  # fmt: skip
        nodes += [
            helper.make_node("Slice", ["local_padded", f"in_starts_{index}", f"in_ends_{index}"], [f"moved_{index}"]),
            helper.make_node("Reshape", [f"moved_{index}", "local_moved_shape"], [f"moved_rows_{index}"]),
        ]  # fmt: skip
        moved.append(f"moved_rows_{index}")
    nodes += [
        helper.make_node("Concat", moved, ["local_stack"], axis=1),  # [places, shifts, channels]
        helper.make_node("MatMul", ["local_stack", "local_memory"], ["local_minus_two_dots"]),
        helper.make_node("Add", ["local_minus_two_dots", "local_norms"], ["local_brackets"]),
        helper.make_node("ReduceMin", ["local_brackets"], ["local_found_by_place"], axes=[2], keepdims=0),
        helper.make_node("Transpose", ["local_found_by_place"], ["local_found_by_shift"], perm=[1, 0]),
        helper.make_node("Reshape", ["local_found_by_shift", "local_found_shape"], ["local_found"]),
        helper.make_node("Pad", ["local_found", "local_found_pads", "local_far"], ["local_found_padded"]),
    ]
    minima = []
    for index, (dy, dx) in enumerate(shifts):
        initializers += [
            # each minimum moved back: at place p, what shift (dy, dx) found at p + (dy, dx)
            helper.make_tensor(f"out_starts_{index}", TensorProto.INT64, [4], [index, 0, radius + dy, radius + dx]),
            helper.make_tensor(f"out_ends_{index}", TensorProto.INT64, [4],
                               [index + 1, 1, radius + dy + rows, radius + dx + cols]),
        ]  # fmt: skip
        nodes.append(helper.make_node("Slice", ["local_found_padded", f"out_starts_{index}", f"out_ends_{index}"],
                                      [f"local_min_{index}"]))  # fmt: skip
        minima.append(f"local_min_{index}")
    nodes += [
        helper.make_node("Min", minima, ["local_bracket"]),
        helper.make_node("ReduceSumSquare", [features], ["local_feature_norms"], axes=[1], keepdims=1),
        helper.make_node("Add", ["local_bracket", "local_feature_norms"], ["local_squared"]),
        helper.make_node("Reshape", ["local_squared", "local_flat"], ["local_nearest"]),
    ]
    return "local_nearest"


def local_nearest_graph(grid: tuple[int, int, int], radius: int) -> onnx.ModelProto:
    """features [1, channels, rows, cols] and a local memory (the inputs named by local_memory_tensors, any
    number of images) -> squared distances [rows * cols]: the trainer's held-out scoring runs the very nodes
    the served graph holds, with each fold's memory fed rather than built into a graph of its own."""
    channels, rows, cols = grid
    nodes: list = []
    initializers: list = []
    name = _local_nearest_squared(nodes, initializers, "features", grid, radius)
    inputs = [
        helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, channels, rows, cols]),
        helper.make_tensor_value_info("local_memory", TensorProto.FLOAT, [rows * cols, channels, "images"]),
        helper.make_tensor_value_info("local_norms", TensorProto.FLOAT, [rows * cols, 1, "images"]),
    ]
    graph = helper.make_graph(
        nodes,
        "lookoutvision_emulator_local_nearest",
        inputs,
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [rows * cols])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def level_graph(grid: tuple[int, int]) -> onnx.ModelProto:
    """The anomaly level [1, 1, rows, cols] at stride 8 -> [1, 1, 2 rows, 2 cols] at stride 4, resized as
    the served graph does, so the segmentation head is fitted on exactly what serving computes."""
    rows, cols = grid
    graph = helper.make_graph(
        [helper.make_node("Resize", ["level", "", "to_fine"], ["level_up"], mode="linear")],
        "lookoutvision_emulator_level",
        [helper.make_tensor_value_info("level", TensorProto.FLOAT, [1, 1, rows, cols])],
        [helper.make_tensor_value_info("level_up", TensorProto.FLOAT, [1, 1, rows * 2, cols * 2])],
        initializer=[helper.make_tensor("to_fine", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def upsample_graph(
    classes: int, grid: tuple[int, int], detail: tuple[int, int] | None = None
) -> onnx.ModelProto:
    """class_logits [1, classes, rows, cols] -> [1, classes, 4 rows, 4 cols] (or the `detail` size, width
    and height), resized as the served graph does, so the trainer fits the refinement on exactly what
    serving computes."""
    rows, cols = grid
    width, height = detail or (cols * 4, rows * 4)
    initializers: list = []
    graph = helper.make_graph(
        [_to_mask_pixels(initializers, "class_logits", "coarse_up", classes, 4, detail)],
        "lookoutvision_emulator_upsample",
        [helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, [1, classes, rows, cols])],
        [helper.make_tensor_value_info("coarse_up", TensorProto.FLOAT, [1, classes, height, width])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


@dataclass(frozen=True)
class Decision:
    """How the served graph turns nearest distances into a score (see server/training/decision.py): the
    blurred map's statistics and the pooled features are combined, and the score is
    sigmoid(slope * (combined - threshold)), a probability with 0.5 at the threshold. The anomaly map is
    normalised separately: (blurred - map_threshold) / map_spread + 0.5."""

    combination: Combination
    threshold: float
    slope: float
    radius: int = 0  # with a local memory ([images, channels, rows, cols]): how far a match may lie, in cells
    map_threshold: float = 0.0
    map_spread: float = 1.0
    # each place's normal level (mean, scale [rows, cols]): the map is (blurred - mean) / scale; None: blurred
    location: tuple[np.ndarray, np.ndarray] | None = None
    # patches of the labelled defects [n, channels]: the rule also reads the patches' largest likeness to
    # them (selection.prototype_evidence); None: it does not
    prototypes: np.ndarray | None = None
    # the segmentation head (weights [classes, fine channels], bias) whose evidence the rule also reads
    # (see _mask_evidence); None: the rule does not
    masks: tuple[np.ndarray, np.ndarray] | None = None
    # the map's outer ring of cells reads its inward neighbours' distances before the blur (see
    # trainer.choose_model's choose_final); False: the map as it is
    edges: bool = False
    # aligned parts: [rows, cols], 1 where the part lies (server/training/part_area.py); the other cells'
    # distances are taken as 0. None: every cell counts
    area: np.ndarray | None = None
    # the probability is sigmoid(slope * (log combined - log threshold)) (decision.Calibration)
    log_score: bool = False


def scoring_graph(
    size: tuple[int, int],
    memory: np.ndarray,
    decision: Decision,
    head: tuple[np.ndarray, np.ndarray] | None = None,
    refine: tuple[np.ndarray, np.ndarray] | None = None,
    trunk: str | None = None,
    tone: bool = False,
    quantized: bool = False,
    detail: tuple[int, int] | None = None,
    gap: bool = False,
) -> onnx.ModelProto:
    """image -> score [1] (a probability: 0.5 is the threshold) and anomaly_map [1, 1, H/8, W/8], from a
    global `memory` [patches, channels] or a local one [images, channels, rows, cols]; with a
    segmentation `head` (weights [classes, 176], bias, on the fine features), also class_scores
    [1, classes, H, W]: the head's scores upsampled, then, with `refine` (weights [classes, classes + 28],
    bias), rescored per pixel from those and the pixel features. `tone`: the features end with each
    cell's tone, as the memory's do (see _tone). `quantized`: a global memory is searched in 8-bit integers
    (see _quantized_bracket). `detail` (width, height; with `refine`): the refinement draws class_scores at
    that size from the graph's second input (see DETAIL). `gap` (with `refine`, whose weights then end with
    one more column): the refinement also reads the GAP input, where background lies inside the part's hull."""
    if (detail is not None or gap) and refine is None:
        raise ValueError("a detail or gap input is read by the refinement only")
    nodes: list = []
    initializers: list = []
    segmentation = head is not None or decision.masks is not None
    widths = _features(nodes, initializers, segmentation, trunk, tone, detail, fine=False)
    features = "features"
    width, height = size
    rows, cols = height // 8, width // 8
    combination = decision.combination
    initializers += [
        helper.make_tensor("cells_shape", TensorProto.INT64, [2], [1, rows * cols]),
        helper.make_tensor("top_k", TensorProto.INT64, [1], [top_count(rows * cols)]),
        helper.make_tensor("score_shape", TensorProto.INT64, [1], [1]),
        helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("slope", TensorProto.FLOAT, [], [decision.slope]),
        helper.make_tensor("map_threshold", TensorProto.FLOAT, [], [decision.map_threshold]),
        helper.make_tensor("map_spread", TensorProto.FLOAT, [], [decision.map_spread]),
        helper.make_tensor("rule_bias", TensorProto.FLOAT, [], [combination.bias]),
        numpy_helper.from_array(blur_kernel()[None, None], "blur"),
        numpy_helper.from_array(combination.weights[:, None].astype(np.float32), "rule_weights"),
    ]
    edges = decision.edges and min(rows, cols) > 2
    if edges:
        initializers += [
            numpy_helper.from_array(np.array([1, 1], np.int64), "edge_starts"),
            numpy_helper.from_array(np.array([-1, -1], np.int64), "edge_ends"),
            numpy_helper.from_array(np.array([2, 3], np.int64), "edge_axes"),
            numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "edge_pads"),
        ]
    # A global memory searches only the patches whose distances are read: those of the part's area (aligned
    # parts: the other distances are 0), or where the map reads the ring from inside, the inner cells (a
    # tenth less work at 320 px); the prototypes' likeness reads every patch's distance.
    area_only = decision.area is not None and memory.ndim == 2
    inner_only = edges and memory.ndim == 2 and decision.prototypes is None and not area_only
    quantized = quantized and memory.ndim == 2
    exact = TONE_CHANNELS if quantized and tone else 0  # the tone's channels searched in floats
    integer = widths.features - exact  # the channels searched in integers
    if quantized:
        # one scale for every patch of the image, searched or not, as the trainer quantizes its held-out
        # searches (memory.QuantizedNearest): the same integers whichever patches are searched
        quantizer = ["features_q", "patches_scale", "patches_zero"]
        quantized_features = features
        if exact:
            initializers += [
                numpy_helper.from_array(np.array([0], np.int64), "integer_from"),
                numpy_helper.from_array(np.array([integer], np.int64), "integer_to"),
                numpy_helper.from_array(np.array([1], np.int64), "channel_axis"),
            ]
            quantized_features = "integer_features"
            nodes.append(helper.make_node("Slice", [features, "integer_from", "integer_to", "channel_axis"],
                                          [quantized_features]))  # fmt: skip
        nodes.append(helper.make_node("DynamicQuantizeLinear", [quantized_features], quantizer))
    if (memory.ndim == 2 and not inner_only) or decision.prototypes is not None:
        initializers.append(
            helper.make_tensor("patch_shape", TensorProto.INT64, [2], [widths.features, rows * cols])
        )
        nodes += [
            helper.make_node("Reshape", [features, "patch_shape"], ["by_channel"]),
            helper.make_node("Transpose", ["by_channel"], ["patches"], perm=[1, 0]),
        ]
        if quantized and not inner_only:
            initializers.append(
                helper.make_tensor("patch_shape_q", TensorProto.INT64, [2], [integer, rows * cols])
            )
            nodes += [
                helper.make_node("Reshape", ["features_q", "patch_shape_q"], ["by_channel_q"]),
                helper.make_node("Transpose", ["by_channel_q"], ["patches_q"], perm=[1, 0]),
            ]
    if memory.ndim == 4:  # a local memory: images x channels x rows x cols
        initializers += [
            numpy_helper.from_array(array, name) for name, array in local_memory_tensors(memory).items()
        ]
        nearest = _local_nearest_squared(nodes, initializers, features, memory.shape[1:], decision.radius)
    elif inner_only:
        initializers += [
            helper.make_tensor("inner_patch_shape", TensorProto.INT64, [2],
                               [widths.features, (rows - 2) * (cols - 2)]),
            helper.make_tensor("inner_map_shape", TensorProto.INT64, [4], [1, 1, rows - 2, cols - 2]),
        ]  # fmt: skip
        nodes += [
            helper.make_node(
                "Slice", [features, "edge_starts", "edge_ends", "edge_axes"], ["inner_features"]
            ),
            helper.make_node("Reshape", ["inner_features", "inner_patch_shape"], ["inner_by_channel"]),
            helper.make_node("Transpose", ["inner_by_channel"], ["inner_patches"], perm=[1, 0]),
        ]
        if quantized:
            initializers.append(helper.make_tensor("inner_patch_shape_q", TensorProto.INT64, [2],
                                                   [integer, (rows - 2) * (cols - 2)]))  # fmt: skip
            nodes += [
                helper.make_node("Slice", ["features_q", "edge_starts", "edge_ends", "edge_axes"], ["inner_q"]),
                helper.make_node("Reshape", ["inner_q", "inner_patch_shape_q"], ["inner_by_channel_q"]),
                helper.make_node("Transpose", ["inner_by_channel_q"], ["inner_patches_q"], perm=[1, 0]),
            ]  # fmt: skip
        nearest = _nearest_squared(nodes, initializers, "inner_patches", memory, quantized=quantized,
                                   quantized_patches=("inner_patches_q", "patches_scale", "patches_zero"),
                                   exact=exact)  # fmt: skip
    elif area_only and decision.area is not None:
        read = np.asarray(decision.area > 0)
        if edges and decision.prototypes is None and read[1:-1, 1:-1].any():
            read[[0, -1], :] = read[:, [0, -1]] = False  # the ring's own distances are never read
        initializers += [
            numpy_helper.from_array(np.flatnonzero(read).astype(np.int64), "area_cells"),
            numpy_helper.from_array(np.zeros(rows * cols, np.float32), "no_distances"),
        ]
        nodes.append(helper.make_node("Gather", ["patches", "area_cells"], ["area_patches"], axis=0))
        if quantized:
            nodes.append(helper.make_node("Gather", ["patches_q", "area_cells"], ["area_patches_q"], axis=0))
        nearest = _nearest_squared(nodes, initializers, "area_patches", memory, quantized=quantized,
                                   quantized_patches=("area_patches_q", "patches_scale", "patches_zero"),
                                   exact=exact)  # fmt: skip
    else:
        nearest = _nearest_squared(nodes, initializers, "patches", memory, quantized=quantized,
                                   quantized_patches=("patches_q", "patches_scale", "patches_zero"),
                                   exact=exact)  # fmt: skip
    nodes.append(helper.make_node("Max", [nearest, "zero"], ["positive"]))
    if area_only:  # the cells outside the part's area count as normal (part_area)
        nodes += [
            helper.make_node("Sqrt", ["positive"], ["area_distances"]),
            helper.make_node(
                "ScatterElements", ["no_distances", "area_cells", "area_distances"], ["distances"]
            ),
        ]
    elif decision.area is not None:  # a local memory's distances, every cell's
        initializers.append(
            numpy_helper.from_array(decision.area.reshape(-1).astype(np.float32), "part_area")
        )
        nodes += [
            helper.make_node("Sqrt", ["positive"], ["every_distance"]),
            helper.make_node("Mul", ["every_distance", "part_area"], ["distances"]),
        ]
    else:
        nodes.append(helper.make_node("Sqrt", ["positive"], ["distances"]))
    # "blurred": the map the statistics read, measured against each place's normal level when there is one
    smoothed = "blurred" if decision.location is None else "distance_map"
    if inner_only:
        nodes += [
            helper.make_node("Reshape", ["distances", "inner_map_shape"], ["inner_map"]),
            helper.make_node("Pad", ["inner_map", "edge_pads"], ["edged_map"], mode="edge"),
        ]
        raw = "edged_map"
    elif edges:
        nodes += [
            helper.make_node("Reshape", ["distances", "map_shape"], ["raw_map"]),
            helper.make_node("Slice", ["raw_map", "edge_starts", "edge_ends", "edge_axes"], ["inner_map"]),
            helper.make_node("Pad", ["inner_map", "edge_pads"], ["edged_map"], mode="edge"),
        ]
        raw = "edged_map"
    else:
        nodes.append(helper.make_node("Reshape", ["distances", "map_shape"], ["raw_map"]))
        raw = "raw_map"
    if not inner_only:
        initializers.append(helper.make_tensor("map_shape", TensorProto.INT64, [4], [1, 1, rows, cols]))
    nodes.append(helper.make_node("Conv", [raw, "blur"], [smoothed], pads=[1, 1, 1, 1]))
    if decision.location is not None:
        mean, scale = decision.location
        initializers += [
            numpy_helper.from_array(mean[None, None].astype(np.float32), "place_mean"),
            numpy_helper.from_array(scale[None, None].astype(np.float32), "place_scale"),
        ]
        nodes += [
            helper.make_node("Sub", ["distance_map", "place_mean"], ["place_excess"]),
            helper.make_node("Div", ["place_excess", "place_scale"], ["blurred"]),
        ]
    nodes += [
        # The map's statistics, as decision.statistics computes them: peak, mean of the top cells, mean, spread.
        helper.make_node("Reshape", ["blurred", "cells_shape"], ["cells"]),
        helper.make_node("ReduceMax", ["cells"], ["stat_peak"], axes=[1], keepdims=1),
        helper.make_node("TopK", ["cells", "top_k"], ["top_values", "top_indices"], axis=1),
        helper.make_node("ReduceMean", ["top_values"], ["stat_top"], axes=[1], keepdims=1),
        helper.make_node("ReduceMean", ["cells"], ["stat_mean"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["cells", "cells"], ["cells_squared"]),
        helper.make_node("ReduceMean", ["cells_squared"], ["mean_square"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["stat_mean", "stat_mean"], ["square_mean"]),
        helper.make_node("Sub", ["mean_square", "square_mean"], ["variance"]),
        helper.make_node("Max", ["variance", "zero"], ["variance_positive"]),
        helper.make_node("Sqrt", ["variance_positive"], ["stat_spread"]),
    ]
    nodes += [
        helper.make_node("Sub", ["blurred", "map_threshold"], ["centred"]),
        helper.make_node("Div", ["centred", "map_spread"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half"], ["shifted"]),
        helper.make_node("Clip", ["shifted", "zero", "one"], ["anomaly_map"]),
    ]
    rule_inputs = ["stat_peak", "stat_top", "stat_mean", "stat_spread"]
    if decision.masks is not None:
        _head_scores(nodes, initializers, decision.masks, widths, "cell_logits")
        # that rule reads the map's peak and the evidence (selection.rule_statistics)
        rule_inputs = [
            "stat_peak",
            _mask_evidence(nodes, initializers, "cell_logits", len(decision.masks[1])),
        ]
    if decision.prototypes is not None:
        found = _nearest_squared(nodes, initializers, "patches", decision.prototypes, prefix="defect_")
        initializers.append(helper.make_tensor("likeness_epsilon", TensorProto.FLOAT, [], [LIKENESS_EPSILON]))
        nodes += [  # selection.likeness: d * d / (d + e + epsilon), its largest value over the patches
            helper.make_node("Max", [found, "zero"], ["defect_positive"]),
            helper.make_node("Sqrt", ["defect_positive"], ["defect_distances"]),
            helper.make_node("Add", ["distances", "defect_distances"], ["likeness_sum"]),
            helper.make_node("Add", ["likeness_sum", "likeness_epsilon"], ["likeness_denominator"]),
            helper.make_node("Mul", ["distances", "distances"], ["likeness_numerator"]),
            helper.make_node("Div", ["likeness_numerator", "likeness_denominator"], ["likeness"]),
            helper.make_node("Reshape", ["likeness", "cells_shape"], ["likeness_cells"]),
            helper.make_node("ReduceMax", ["likeness_cells"], ["stat_defect"], axes=[1], keepdims=1),
        ]
        rule_inputs.append("stat_defect")
    if combination.components.shape[1]:
        initializers += [
            numpy_helper.from_array(combination.pooled_mean[None, :].astype(np.float32), "pooled_mean"),
            numpy_helper.from_array(combination.components.astype(np.float32), "components"),
        ]
        nodes += [
            helper.make_node("ReduceMean", [features], ["pooled_4d"], axes=[2, 3], keepdims=0),
            helper.make_node("Sub", ["pooled_4d", "pooled_mean"], ["pooled_centred"]),
            helper.make_node("MatMul", ["pooled_centred", "components"], ["pooled_components"]),
        ]
        rule_inputs.append("pooled_components")
    nodes += [
        helper.make_node("Concat", rule_inputs, ["rule_inputs"], axis=1),
        helper.make_node("MatMul", ["rule_inputs", "rule_weights"], ["rule_product"]),
        helper.make_node("Add", ["rule_product", "rule_bias"], ["combined"]),
    ]
    if decision.log_score:  # a distance and its threshold in logarithms (a distance of 0: the floor's)
        initializers += [
            helper.make_tensor("log_floor", TensorProto.FLOAT, [], [LOG_FLOOR]),
            helper.make_tensor("log_threshold", TensorProto.FLOAT, [], [float(np.log(decision.threshold))]),
        ]
        nodes += [
            helper.make_node("Max", ["combined", "log_floor"], ["floored"]),
            helper.make_node("Log", ["floored"], ["log_combined"]),
            helper.make_node("Sub", ["log_combined", "log_threshold"], ["over"]),
        ]
    else:
        initializers.append(helper.make_tensor("threshold", TensorProto.FLOAT, [], [decision.threshold]))
        nodes.append(helper.make_node("Sub", ["combined", "threshold"], ["over"]))
    nodes += [
        helper.make_node("Mul", ["over", "slope"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
        helper.make_node("Reshape", ["probability", "score_shape"], ["score"]),
    ]
    outputs = [
        helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, [1, 1, rows, cols]),
    ]
    if head is not None:
        bias = head[1]
        # Class scores are upsampled smoothly to the input size; the runtime picks the best class per pixel.
        if refine is None:
            _head_scores(nodes, initializers, head, widths, "class_logits")
            nodes.append(_to_mask_pixels(initializers, "class_logits", "class_scores", len(bias), 4, None))
        else:
            # the masks' rule already computed this head's cell scores: the refinement starts from them
            shared = decision.masks is not None and all(
                np.array_equal(mine, theirs) for mine, theirs in zip(head, decision.masks, strict=True)
            )
            _refinement(nodes, initializers, widths, head, refine, "cell_logits" if shared else None,
                        detail, gap)  # fmt: skip
        mask_width, mask_height = detail or (cols * 8, rows * 8)
        outputs.append(
            helper.make_tensor_value_info(
                "class_scores", TensorProto.FLOAT, [1, len(bias), mask_height, mask_width]
            )
        )
    mask_size = detail or (cols * 8, rows * 8)
    return _model(nodes, initializers, size, outputs, detail, mask_size if gap else None)


def _head_scores(nodes: list, initializers: list, head: tuple, widths: Widths, output: str) -> None:
    """`output` [1, classes, H/4, W/4]: a head's scores on the fine features (the stride-4 features, then
    the patch features upsampled) and, when the head reads it, the anomaly level ("shifted") upsampled after
    them (segmentation.fit_segmentation's levels), without building those inputs: a 1x1 convolution
    commutes with a linear resize, so the patch features and the level are weighed at stride 8 and only the
    classes' few channels are upsampled (the 176 upsampled channels and their stack took 6-7 ms of a 640 px
    scan model's 76)."""
    weights, bias = head
    stride4 = widths.fine - widths.features
    coarse = "features"
    if weights.shape[1] == widths.fine + 1:  # the level after the features, stacked once for every head
        coarse = "features_with_level"
        if not any(coarse in node.output for node in nodes):
            nodes.append(helper.make_node("Concat", ["features", "shifted"], [coarse], axis=1))
    initializers += [
        numpy_helper.from_array(weights[:, :stride4, None, None].astype(np.float32), f"{output}_w4"),
        numpy_helper.from_array(bias.astype(np.float32), f"{output}_b"),
        numpy_helper.from_array(weights[:, stride4:, None, None].astype(np.float32), f"{output}_w8"),
    ]
    nodes += [
        helper.make_node("Conv", ["stride4_features", f"{output}_w4", f"{output}_b"], [f"{output}_s4"]),
        helper.make_node("Conv", [coarse, f"{output}_w8"], [f"{output}_s8"]),
        helper.make_node("Resize", [f"{output}_s8", "", "upscale"], [f"{output}_s8_to_s4"], mode="linear"),
        helper.make_node("Add", [f"{output}_s4", f"{output}_s8_to_s4"], [output]),
    ]


def _mask_evidence(nodes: list, initializers: list, logits: str, classes: int) -> str:
    """The image's evidence from the segmentation head ([1, 1]): over its 4x4-pixel cells, how far the
    likeliest anomaly class outscores the background, averaged over 3x3 cells (one cell is noise), at
    its largest. Learnt from the masks, it knows what the labelled defects look like where the memory
    only knows what is unusual."""
    initializers += [
        helper.make_tensor("evidence_first", TensorProto.INT64, [1], [0]),
        helper.make_tensor("evidence_second", TensorProto.INT64, [1], [1]),
        helper.make_tensor("evidence_end", TensorProto.INT64, [1], [classes]),
        helper.make_tensor("evidence_axis", TensorProto.INT64, [1], [1]),
        helper.make_tensor("evidence_flat", TensorProto.INT64, [2], [1, -1]),
    ]
    nodes += [
        helper.make_node("Slice", [logits, "evidence_first", "evidence_second", "evidence_axis"], ["evidence_normal"]),
        helper.make_node("Slice", [logits, "evidence_second", "evidence_end", "evidence_axis"], ["evidence_classes"]),
        helper.make_node("ReduceMax", ["evidence_classes"], ["evidence_likeliest"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["evidence_likeliest", "evidence_normal"], ["evidence_margin"]),
        helper.make_node("AveragePool", ["evidence_margin"], ["evidence_pooled"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("Reshape", ["evidence_pooled", "evidence_flat"], ["evidence_cells"]),
        helper.make_node("ReduceMax", ["evidence_cells"], ["stat_masks"], axes=[1], keepdims=1),
    ]  # fmt: skip
    return "stat_masks"


def evidence_graph(classes: int, grid: tuple[int, int]) -> onnx.ModelProto:
    """cell_logits [1, classes, rows, cols] at stride 4 -> the mask evidence [1, 1], as the served graph
    computes it, so the trainer's held-out evidence is exactly what serving computes."""
    rows, cols = grid
    nodes: list = []
    initializers: list = []
    output = _mask_evidence(nodes, initializers, "cell_logits", classes)
    graph = helper.make_graph(
        nodes,
        "lookoutvision_emulator_mask_evidence",
        [helper.make_tensor_value_info("cell_logits", TensorProto.FLOAT, [1, classes, rows, cols])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, 1])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model


def _refinement(
    nodes: list,
    initializers: list,
    widths: Widths,
    head: tuple,
    refine: tuple,
    cell_logits: str | None,
    detail: tuple[int, int] | None = None,
    gap: bool = False,
) -> None:
    """class_scores: the refinement's weights applied to [the head's scores upsampled, colour features,
    stride-2 features upsampled], as the trainer fitted them, without building that stack at the input's
    size. A per-pixel linear map commutes with a linear resize, so each part is weighed at its own
    resolution and only the classes' few channels are upsampled: the head and the refinement's weights for
    its scores become one head (_head_scores), or, when the graph already has the head's scores
    (`cell_logits`), the refinement's weights apply to those. With `detail` (width, height), the pixels
    are the second input's (see DETAIL): both coarser parts are resized to that size. With `gap`, the
    weights' last column weighs the GAP input."""
    head_weights, head_bias = head
    weights, bias = refine
    classes = len(bias)
    on_scores = weights[:, :classes].astype(np.float64)
    on_colour = weights[:, classes : classes + COLOUR_FEATURES]
    on_stride2 = weights[:, classes + COLOUR_FEATURES : weights.shape[1] - int(gap)]
    if cell_logits is None:
        _head_scores(nodes, initializers, (on_scores @ head_weights, on_scores @ head_bias + bias), widths,
                     "refined_coarse")  # fmt: skip
    else:
        initializers += [
            numpy_helper.from_array(on_scores[:, :, None, None].astype(np.float32), "refine_head_w"),
            numpy_helper.from_array(bias.astype(np.float32), "refine_head_b"),
        ]
        nodes.append(
            helper.make_node("Conv", [cell_logits, "refine_head_w", "refine_head_b"], ["refined_coarse"])
        )
    initializers += [
        numpy_helper.from_array(on_colour[:, :, None, None].astype(np.float32), "refine_colour_w"),
        numpy_helper.from_array(on_stride2[:, :, None, None].astype(np.float32), "refine_stride2_w"),
    ]
    nodes += [
        _to_mask_pixels(initializers, "refined_coarse", "refined_coarse_up", classes, 4, detail),
        helper.make_node("Conv", ["stride2_features", "refine_stride2_w"], ["refined_stride2"]),
        _to_mask_pixels(initializers, "refined_stride2", "refined_stride2_up", classes, 2, detail),
        helper.make_node("Conv", ["colour_features", "refine_colour_w"], ["refined_colour"]),
        # two Adds, not one Sum of three: onnxruntime's Sum was 13 % of a 608x416 board model's time, and
        # the Adds take 5-10 ms less (bench/served_steps.py)
        helper.make_node("Add", ["refined_coarse_up", "refined_stride2_up"], ["refined_upscaled"]),
        helper.make_node(
            "Add", ["refined_upscaled", "refined_colour"], ["refined" if gap else "class_scores"]
        ),
    ]
    if gap:
        initializers.append(
            numpy_helper.from_array(weights[:, -1:, None, None].astype(np.float32), "refine_gap_w")
        )
        nodes += [
            helper.make_node("Conv", [GAP, "refine_gap_w"], ["refined_gap"]),
            helper.make_node("Add", ["refined", "refined_gap"], ["class_scores"]),
        ]
