"""The Edge Agent's models and their states, and DetectAnomalies on them with the cloud API's inference
code (server/inference: read_bundle, ModelRunner, InferenceUnits; masks as hosting builds them).

STOPPED -> STARTING -> RUNNING (loaded and warmed up in the background) or FAILED (with the reason);
RUNNING -> STOPPING -> STOPPED (StopModel answers once running predictions have finished). Errors carry
the gRPC status name the published contract gives them; service.py turns them into gRPC errors.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from server.edge.components import COMPONENT_NAME, Catalog, Component

if TYPE_CHECKING:
    from server.edge.bitmaps import Segment, SharedMemory
    from server.inference.bundle import ModelDescription
    from server.inference.masks import AnomalyArea
    from server.inference.runtime import ModelRunner
    from server.inference.units import InferenceUnits

log = logging.getLogger(__name__)

STOPPED, STARTING, RUNNING, FAILED, STOPPING = "STOPPED", "STARTING", "RUNNING", "FAILED", "STOPPING"
MESSAGES = {
    STOPPED: "The model is stopped.",
    STARTING: "The model is starting.",
    RUNNING: "The model is running.",
    STOPPING: "The model is stopping.",
}


class EdgeError(Exception):
    """A refused call: `code` is the gRPC status name (NOT_FOUND, FAILED_PRECONDITION, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class EdgeSettings:
    device: str = "cpu"
    threads: int = 0  # onnxruntime threads per model; 0: all cores
    queue_per_unit: int = 8  # requests waiting for a busy model before RESOURCE_EXHAUSTED
    max_running: int = 8  # models RUNNING or STARTING at once; StartModel beyond is RESOURCE_EXHAUSTED
    stop_timeout: float = 30.0  # seconds StopModel waits for running predictions


@dataclass(frozen=True)
class ModelState:
    """What ListModels and DescribeModel show of a component."""

    name: str
    model_arn: str
    status: str
    message: str


@dataclass(frozen=True)
class EdgeResult:
    is_anomalous: bool
    confidence: float
    score: float
    threshold: float
    width: int
    height: int
    anomalies: list[AnomalyArea]  # segmentation models: background first; classification: empty
    mask: bytes | None = None  # RGB888, when it goes back in the message
    mask_segment: Segment | None = None  # where it was written instead


@dataclass
class _Model:
    component: Component
    status: str = STOPPED
    message: str = MESSAGES[STOPPED]
    units: InferenceUnits[ModelRunner] | None = None
    description: ModelDescription | None = None

    def state(self) -> ModelState:
        return ModelState(self.component.name, self.component.model_arn, self.status, self.message)


class EdgeAgent:
    def __init__(self, catalog: Catalog, settings: EdgeSettings | None = None) -> None:
        from server.edge.bitmaps import SharedMemory

        self.catalog = catalog
        self.settings = settings or EdgeSettings()
        self.memory: SharedMemory = SharedMemory()
        self._models: dict[str, _Model] = {}
        self._lock = threading.Lock()
        self._loaders: list[threading.Thread] = []
        self._closed = False
        self.refresh()

    # The models

    def refresh(self) -> None:
        """Take in the catalog's components: new ones are STOPPED; gone ones leave once not in use."""
        components = {component.name: component for component in self.catalog()}
        with self._lock:
            for name, component in components.items():
                model = self._models.get(name)
                if model is None:
                    self._models[name] = _Model(component)
                elif model.status in (STOPPED, FAILED):
                    model.component = component  # a newer version, or the same one
            for name in [name for name, model in self._models.items() if name not in components]:
                if self._models[name].status in (STOPPED, FAILED):
                    del self._models[name]

    def list(self) -> list[ModelState]:
        self.refresh()
        with self._lock:
            return [self._models[name].state() for name in sorted(self._models)]

    def describe(self, name: str) -> ModelState:
        model = self._find(name)
        with self._lock:
            return model.state()

    def _find(self, name: str) -> _Model:
        if not name:
            raise EdgeError("INVALID_ARGUMENT", "model_component is required")
        if not COMPONENT_NAME.fullmatch(name):
            raise EdgeError("INVALID_ARGUMENT", f"{name[:200]!r} is not a component name")
        with self._lock:
            model = self._models.get(name)
        if model is None:
            self.refresh()  # a component added since the last look
            with self._lock:
                model = self._models.get(name)
        if model is None:
            raise EdgeError("NOT_FOUND", f"There is no model component named {name}")
        return model

    # StartModel and StopModel

    def start(self, name: str) -> str:
        model = self._find(name)
        with self._lock:
            if model.status not in (STOPPED, FAILED):
                raise EdgeError(
                    "FAILED_PRECONDITION", f"Model {name} is {model.status}; only a STOPPED or FAILED model "
                    "can be started",
                )  # fmt: skip
            active = sum(1 for other in self._models.values() if other.status in (STARTING, RUNNING))
            if active >= self.settings.max_running:
                raise EdgeError(
                    "RESOURCE_EXHAUSTED",
                    f"{active} models are running or starting, the most this agent runs at once "
                    "(setting edge_max_running); stop one first",
                )
            model.status, model.message = STARTING, MESSAGES[STARTING]
            component = model.component
        loader = threading.Thread(target=self._load, args=(model, component), name=f"edge-start-{name}")
        loader.daemon = True
        self._loaders = [thread for thread in self._loaders if thread.is_alive()] + [loader]
        loader.start()
        return STARTING

    def _load(self, model: _Model, component: Component) -> None:
        from server.inference.bundle import read_bundle
        from server.inference.memory import keep_freed_memory
        from server.inference.runtime import warmed_runners
        from server.inference.units import InferenceUnits

        keep_freed_memory()
        started = time.monotonic()
        try:
            description = read_bundle(component.folder)
            threads = self.settings.threads or (os.cpu_count() or 1)
            make_runner = warmed_runners(component.folder, description, self.settings.device, threads)
            # One unit, as on a device: more requests queue, and beyond the queue they are refused.
            units = InferenceUnits(make_runner, 1, 1, queue_per_unit=self.settings.queue_per_unit)
        except Exception as error:  # any failure to load is the model's FAILED status, with its reason
            log.warning("edge model %s could not be started: %s", component.name, error)
            with self._lock:
                model.status, model.message = FAILED, f"The model could not be started: {error}"[:1000]
            return
        with self._lock:
            closed = self._closed
            if not closed:
                model.units, model.description = units, description
                model.status, model.message = RUNNING, MESSAGES[RUNNING]
        if closed:  # the agent shut down while this model loaded
            units.close(timeout=0)
            return
        log.info(
            "edge model %s running (%s, %.0f ms to load)",
            component.name,
            description.task,
            (time.monotonic() - started) * 1000,
        )

    def stop(self, name: str) -> str:
        model = self._find(name)
        with self._lock:
            if model.status != RUNNING:
                raise EdgeError(
                    "FAILED_PRECONDITION",
                    f"Model {name} is {model.status}; only a RUNNING model can be stopped",
                )
            model.status, model.message = STOPPING, MESSAGES[STOPPING]
            units = model.units
        if units is not None:
            units.close(self.settings.stop_timeout)  # refuses new work, waits for running predictions
        with self._lock:
            model.units, model.description = None, None
            model.status, model.message = STOPPED, MESSAGES[STOPPED]
        log.info("edge model %s stopped", name)
        return STOPPED

    def wait(self, name: str, timeout: float = 60.0) -> str:
        """Until the model leaves STARTING (for callers in this process: tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.describe(name).status
            if status != STARTING or time.monotonic() > deadline:
                return status
            time.sleep(0.005)

    # DetectAnomalies

    def detect(self, name: str, bitmap: Any, mask_handle: Any | None = None) -> EdgeResult:
        """`bitmap` is a Bitmap message; `mask_handle` an optional SharedMemoryHandle for the mask."""
        from server.edge.bitmaps import BitmapError, bitmap_image, check_size, segment
        from server.inference.units import QueueFull, UnitsClosed

        model = self._find(name)
        with self._lock:
            status, units, description = model.status, model.units, model.description
        if status != RUNNING or units is None or description is None:
            raise EdgeError(
                "FAILED_PRECONDITION", f"Model {name} is {status}; start it and wait for RUNNING first"
            )
        try:
            image = bitmap_image(bitmap, self.memory)
            mask_segment = None
            if mask_handle is not None and description.task == "segmentation":
                mask_segment = segment(mask_handle, check_size(image.width, image.height), "anomaly mask")
        except BitmapError as error:
            raise EdgeError("INVALID_ARGUMENT", str(error)) from None
        problem = description.size_problem(image.size, "bitmap")
        if problem is not None:
            raise EdgeError("INVALID_ARGUMENT", problem)
        try:
            prediction = units.run(lambda runner: runner.predict(image))
        except QueueFull as error:
            raise EdgeError("RESOURCE_EXHAUSTED", f"Model {name} cannot keep up: {error}") from None
        except UnitsClosed:
            raise EdgeError("FAILED_PRECONDITION", f"Model {name} is stopping") from None
        result = EdgeResult(
            prediction.is_anomalous,
            prediction.confidence,
            prediction.score,
            description.threshold,
            image.width,
            image.height,
            [],
        )
        if prediction.class_map is None:
            return result
        from server.inference.masks import anomalies, mask_rgb

        pixels = mask_rgb(prediction.class_map, description.classes).tobytes()
        areas = anomalies(prediction.class_map, description.classes)
        if mask_segment is None:
            return replace(result, anomalies=areas, mask=pixels)
        try:
            self.memory.write(mask_segment, pixels)
        except BitmapError as error:
            raise EdgeError("INVALID_ARGUMENT", str(error)) from None
        return replace(result, anomalies=areas, mask_segment=mask_segment)

    def close(self) -> None:
        """Stop every model (the agent is shutting down)."""
        with self._lock:
            self._closed = True
            units = [model.units for model in self._models.values() if model.units is not None]
            for model in self._models.values():
                model.units = None
                model.status, model.message = STOPPED, MESSAGES[STOPPED]
        for unit in units:
            unit.close(timeout=5.0)
        for loader in self._loaders:
            loader.join(timeout=5.0)
        self.memory.close()
