"""/_emulator/health, /_emulator/hosting and /_emulator/reset: what the server is and holds, and wiping it."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, Field

from server import __version__
from server.emulator import Emulator
from server.inference.devices import execution_providers
from server.internal.emulator_route import EmulatorRoute, emulator_of

Running = Annotated[Emulator, Depends(emulator_of)]


class Health(BaseModel):
    ready: bool = Field(description="always true once the server answers")
    version: str
    data_dir: str | None = Field(description="where state is kept; null when in memory")
    in_memory: bool
    device: str = Field(description="cpu, cuda or auto, as configured")
    execution_providers: list[str] = Field(description="onnxruntime's providers in use or to be used")
    schema_version: int = Field(description="the data directory's database schema version")


class ResetDone(BaseModel):
    reset: bool
    seconds: float = Field(description="how long the reset took")


class HostedModel(BaseModel):
    account: str
    region: str
    project: str
    version: str
    units: int = Field(description="inference units in service now")
    min_units: int
    max_units: int
    providers: list[str]


class Hosting(BaseModel):
    models: list[HostedModel]


def health(emulator: Running) -> Health:
    settings = emulator.settings
    return Health(
        ready=True,
        version=__version__,
        data_dir=None if settings.in_memory else str(settings.storage_dir),
        in_memory=settings.in_memory,
        device=settings.device,
        execution_providers=emulator.backend.hosting.providers_in_use()
        or execution_providers(settings.device),
        schema_version=emulator.database.schema_version,
    )


def reset(emulator: Running) -> ResetDone:
    started = time.perf_counter()
    emulator.backend.reset()
    return ResetDone(reset=True, seconds=round(time.perf_counter() - started, 6))


def hosting(emulator: Running) -> Hosting:
    return Hosting.model_validate({"models": emulator.backend.hosting.status()})


routes = [
    EmulatorRoute(
        "/_emulator/health",
        health,
        methods=["GET"],
        response_model=Health,
        summary="Health",
        description="Whether the server is up, its version, storage and device. Stays on when signatures "
        "are required.",
        open_when_locked=True,
    ),
    EmulatorRoute(
        "/_emulator/reset",
        reset,
        methods=["POST"],
        response_model=ResetDone,
        summary="Reset",
        description="Forget every resource in every account and region, scripted answers and delay changes.",
    ),
    EmulatorRoute(
        "/_emulator/hosting",
        hosting,
        methods=["GET"],
        response_model=Hosting,
        summary="Hosted models",
        description="Hosted models with their inference units in service (DescribeModel only echoes "
        "the minimum and maximum).",
    ),
]
