from __future__ import annotations

import logging

import onnxruntime

from server.inference.devices import CPU, CUDA, execution_providers
from server.inference.runtime import resolve_providers


def test_cpu_is_the_default_and_cuda_falls_back_with_a_warning(caplog):
    assert resolve_providers("cpu") == [CPU]
    assert execution_providers("cpu") == [CPU]
    with caplog.at_level(logging.WARNING):
        providers = resolve_providers("cuda")
    if CUDA in onnxruntime.get_available_providers():  # a machine with onnxruntime-gpu and a GPU
        assert providers == [CUDA, CPU]
    else:
        assert providers == [CPU]
        assert "running on the CPU" in caplog.text
        assert resolve_providers("auto") == [CPU]
