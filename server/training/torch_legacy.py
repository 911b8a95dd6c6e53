"""Read a PyTorch state dict saved in the legacy (non-zip) format, without torch.

The file is a sequence of pickles: a magic number, a protocol version, system info, the state dict
(whose tensors refer to storages by persistent id), the list of storage keys; then, per key, an int64
element count and the raw little-endian data. The unpickler allows only the names a state dict needs.
"""

from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
}


class _Storage:
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)
        self.data: np.ndarray | None = None


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> tuple:
    return (storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def __init__(self, handle: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(handle)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

    def persistent_load(self, pid: Any) -> _Storage:
        _, kind, key = pid[:3]
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[kind])
        return self.storages[key]


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as handle:
        if pickle.load(handle) != MAGIC:
            raise ValueError(f"{path} is not a legacy PyTorch file")
        pickle.load(handle)  # protocol version
        pickle.load(handle)  # system info
        storages: dict[str, _Storage] = {}
        tensors = _Unpickler(handle, storages).load()
        for key in pickle.load(handle):
            storage = storages[key]
            (count,) = struct.unpack("<q", handle.read(8))
            storage.data = np.frombuffer(handle.read(count * storage.dtype.itemsize), dtype=storage.dtype)
    arrays = {}
    for name, (storage, offset, size, stride) in tensors.items():
        flat = storage.data
        if not size:
            arrays[name] = np.array(flat[offset])
            continue
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=size, strides=tuple(step * flat.itemsize for step in stride)
        )
        arrays[name] = np.array(view)
    return arrays
