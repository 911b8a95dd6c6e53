"""What an ONNX graph takes and gives, read through onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.inference.bundle import BundleError
from server.inference.devices import CPU


@dataclass(frozen=True)
class Signature:
    inputs: dict[str, list]  # name -> shape (int, or a str/None for a free axis)
    outputs: dict[str, list]
    output_order: tuple[str, ...]


def read_signature(model_path: Path) -> Signature:
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(model_path), providers=[CPU])  # reading its signature only
    except Exception as error:  # onnxruntime raises several private exception types
        raise BundleError(f"{model_path.name} is not a loadable ONNX model: {error}") from None
    outputs = session.get_outputs()
    return Signature(
        inputs={item.name: list(item.shape) for item in session.get_inputs()},
        outputs={item.name: list(item.shape) for item in outputs},
        output_order=tuple(item.name for item in outputs),
    )
