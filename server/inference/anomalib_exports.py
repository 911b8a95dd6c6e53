"""Describe an ONNX graph that came without a model.json: anomalib 2.x and 1.x exports.

anomalib 2.x puts pre- and post-processing in the graph: input `input` (float32 NCHW RGB 0..1), outputs
among pred_score, pred_label, anomaly_map, pred_mask, already normalised so that 0.5 is the threshold.
anomalib 1.x exports the bare network (output `output`) and writes thresholds and min/max statistics to
metadata.json beside it; the image score is the maximum of the map.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.inference.bundle import (
    AnomalyClass,
    BundleError,
    InputSpec,
    ModelDescription,
    Normalization,
    Outputs,
    check_against_graph,
)
from server.inference.graph import Signature

ANOMALIB_2_OUTPUTS = ("pred_score", "pred_label", "anomaly_map", "pred_mask")
DEFAULT_CLASS = AnomalyClass("anomaly", "#FF0000")


def describe_onnx(
    signature: Signature,
    metadata: dict[str, Any] | None = None,
    image_size: tuple[int, int] | None = None,
    anomaly_class: AnomalyClass = DEFAULT_CLASS,
) -> ModelDescription:
    if metadata is not None:
        description = _anomalib_1(signature, metadata, image_size, anomaly_class)
    elif any(name in signature.outputs for name in ANOMALIB_2_OUTPUTS):
        description = _anomalib_2(signature, image_size, anomaly_class)
    else:
        raise BundleError(
            f"cannot tell how to run this graph (outputs {list(signature.output_order)}): it is not an anomalib "
            "2.x export (outputs among pred_score, pred_label, anomaly_map, pred_mask) and no metadata.json "
            "(anomalib 1.x) came with it; write a model.json (see models/README.md)"
        )
    check_against_graph(description, signature.inputs, signature.outputs)
    return description


def read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{path.name} is not valid JSON: {error}") from None
    if not isinstance(metadata, dict):
        raise BundleError(f"{path.name} must hold a JSON object")
    return metadata


def _input(signature: Signature) -> InputSpec:
    if "input" not in signature.inputs:
        raise BundleError(
            f"anomalib exports take one input named 'input'; this graph takes {sorted(signature.inputs)}"
        )
    shape = signature.inputs["input"]
    height, width = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    fixed = isinstance(height, int) and isinstance(width, int)
    # anomalib feeds float32 RGB in 0..1 and normalises inside the graph.
    return InputSpec(
        name="input",
        layout="NCHW",
        width=width if fixed else None,
        height=height if fixed else None,
        color_order="RGB",
        dtype="float32",
        scale=255.0,
    )


def _image_size(spec: InputSpec, image_size: tuple[int, int] | None) -> tuple[int | None, int | None]:
    if image_size is not None:
        return image_size
    return spec.width, spec.height


def _anomalib_2(
    signature: Signature, image_size: tuple[int, int] | None, anomaly_class: AnomalyClass
) -> ModelDescription:
    present = {name for name in ANOMALIB_2_OUTPUTS if name in signature.outputs}
    segmentation = bool(present & {"anomaly_map", "pred_mask"})
    spec = _input(signature)
    width, height = _image_size(spec, image_size)
    return ModelDescription(
        task="segmentation" if segmentation else "classification",
        input=spec,
        outputs=Outputs(
            score="pred_score" if "pred_score" in present else None,
            decision="pred_label" if "pred_label" in present else None,
            anomaly_map="anomaly_map" if "anomaly_map" in present else None,
            mask="pred_mask" if "pred_mask" in present else None,
        ),
        image_width=width,
        image_height=height,
        threshold=0.5,
        pixel_threshold=0.5,
        classes=(anomaly_class,) if segmentation else (),
        source="anomalib-2",
    )


def _anomalib_1(
    signature: Signature,
    metadata: dict[str, Any],
    image_size: tuple[int, int] | None,
    anomaly_class: AnomalyClass,
) -> ModelDescription:
    if "transform" in metadata:
        raise BundleError(
            "metadata.json has a 'transform': this is an anomalib 0.x export, whose pre-processing runs outside "
            "the graph; re-export it with anomalib 1.x or 2.x"
        )
    first = signature.output_order[0]
    first_shape = signature.outputs[first]
    is_map = len(first_shape) >= 3
    task = str(metadata.get("task", "segmentation" if is_map else "classification")).lower()
    segmentation = task in ("segmentation", "detection") and is_map
    spec = _input(signature)
    width, height = _image_size(spec, image_size)
    image_stats = _stats(metadata, "image_threshold", "pred_scores")
    pixel_stats = _stats(metadata, "pixel_threshold", "anomaly_maps") if is_map else None
    if is_map and image_stats is not None and pixel_stats is None:
        pixel_stats = image_stats
    return ModelDescription(
        task="segmentation" if segmentation else "classification",
        input=spec,
        # A map's maximum is the image score, as anomalib 1.x's own inferencers compute it.
        outputs=Outputs(score=None if is_map else first, anomaly_map=first if is_map else None),
        image_width=width,
        image_height=height,
        threshold=0.5,
        score_normalization=image_stats,
        pixel_threshold=0.5,
        map_normalization=pixel_stats,
        classes=(anomaly_class,) if segmentation else (),
        source="anomalib-1",
    )


def _stats(metadata: dict[str, Any], threshold_key: str, range_key: str) -> Normalization | None:
    threshold = metadata.get(threshold_key)
    found = metadata.get(range_key)
    nested: dict[str, Any] = found if isinstance(found, dict) else {}
    low = metadata.get(f"{range_key}.min", nested.get("min"))
    high = metadata.get(f"{range_key}.max", nested.get("max"))
    values = (threshold, low, high)
    if any(isinstance(value, bool) or not isinstance(value, (int, float)) for value in values):
        if threshold is None and low is None and high is None:
            return None
        raise BundleError(
            f"metadata.json: {threshold_key}, {range_key}.min and {range_key}.max must be numbers"
        )
    assert (
        isinstance(threshold, (int, float))
        and isinstance(low, (int, float))
        and isinstance(high, (int, float))
    )
    if high <= low:
        raise BundleError(f"metadata.json: {range_key}.max must be greater than {range_key}.min")
    return Normalization(threshold=float(threshold), minimum=float(low), maximum=float(high))
