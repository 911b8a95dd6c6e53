"""Whether a client token's remembered answer still describes the world, so that replaying it is honest.

A token makes a call run once, but a later call can undo its effect: AWS's batch sample sends the token
"RunOnce" to every StartModel and StopModel, so start, stop, start with one token must host the model
again, not replay "STARTING_HOSTING" for a model that stays stopped. When the effect no longer holds,
the repeat is a new request. The model-version lifecycle stays the backend's: this only reads states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.backend import statuses
from server.backend.assembly import Backend
from server.backend.scope import Scope
from server.spec.errors import ServiceError

_HOSTING = (statuses.STARTING_HOSTING, statuses.HOSTED)


def effect_holds(backend: Backend, scope: Scope, operation: str, params: dict[str, Any], answer: Any) -> bool:
    project = params.get("ProjectName", "")
    if operation == "StartModel":
        return _model_status(backend, scope, project, params["ModelVersion"]) in _HOSTING
    if operation == "StopModel":
        status = _model_status(backend, scope, project, params["ModelVersion"])
        return status is not None and status not in _HOSTING
    if operation == "CreateModel":
        version = answer.get("ModelMetadata", {}).get("ModelVersion") if isinstance(answer, dict) else None
        return version is not None and _model_status(backend, scope, project, version) is not None
    if operation == "DeleteModel":
        status = _model_status(backend, scope, project, params["ModelVersion"])
        return status in (None, statuses.DELETING)
    if operation == "CreateDataset":
        return _exists(lambda: backend.datasets.get(scope, project, params["DatasetType"]))
    if operation == "DeleteDataset":
        return not _exists(lambda: backend.datasets.get(scope, project, params["DatasetType"]))
    if operation == "CreateProject":
        return _exists(lambda: backend.projects.get(scope, project))
    if operation == "DeleteProject":
        return not _exists(lambda: backend.projects.get(scope, project))
    return True  # UpdateDatasetEntries, StartModelPackagingJob: nothing undoes them


def _model_status(backend: Backend, scope: Scope, project: str, version: str) -> str | None:
    try:
        return backend.models.get(scope, project, version).status
    except ServiceError:  # the project or the version is gone
        return None


def _exists(lookup: Callable[[], object]) -> bool:
    try:
        lookup()
    except ServiceError:
        return False
    return True
