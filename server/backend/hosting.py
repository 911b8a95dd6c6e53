"""StartModel, StopModel and DetectAnomalies: the hosting state machine and the loaded models.

TRAINED -> STARTING_HOSTING -> HOSTED (once every unit's session is loaded and warmed up) or
HOSTING_FAILED; HOSTED -> STOPPING_HOSTING -> TRAINED (once running predictions finish). Loading and
stopping run in background threads; the status in the store is the truth clients see.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from server.backend import statuses
from server.backend.models import Models
from server.backend.scope import Scope
from server.backend.scripted import ScriptedResults
from server.backend.timing import Settle, Timing
from server.inference.bundle import ModelDescription, read_bundle
from server.inference.memory import keep_freed_memory
from server.inference.units import InferenceUnits, QueueFull, UnitsClosed
from server.spec.errors import (
    MODEL,
    ServiceError,
    conflict,
    internal_error,
    quota_exceeded,
    throttled,
    validation_error,
)
from server.store.models import ModelKey, ModelRecord

if TYPE_CHECKING:
    from server.inference.masks import AnomalyArea
    from server.inference.runtime import ModelRunner, Prediction

# numpy, Pillow and onnxruntime are imported when a model is first hosted, not at start-up.

log = logging.getLogger(__name__)

MAX_MASK_BYTES = 5_242_880  # AnomalyMask's limit in the service model


@dataclass(frozen=True)
class HostingSettings:
    device: str = "cpu"
    threads: int = 0  # onnxruntime threads per unit; 0 shares the machine's cores among the minimum units
    queue_per_unit: int = 8
    grow_after: float = 0.5
    shrink_after: float = 30.0
    max_units: int = 16


@dataclass
class HostedModel:
    description: ModelDescription
    units: InferenceUnits[ModelRunner]
    providers: list[str]


class Hosting:
    def __init__(
        self,
        models: Models,
        settings: HostingSettings,
        timing: Timing,
        scripts: ScriptedResults,
    ) -> None:
        self.models = models
        self.lifecycle = models.lifecycle
        self.settings = settings
        self.timing = timing
        self.scripts = scripts
        self._hosted: dict[ModelKey, HostedModel] = {}
        self._lock = threading.Lock()
        # Replicas on one database: every replica serves a HOSTED model, loading it on first use.
        self.shared = False
        self._loading = threading.Lock()

    # StartModel / StopModel

    def start(self, scope: Scope, project: str, version: str, minimum: int, maximum: int | None) -> str:
        if maximum is not None and maximum < minimum:
            raise validation_error(
                f"MaxInferenceUnits ({maximum}) must be greater than or equal to MinInferenceUnits ({minimum})"
            )
        limit = self.settings.max_units
        if max(minimum, maximum or 0) > limit:
            # Each unit is an onnxruntime session: an unbounded count would exhaust the machine.
            raise quota_exceeded(
                "inference-units-per-model",
                f"A model can have at most {limit} inference units here (setting max_inference_units)",
                MODEL,
                version,
            )
        record = self.models.get(scope, project, version)
        _, after = self.lifecycle.start_hosting(record.key, minimum, maximum)
        if after is None:
            raise self._wrong_state(record.key, version, "it cannot be started")
        self.timing.launch(
            "hosting",
            lambda settle: self._load(record.key, minimum, maximum, settle),
            lease=_lease(record.key),
        )
        return statuses.STARTING_HOSTING

    def stop(self, scope: Scope, project: str, version: str) -> str:
        record = self.models.get(scope, project, version)
        _, after = self.lifecycle.stop_hosting(record.key)
        if after is None:
            raise self._wrong_state(record.key, version, "only a HOSTED model can be stopped")
        self.timing.launch(
            "stopping", lambda settle: self._unload(record.key, settle), lease=_lease(record.key)
        )
        return statuses.STOPPING_HOSTING

    def _wrong_state(self, key: ModelKey, version: str, reason: str) -> ServiceError:
        current = self.models.table.get(key)
        state = current.status if current else "deleted"
        return conflict(MODEL, version, f"Model version {key.version} is {state}; {reason}")

    def _load(self, key: ModelKey, minimum: int, maximum: int | None, settle: Settle) -> None:
        keep_freed_memory()
        try:
            hosted = self._make(key, minimum, maximum)
        except Exception as error:
            log.warning("model %s/%s could not be hosted: %s", key.project, key.version, error)
            settle()
            self.lifecycle.hosting_failed(key, f"The model could not be hosted: {error}")
            return
        with self._lock:
            self._hosted[key] = hosted
        settle()
        if self.lifecycle.hosting_started(key) is None:  # deleted or reset while loading
            self._discard(key)
        else:
            log.info(
                "model %s/%s hosted on %s with %d unit(s)",
                key.project,
                key.version,
                hosted.providers,
                minimum,
            )

    def _make(self, key: ModelKey, minimum: int, maximum: int | None) -> HostedModel:
        from server.inference.runtime import warmed_runners

        folder = self.models.files.folder(key)
        description = read_bundle(folder)
        threads = self.settings.threads or max(1, (os.cpu_count() or 1) // minimum)
        make_runner = warmed_runners(folder, description, self.settings.device, threads)

        units = InferenceUnits(
            make_runner,
            minimum,
            maximum,
            queue_per_unit=self.settings.queue_per_unit,
            grow_after=self.settings.grow_after,
            shrink_after=self.settings.shrink_after,
        )
        return HostedModel(description, units, units.run(lambda runner: runner.providers))

    def _unload(self, key: ModelKey, settle: Settle) -> None:
        settle()
        self._discard(key)
        self.lifecycle.hosting_stopped(key)

    def _discard(self, key: ModelKey) -> None:
        with self._lock:
            hosted = self._hosted.pop(key, None)
        if hosted is not None:
            hosted.units.close()

    def host_again(self, records: list[ModelRecord]) -> None:
        """After a restart: load what was hosted (or starting), now STARTING_HOSTING again."""
        for record in records:
            key, minimum, maximum = record.key, record.min_units or 1, record.max_units
            self.timing.launch("hosting", partial(self._load, key, minimum, maximum), lease=_lease(key))

    # Replicas (shared database): another replica started or stopped the model.

    def _follow(self, record: ModelRecord, hosted: HostedModel | None) -> HostedModel | None:
        """Load a HOSTED model this replica does not hold yet; drop one that is no longer HOSTED."""
        if record.status != statuses.HOSTED:
            if hosted is not None:
                self._discard(record.key)
            return None
        if hosted is not None:
            return hosted
        with self._loading:  # one load at a time; requests for the same model wait for it
            with self._lock:
                hosted = self._hosted.get(record.key)
            if hosted is None:
                try:
                    hosted = self._make(record.key, record.min_units or 1, record.max_units)
                except Exception as error:
                    log.warning("model %s/%s could not be loaded here: %s", record.key.project,
                                record.key.version, error)  # fmt: skip
                    raise internal_error(f"The model could not be loaded on this replica: {error}") from None
                with self._lock:
                    self._hosted[record.key] = hosted
                log.info("model %s/%s loaded on first use", record.key.project, record.key.version)
        return hosted

    def notice_stopped(self) -> None:
        """Unload models that were stopped, deleted or reset through another replica."""
        with self._lock:
            keys = list(self._hosted)
        for key in keys:
            record = self.models.table.get(key)
            if record is None or record.status not in (statuses.HOSTED, statuses.STARTING_HOSTING):
                self._discard(key)

    def close(self) -> None:
        with self._lock:
            keys = list(self._hosted)
        for key in keys:
            self._discard(key)

    def status(self) -> list[dict[str, Any]]:
        with self._lock:
            hosted = list(self._hosted.items())
        return [
            {
                "account": key.account,
                "region": key.region,
                "project": key.project,
                "version": str(key.version),
                "units": model.units.units,
                "min_units": model.units.minimum,
                "max_units": model.units.maximum,
                "providers": model.providers,
            }
            for key, model in hosted
        ]

    def providers_in_use(self) -> list[str]:
        with self._lock:
            return sorted({provider for model in self._hosted.values() for provider in model.providers})

    # DetectAnomalies

    def detect(
        self, scope: Scope, project: str, version: str, content_type: str, body: bytes
    ) -> Detection | ScriptedAnswer:
        from server.inference.images import check_content_type, decode_image

        check_content_type(content_type)
        scripted = self.scripts.take(scope, project, version)
        if scripted is not None:
            decode_image(body, content_type)  # a scripted answer still needs a valid request
            if "Error" in scripted:
                error = dict(scripted["Error"])
                raise ServiceError(error.pop("Code"), error.pop("Message"), **error)
            return ScriptedAnswer(scripted)
        record = self.models.get(scope, project, version)
        with self._lock:
            hosted = self._hosted.get(record.key)
        if self.shared:
            hosted = self._follow(record, hosted)
        if hosted is None or record.status != statuses.HOSTED:
            raise conflict(
                MODEL,
                version,
                f"Model version {record.key.version} is {record.status}; start it before detecting",
            )
        image = decode_image(body, content_type)
        description = hosted.description
        problem = description.size_problem(image.size)
        if problem is not None:
            raise validation_error(problem)
        try:
            prediction = hosted.units.run(lambda runner: runner.predict(image))
        except QueueFull as error:
            raise throttled(
                f"Too many requests for model version {record.key.version}: {error}", retry_after_seconds=1
            ) from None
        except UnitsClosed:
            raise conflict(MODEL, version, f"Model version {record.key.version} is stopping") from None
        return detection(prediction, description)


def _lease(key: ModelKey) -> tuple[str, str, str, str]:
    return (key.account, key.region, key.project, str(key.version))


@dataclass(frozen=True)
class Detection:
    is_anomalous: bool
    confidence: float
    anomalies: list[AnomalyArea] | None = None  # segmentation models: background first
    mask_png: bytes | None = None


@dataclass(frozen=True)
class ScriptedAnswer:
    """A DetectAnomalyResult set through /_emulator/results: the caller wrote it in the API's shape."""

    document: dict[str, Any]


def detection(prediction: Prediction, description: ModelDescription) -> Detection:
    from server.inference.masks import anomalies, mask_png

    if prediction.class_map is None:
        return Detection(prediction.is_anomalous, prediction.confidence)
    mask = mask_png(prediction.class_map, description.classes)
    if len(mask) > MAX_MASK_BYTES:
        raise internal_error("The anomaly mask is larger than the service allows")
    areas = anomalies(prediction.class_map, description.classes)
    return Detection(prediction.is_anomalous, prediction.confidence, areas, mask)
