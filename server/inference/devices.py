"""Which onnxruntime execution providers a device setting resolves to.

Answering must not import onnxruntime (it is slow to import and start-up must stay fast), so until a
model is hosted the answer comes from which onnxruntime distribution is installed.
"""

from __future__ import annotations

import sys
from importlib import metadata

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def _installed(distribution: str) -> bool:
    try:
        metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


def available_providers() -> list[str]:
    runtime = sys.modules.get("onnxruntime")
    if runtime is not None:
        return list(runtime.get_available_providers())
    if _installed("onnxruntime-gpu"):
        return [CUDA, CPU]
    return [CPU] if _installed("onnxruntime") else []


def execution_providers(device: str) -> list[str]:
    """cpu: CPU only. cuda and auto: CUDA first when present, CPU as the fallback."""
    if device == "cpu":
        return [CPU]
    available = available_providers()
    return [CUDA, CPU] if CUDA in available else [CPU]
