"""The model-version lifecycle: the one component that creates, changes and removes model versions.

Every change of status is a named transition, allowed only from the states the service allows it from:

    CreateModel:  (new) -> TRAINING -> TRAINED | TRAINING_FAILED
    import/train: (new) -> TRAINED
    StartModel:   TRAINED | HOSTING_FAILED -> STARTING_HOSTING -> HOSTED | HOSTING_FAILED
    StopModel:    HOSTED -> STOPPING_HOSTING -> TRAINED
    DeleteModel:  TRAINED | TRAINING_FAILED | HOSTING_FAILED -> DELETING -> (gone)

Each transition is one atomic compare-and-set on the row (ModelTable.write_transition), so two requests
racing on one version cannot both win. Other components read records freely but never write them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from server.backend import statuses
from server.backend.scope import Scope
from server.store.models import ModelKey, ModelRecord, ModelTable, Performance


@dataclass(frozen=True)
class OutputLocation:
    """CreateModel's OutputConfig: where the evaluation files go."""

    bucket: str
    prefix: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """What a finished training leaves: its scores and the two files it wrote in the output bucket."""

    task: str
    performance: Performance
    manifest_key: str
    result_key: str
    ended: float


Change = tuple[ModelRecord | None, ModelRecord | None]  # (before, after): see ModelTable.write_transition


class ModelLifecycle:
    def __init__(self, table: ModelTable, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock

    # Creation: the row comes first so the version number is taken; None when the project is gone.

    def begin_training(
        self,
        scope: Scope,
        project: str,
        description: str | None,
        output: OutputLocation,
        kms_key_id: str | None,
    ) -> ModelRecord | None:
        return self._create(scope, project, status=statuses.TRAINING, status_message=TRAINING_MESSAGE,
                            description=description, output_bucket=output.bucket, output_prefix=output.prefix,
                            kms_key_id=kms_key_id)  # fmt: skip

    def add_trained(
        self,
        scope: Scope,
        project: str,
        description: str | None,
        task: str,
        source: str | None,
        performance: Performance | None = None,
    ) -> ModelRecord | None:
        """A version that is ready at once: an imported bundle, or one the `train` command made (and scored)."""
        message = statuses.IMPORTED_MESSAGE if performance is None else statuses.MESSAGES[statuses.TRAINED]
        return self._create(scope, project, status=statuses.TRAINED, status_message=message,
                            description=description, task=task, source=source, performance=performance)  # fmt: skip

    def _create(self, scope: Scope, project: str, **fields: Any) -> ModelRecord | None:
        def make(key: ModelKey) -> ModelRecord:
            return ModelRecord(key=key, created=round(self.clock(), 3), **fields)

        return self.table.insert_next(scope.account, scope.region, project, make)

    # Training

    def training_progress(self, key: ModelKey, phase: str) -> None:
        self._move(key, (statuses.TRAINING,), status_message=f"Training: {phase}")

    def training_succeeded(self, key: ModelKey, source: str, evaluation: Evaluation) -> ModelRecord | None:
        """None if the version was deleted or reset meanwhile."""
        _, after = self._move(key, (statuses.TRAINING,), status=statuses.TRAINED,
                              status_message=statuses.MESSAGES[statuses.TRAINED], task=evaluation.task,
                              source=source, performance=evaluation.performance,
                              evaluation_manifest_key=evaluation.manifest_key,
                              evaluation_result_key=evaluation.result_key, evaluation_end=evaluation.ended)  # fmt: skip
        return after

    def training_failed(self, key: ModelKey, message: str) -> None:
        self._move(key, (statuses.TRAINING,), status=statuses.TRAINING_FAILED, status_message=message[:1000])

    # Hosting

    def start_hosting(self, key: ModelKey, minimum: int, maximum: int | None) -> Change:
        return self._move(key, statuses.STARTABLE, status=statuses.STARTING_HOSTING,
                          status_message=statuses.MESSAGES[statuses.STARTING_HOSTING], min_units=minimum,
                          max_units=maximum)  # fmt: skip

    def hosting_started(self, key: ModelKey) -> ModelRecord | None:
        """None if the version was deleted, stopped or reset while it loaded."""
        _, after = self._move(key, (statuses.STARTING_HOSTING,), status=statuses.HOSTED,
                              status_message=statuses.MESSAGES[statuses.HOSTED])  # fmt: skip
        return after

    def hosting_failed(self, key: ModelKey, message: str) -> None:
        self._move(
            key, (statuses.STARTING_HOSTING,), status=statuses.HOSTING_FAILED, status_message=message[:1000]
        )

    def stop_hosting(self, key: ModelKey) -> Change:
        return self._move(key, (statuses.HOSTED,), status=statuses.STOPPING_HOSTING,
                          status_message=statuses.MESSAGES[statuses.STOPPING_HOSTING])  # fmt: skip

    def hosting_stopped(self, key: ModelKey) -> None:
        self._move(key, (statuses.STOPPING_HOSTING,), status=statuses.TRAINED,
                   status_message=statuses.STOPPED_MESSAGE)  # fmt: skip

    # Deletion

    def begin_deletion(self, key: ModelKey) -> Change:
        return self._move(key, statuses.DELETABLE, status=statuses.DELETING)

    def remove(self, key: ModelKey) -> None:
        """The row goes (its tags with it); the caller has removed the files, or never wrote them."""
        self.table.remove_row(key)

    # After a restart (kill -9 included) nothing stays in a transitional state.

    def recover(self) -> tuple[list[ModelRecord], list[ModelRecord]]:
        """TRAINING fails; STOPPING_HOSTING ends; HOSTED goes back to STARTING_HOSTING.
        Returns (versions to host again, versions whose deletion must be finished)."""
        for record in self.table.with_status((statuses.TRAINING,)):
            self.training_failed(record.key, RESTARTED_DURING_TRAINING)
        for record in self.table.with_status((statuses.STOPPING_HOSTING,)):
            self.hosting_stopped(record.key)
        to_host = []
        for record in self.table.with_status((statuses.HOSTED, statuses.STARTING_HOSTING)):
            _, after = self._move(record.key, (statuses.HOSTED, statuses.STARTING_HOSTING),
                                  status=statuses.STARTING_HOSTING,
                                  status_message=statuses.MESSAGES[statuses.STARTING_HOSTING])  # fmt: skip
            if after is not None:
                to_host.append(after)
        return to_host, self.table.with_status((statuses.DELETING,))

    def _move(self, key: ModelKey, allowed: Iterable[str], **changes: Any) -> Change:
        return self.table.write_transition(key, allowed, **changes)


TRAINING_MESSAGE = "The model is being trained."
RESTARTED_DURING_TRAINING = "The server restarted during training; train again."
