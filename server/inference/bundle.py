"""Model bundles: a folder with `model.onnx` and `model.json`, which says how to run the graph.

The reference for every field is models/README.md. Loading checks the description field by field and
against the graph's real inputs and outputs, and says exactly what is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from server.spec.limits import IMAGE_MAX_SIDE

FORMAT = "lookoutvision-emulator-bundle/1"
MODEL_FILE = "model.onnx"
DESCRIPTION_FILE = "model.json"
TASKS = ("classification", "segmentation")
BACKGROUND = "#FFFFFF"
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_CLASS_NAME = re.compile(r"[a-zA-Z0-9]{1,256}")  # AnomalyName in the service model


class BundleError(ValueError):
    """A bundle that cannot be served; the message names the field and the problem."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    layout: str = "NCHW"  # or NHWC
    width: int | None = None  # the graph's input size; None feeds the image at its own size
    height: int | None = None
    color_order: str = "RGB"  # or BGR
    dtype: str = "float32"  # or uint8 (raw 0..255 values)
    scale: float = 255.0  # float inputs are (pixel / scale - mean) / std
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class DetailInput:
    """A graph's extra input at a fixed size: the image again at a finer size, normalised as the first input
    (detail_input: the trainer's segmentation models draw their masks at it), or the gap map (gap_input)."""

    name: str
    width: int
    height: int


@dataclass(frozen=True)
class Normalization:
    """anomalib's min-max normalisation: the threshold maps to 0.5, values are clipped to 0..1."""

    threshold: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class AnomalyClass:
    name: str
    color: str  # #RRGGBB, upper case


@dataclass(frozen=True)
class Outputs:
    score: str | None = None  # image anomaly score, higher = more anomalous
    decision: str | None = None  # boolean (or 0/1) image decision
    anomaly_map: str | None = None  # float per-pixel map, one anomaly class
    mask: str | None = None  # boolean per-pixel mask, one anomaly class
    class_map: str | None = None  # per-pixel class index (0 = background) or per-class scores [C+1, h, w]

    def names(self) -> list[str]:
        return [name for name in asdict(self).values() if name]


@dataclass(frozen=True)
class ModelDescription:
    task: str
    input: InputSpec
    outputs: Outputs
    image_width: int | None = None  # the size DetectAnomalies images must have; None accepts any size
    image_height: int | None = None
    threshold: float = 0.5  # on the (normalised) score: at or above it the image is anomalous
    score_normalization: Normalization | None = None
    pixel_threshold: float = 0.5  # on the (normalised) anomaly map
    map_normalization: Normalization | None = None
    classes: tuple[AnomalyClass, ...] = field(default_factory=tuple)
    source: str = "bundle"  # bundle, anomalib-2, anomalib-1, trainer
    align: dict[str, Any] | None = None  # centre and un-rotate parts first: background, tolerance, reference
    detail_input: DetailInput | None = None  # the image at a second, finer size (a second graph input)
    gap_input: DetailInput | None = None  # inference.part_gap's map at a size (one more graph input)
    reduce_to: int | None = None  # pictures are first reduced by a whole factor to no less than this side
    # (inference.images.reduced): what the trainer writes, for camera-sized photos
    fill_part_gaps: bool = False  # masks: each painted piece takes the part's gaps in its hull (part_gap)

    def size_problem(self, size: tuple[int, int], what: str = "image") -> str | None:
        """Why an input of `size` (width, height) cannot be run, or None when it can."""
        if self.image_width is None or size == (self.image_width, self.image_height):
            return None
        return (
            f"The {what} is {size[0]}x{size[1]} pixels; this model takes images of "
            f"{self.image_width}x{self.image_height} pixels, the size of its training images"
        )

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["classes"] = [asdict(item) for item in self.classes]
        return {"format": FORMAT, **document}


def bundle_contents(model: Path, description: dict[str, Any]) -> dict[str, Path | bytes]:
    """A bundle's files by name, as the store writes them: the graph, and its description."""
    return {MODEL_FILE: model, DESCRIPTION_FILE: json.dumps(description, indent=2).encode()}


def parse_description(document: Any) -> ModelDescription:
    if not isinstance(document, dict):
        raise BundleError("model.json must hold a JSON object")
    if document.get("format", FORMAT) != FORMAT:
        raise BundleError(f"format: expected {FORMAT!r}, got {document.get('format')!r}")
    task = _choice(document, "task", TASKS)
    raw_input = _object(document, "input")
    spec = InputSpec(
        name=_string(raw_input, "name", "input."),
        layout=_choice(raw_input, "layout", ("NCHW", "NHWC"), "input.", default="NCHW"),
        width=_size(raw_input, "width", "input."),
        height=_size(raw_input, "height", "input."),
        color_order=_choice(raw_input, "color_order", ("RGB", "BGR"), "input.", default="RGB"),
        dtype=_choice(raw_input, "dtype", ("float32", "uint8"), "input.", default="float32"),
        scale=_number(raw_input, "scale", "input.", default=255.0, positive=True),
        mean=_triple(raw_input, "mean", "input.", (0.0, 0.0, 0.0)),
        std=_triple(raw_input, "std", "input.", (1.0, 1.0, 1.0), positive=True),
    )
    if (spec.width is None) != (spec.height is None):
        raise BundleError("input.width and input.height: give both or neither")
    raw_outputs = _object(document, "outputs")
    unknown = set(raw_outputs) - set(Outputs.__dataclass_fields__)
    if unknown:
        raise BundleError(
            f"outputs: unknown keys {sorted(unknown)}; known: {sorted(Outputs.__dataclass_fields__)}"
        )
    outputs = Outputs(**{key: _optional_string(raw_outputs, key, "outputs.") for key in raw_outputs})
    description = ModelDescription(
        task=task,
        input=spec,
        outputs=outputs,
        image_width=_size(document, "image_width"),
        image_height=_size(document, "image_height"),
        threshold=_number(document, "threshold", default=0.5),
        score_normalization=_normalization(document, "score_normalization"),
        pixel_threshold=_number(document, "pixel_threshold", default=0.5),
        map_normalization=_normalization(document, "map_normalization"),
        classes=_classes(document),
        source=str(document.get("source", "bundle")),
        align=_align(document.get("align")),
        detail_input=_detail_input(document, spec),
        gap_input=_gap_input(document, spec),
        reduce_to=_size(document, "reduce_to"),
        fill_part_gaps=_flag(document, "fill_part_gaps"),
    )
    _check_rules(description)
    return description


def _check_rules(description: ModelDescription) -> None:
    outputs = description.outputs
    if (description.image_width is None) != (description.image_height is None):
        raise BundleError("image_width and image_height: give both or neither")
    if not (outputs.score or outputs.anomaly_map):
        raise BundleError("outputs: name a 'score' output (or an 'anomaly_map' whose maximum is the score)")
    if description.task == "segmentation":
        if not (outputs.anomaly_map or outputs.mask or outputs.class_map):
            raise BundleError("outputs: a segmentation model needs 'class_map', 'mask' or 'anomaly_map'")
        if outputs.class_map and (outputs.anomaly_map or outputs.mask):
            raise BundleError("outputs: give either 'class_map' or 'mask'/'anomaly_map', not both")
        if not description.classes:
            raise BundleError("classes: a segmentation model needs at least one anomaly class")
        if not outputs.class_map and len(description.classes) != 1:
            raise BundleError("classes: a 'mask'/'anomaly_map' model has exactly one anomaly class")
    elif description.fill_part_gaps:
        raise BundleError("fill_part_gaps: only a segmentation model draws masks to fill")
    names = [item.name for item in description.classes]
    if len(set(names)) != len(names):
        raise BundleError("classes: names must be unique")


def _detail_input(document: dict, spec: InputSpec) -> DetailInput | None:
    return _sized_input(document, "detail_input", {"input.name": spec.name})


def _gap_input(document: dict, spec: InputSpec) -> DetailInput | None:
    taken = {"input.name": spec.name}
    detail = document.get("detail_input")
    if isinstance(detail, dict) and isinstance(detail.get("name"), str):
        taken["detail_input.name"] = detail["name"]
    return _sized_input(document, "gap_input", taken)


def _sized_input(document: dict, key: str, taken: dict[str, str]) -> DetailInput | None:
    """An extra graph input's {"name", "width", "height"}, named apart from the inputs `taken` (by field)."""
    if document.get(key) is None:
        return None
    raw = _object(document, key)
    unknown = set(raw) - {"name", "width", "height"}
    if unknown:
        raise BundleError(f"{key}: unknown keys {sorted(unknown)}; known: ['height', 'name', 'width']")
    name = _string(raw, "name", f"{key}.")
    width, height = _size(raw, "width", f"{key}."), _size(raw, "height", f"{key}.")
    if width is None or height is None:
        raise BundleError(f"{key}.width and {key}.height: both are required")
    for field_name, other in taken.items():
        if name == other:
            raise BundleError(f"{key}.name: {name!r} is already {field_name}")
    return DetailInput(name, width, height)


def read_bundle(folder: Path) -> ModelDescription:
    """The description of the bundle in `folder`, checked (the graph itself is checked when loaded)."""
    if not (folder / MODEL_FILE).is_file():
        raise BundleError(f"{folder}: {MODEL_FILE} is missing")
    path = folder / DESCRIPTION_FILE
    if not path.is_file():
        raise BundleError(f"{folder}: {DESCRIPTION_FILE} is missing")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise BundleError(f"{DESCRIPTION_FILE} is not valid JSON: {error}") from None
    return parse_description(document)


def check_against_graph(
    description: ModelDescription, inputs: dict[str, list], outputs: dict[str, list]
) -> None:
    """`inputs`/`outputs` map the graph's tensor names to their shapes (None or a name for a free axis)."""
    spec, detail, gap = description.input, description.detail_input, description.gap_input
    if spec.name not in inputs:
        raise BundleError(f"input.name: the graph has no input {spec.name!r}; it has {sorted(inputs)}")
    named = {"input.name": spec.name}
    named.update({"detail_input.name": detail.name} if detail is not None else {})
    named.update({"gap_input.name": gap.name} if gap is not None else {})
    if len(named) == 1 and len(inputs) != 1:
        raise BundleError(f"the graph must take exactly one input; it takes {sorted(inputs)}")
    if sorted(inputs) != sorted(named.values()):
        raise BundleError(
            f"the graph must take the inputs {' and '.join(named)}, {sorted(named.values())}; "
            f"it takes {sorted(inputs)}"
        )
    if detail is not None:
        _check_detail(detail, inputs[detail.name], spec.layout)
    if gap is not None:
        _check_gap(gap, inputs[gap.name])
    shape = inputs[spec.name]
    if len(shape) != 4:
        raise BundleError(f"input {spec.name!r} must have 4 dimensions ({spec.layout}); it has shape {shape}")
    channels = shape[1] if spec.layout == "NCHW" else shape[3]
    if isinstance(channels, int) and channels != 3:
        raise BundleError(
            f"input {spec.name!r} must have 3 colour channels in {spec.layout}; shape is {shape}"
        )
    height, width = (shape[2], shape[3]) if spec.layout == "NCHW" else (shape[1], shape[2])
    fixed = isinstance(height, int) and isinstance(width, int)
    if fixed and (spec.width, spec.height) != (width, height):
        raise BundleError(
            f"input.width/height: the graph takes {width}x{height}; model.json says {spec.width}x{spec.height}"
        )
    for name in description.outputs.names():
        if name not in outputs:
            raise BundleError(f"outputs: the graph has no output {name!r}; it has {sorted(outputs)}")


def _check_detail(detail: DetailInput, shape: list, layout: str) -> None:
    """The graph's detail input takes 3 colours at detail_input's size (in the layout of `input`)."""
    expected = (
        [1, 3, detail.height, detail.width] if layout == "NCHW" else [1, detail.height, detail.width, 3]
    )
    fixed = [value if isinstance(value, int) else want for value, want in zip(shape, expected, strict=False)]
    if len(shape) != 4 or fixed != expected:
        raise BundleError(
            f"detail_input: the graph's input {detail.name!r} has shape {shape}; model.json asks for {expected}"
        )


def _check_gap(gap: DetailInput, shape: list) -> None:
    """The graph's gap input takes one plane at gap_input's size: [1, 1, height, width]."""
    expected = [1, 1, gap.height, gap.width]
    fixed = [value if isinstance(value, int) else want for value, want in zip(shape, expected, strict=False)]
    if len(shape) != 4 or fixed != expected:
        raise BundleError(
            f"gap_input: the graph's input {gap.name!r} has shape {shape}; model.json asks for {expected}"
        )


def _flag(document: dict, key: str) -> bool:
    value = document.get(key, False)
    if not isinstance(value, bool):
        raise BundleError(f"{key}: expected true or false, got {value!r}")
    return value


def _object(document: dict, key: str) -> dict:
    value = document.get(key)
    if not isinstance(value, dict):
        raise BundleError(f"{key}: expected an object")
    return value


def _string(document: dict, key: str, prefix: str = "") -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise BundleError(f"{prefix}{key}: expected a non-empty string")
    return value


def _optional_string(document: dict, key: str, prefix: str = "") -> str | None:
    return None if document.get(key) is None else _string(document, key, prefix)


def _choice(
    document: dict, key: str, choices: tuple[str, ...], prefix: str = "", default: str | None = None
) -> str:
    value = document.get(key, default)
    if value not in choices:
        raise BundleError(f"{prefix}{key}: expected one of {list(choices)}, got {value!r}")
    return value


def _number(
    document: dict, key: str, prefix: str = "", default: float | None = None, positive: bool = False
) -> float:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BundleError(f"{prefix}{key}: expected a number, got {value!r}")
    if positive and value <= 0:
        raise BundleError(f"{prefix}{key}: must be positive, got {value!r}")
    return float(value)


def _size(document: dict, key: str, prefix: str = "") -> int | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= IMAGE_MAX_SIDE:
        raise BundleError(f"{prefix}{key}: expected an integer 1..{IMAGE_MAX_SIDE}, got {value!r}")
    return value


def _triple(
    document: dict, key: str, prefix: str, default: tuple[float, float, float], positive: bool = False
) -> tuple[float, float, float]:
    value = document.get(key, list(default))
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise BundleError(f"{prefix}{key}: expected a list of 3 numbers, got {value!r}")
    numbers = tuple(_number({"v": item}, "v", f"{prefix}{key}[]", positive=positive) for item in value)
    return numbers  # type: ignore[return-value]


def _normalization(document: dict, key: str) -> Normalization | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BundleError(f"{key}: expected an object with threshold, minimum, maximum")
    result = Normalization(
        threshold=_number(value, "threshold", f"{key}."),
        minimum=_number(value, "minimum", f"{key}."),
        maximum=_number(value, "maximum", f"{key}."),
    )
    if result.maximum <= result.minimum:
        raise BundleError(f"{key}: maximum must be greater than minimum")
    return result


def _classes(document: dict) -> tuple[AnomalyClass, ...]:
    value = document.get("classes", [])
    if not isinstance(value, list):
        raise BundleError("classes: expected a list of {name, color}")
    classes = []
    for index, item in enumerate(value):
        where = f"classes[{index}]"
        if not isinstance(item, dict):
            raise BundleError(f"{where}: expected an object with name and color")
        classes.append(make_class(item.get("name"), item.get("color"), f"{where}."))
    return tuple(classes)


def make_class(name: Any, color: Any, prefix: str = "") -> AnomalyClass:
    """An anomaly class with a name the service accepts and a #RRGGBB colour that is not the background's."""
    if not isinstance(name, str) or not _CLASS_NAME.fullmatch(name):
        raise BundleError(f"{prefix}name: letters and digits only (1-256), got {name!r}")
    if name.lower() == "background":
        raise BundleError(f"{prefix}name: 'background' is the name of the unlabelled area")
    if not isinstance(color, str) or not _COLOR.fullmatch(color):
        raise BundleError(f"{prefix}color: expected #RRGGBB, got {color!r}")
    if color.upper() == BACKGROUND:
        raise BundleError(f"{prefix}color: {BACKGROUND} is the background's colour")
    return AnomalyClass(name, color.upper())


def _align(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    from server.inference.alignment import ANGLES, RADII

    if not isinstance(value, dict):
        raise BundleError("align: expected an object with background, tolerance and reference")
    background = value.get("background")
    if not (
        isinstance(background, list) and len(background) == 3 and all(isinstance(c, int) for c in background)
    ):
        raise BundleError("align.background: expected [red, green, blue]")
    tolerance = _number(value, "tolerance", "align.", positive=True)
    reference = value.get("reference")
    if not (isinstance(reference, list) and len(reference) == RADII
            and all(isinstance(row, str) and len(row) == ANGLES for row in reference)):  # fmt: skip
        raise BundleError(f"align.reference: expected {RADII} strings of {ANGLES} 0/1 characters")
    window = value.get("window")  # the part's surroundings the model sees (absent: the whole picture)
    if window is not None and not (
        isinstance(window, list) and len(window) == 2
        and all(isinstance(side, int) and not isinstance(side, bool) and 1 <= side <= IMAGE_MAX_SIDE
                for side in window)
    ):  # fmt: skip
        raise BundleError(f"align.window: expected [width, height], integers 1..{IMAGE_MAX_SIDE}")
    return {"background": background, "tolerance": tolerance, "reference": reference,
            **({"window": window} if window is not None else {})}  # fmt: skip
