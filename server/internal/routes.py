from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from server import __version__
from server.emulator import Emulator
from server.inference.devices import execution_providers

router = APIRouter(prefix="/_emulator")


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    emulator = _emulator(request)
    settings = emulator.settings
    return {
        "ready": True,
        "version": __version__,
        "data_dir": None if settings.in_memory else str(settings.storage_dir),
        "in_memory": settings.in_memory,
        "device": settings.device,
        "execution_providers": execution_providers(settings.device),
        "schema_version": emulator.database.schema_version,
    }


@router.post("/reset")
def reset(request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    _emulator(request).backend.reset()
    return {"reset": True, "seconds": round(time.perf_counter() - started, 6)}
