"""/_emulator/results and /_emulator/delays: scripted DetectAnomalies answers and state-change delays."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, field_validator
from starlette.responses import Response

from server.backend.scope import Scope
from server.emulator import Emulator
from server.internal.emulator_route import EmulatorRoute, emulator_of
from server.protocol.parsing import from_json
from server.protocol.validation import validate_input
from server.spec.errors import validation_error

Running = Annotated[Emulator, Depends(emulator_of)]


class ScriptedResults(BaseModel):
    project: str
    version: str = Field(description="a model version, `latest`, or `*` for every version")
    results: list[dict[str, Any]] = Field(
        description='one per call, in order: a DetectAnomalyResult (`{"IsAnomalous": true, '
        '"Confidence": 0.97}`, with Anomalies and a base64 AnomalyMask for segmentation), or a modeled '
        'error (`{"Error": {"Code": "ThrottlingException", "Message": "slow down"}}`); '
        "checked against the service model",
        json_schema_extra={"minItems": 1},
    )
    repeat: StrictBool = Field(
        False,
        description="when the list runs out, repeat the last answer (otherwise the model answers again)",
    )
    account: str | None = Field(None, description="default: the server's account")
    region: str | None = Field(None, description="default: the server's region")

    @field_validator("results")
    @classmethod
    def _not_empty(cls, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not results:
            raise ValueError("results must be a non-empty list")
        return results


class Delays(BaseModel):
    """Seconds each transitional state lasts at least (0 to 3600)."""

    hosting: float = Field(description="STARTING_HOSTING")
    stopping: float = Field(description="STOPPING_HOSTING")
    training: float = Field(description="TRAINING")
    dataset_import: float = Field(description="a dataset's CREATE_IN_PROGRESS")
    packaging: float = Field(description="a packaging job's RUNNING")


def _seconds(state: str) -> Any:
    return Field(None, description=state, json_schema_extra={"minimum": 0, "maximum": 3600})


class DelayChanges(BaseModel):
    """Any of the delays, in seconds from 0 to 3600; the others keep their values."""

    # Names and range are checked by the backend, the one place that knows the delays: an unknown name
    # reaches it (and is refused there, naming the known ones).
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    # Left out: unchanged. None is only the default: null is no number of seconds. The range is
    # documented here and checked by the backend.
    hosting: StrictFloat = _seconds("STARTING_HOSTING")
    stopping: StrictFloat = _seconds("STOPPING_HOSTING")
    training: StrictFloat = _seconds("TRAINING")
    dataset_import: StrictFloat = _seconds("a dataset's CREATE_IN_PROGRESS")
    packaging: StrictFloat = _seconds("a packaging job's RUNNING")


def set_results(body: ScriptedResults, emulator: Running) -> Response:
    scope, project, version = _target(emulator, body)
    checked = [_answer(emulator, answer, index) for index, answer in enumerate(body.results)]
    emulator.backend.scripts.set(scope, project, version, checked, body.repeat)
    return Response(status_code=204)


def clear_results(emulator: Running) -> Response:
    emulator.backend.scripts.clear()
    return Response(status_code=204)


def get_delays(emulator: Running) -> Delays:
    return Delays.model_validate(emulator.backend.timing.delays())


def set_delays(emulator: Running, changes: DelayChanges | None = None) -> Delays:
    try:
        asked = changes.model_dump(exclude_unset=True) if changes is not None else {}
        return Delays.model_validate(emulator.backend.timing.set_delays(asked))
    except ValueError as error:
        raise validation_error(str(error)) from None


def _target(emulator: Emulator, body: ScriptedResults) -> tuple[Scope, str, str]:
    project, version = body.project, body.version
    service = emulator.dispatcher.service
    checked_version = version if version != "*" else "1"
    validate_input(
        service.operation_model("DescribeModel").input_shape,
        {"ProjectName": project, "ModelVersion": checked_version},
    )
    scope = Scope(body.account or emulator.settings.account, body.region or emulator.settings.region)
    return scope, project, version


def _answer(emulator: Emulator, answer: Any, index: int) -> dict[str, Any]:
    """A DetectAnomalyResult checked against the service model (types, base64 mask), or a modeled error."""
    service = emulator.dispatcher.service
    operation = service.operation_model("DetectAnomalies")
    where = f"results.{index}"
    if isinstance(answer, dict) and "Error" in answer:
        error = answer["Error"]
        codes = {shape.name: shape for shape in operation.error_shapes}
        code = error.get("Code") if isinstance(error, dict) else None
        if not isinstance(code, str) or code not in codes:  # a list or a dict is no key
            raise validation_error(f"{where}.Error.Code must be one of {', '.join(sorted(codes))}")
        if not isinstance(error.get("Message"), str):
            raise validation_error(f"{where}.Error.Message must be a string")
        shape = codes[error["Code"]]
        fields = {key: value for key, value in error.items() if key not in ("Code", "Message")}
        unknown = set(fields) - set(shape.members)
        if unknown:
            raise validation_error(f"{where}.Error: {error['Code']} has no fields {sorted(unknown)}")
        return {"Error": {"Code": error["Code"], "Message": error["Message"], **fields}}
    shape = operation.output_shape.members["DetectAnomalyResult"]
    result = from_json(shape, answer, where)
    result.setdefault("Source", {"Type": "direct"})
    for required in ("IsAnomalous", "Confidence"):
        if required not in result:
            raise validation_error(f"{where} needs {required}")
    return result


routes = [
    EmulatorRoute(
        "/_emulator/results",
        set_results,
        methods=["POST"],
        status_code=204,
        summary="Script DetectAnomalies answers",
        description="What DetectAnomalies answers for a project and version, one result per call, before "
        "the model answers again.",
    ),
    EmulatorRoute(
        "/_emulator/results",
        clear_results,
        methods=["DELETE"],
        status_code=204,
        summary="Forget scripted answers",
    ),
    EmulatorRoute("/_emulator/delays", get_delays, methods=["GET"], response_model=Delays, summary="Delays"),
    EmulatorRoute(
        "/_emulator/delays",
        set_delays,
        methods=["POST"],
        response_model=Delays,
        summary="Change delays",
        description="Change some delays; the answer holds all of them.",
    ),
]
