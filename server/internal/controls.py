"""Test controls under /_emulator/: scripted DetectAnomalies answers and state-change delays."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.backend.scope import Scope
from server.emulator import Emulator
from server.protocol.asgi import read_request
from server.protocol.parsing import from_json
from server.protocol.validation import validate_input
from server.spec import jsontext
from server.spec.errors import ServiceError, validation_error


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


async def set_results(request: Request) -> Response:
    """Body: {"project", "version" (or "*"), "results": [DetectAnomalyResult | {"Error": {...}}],
    "repeat": false, "account", "region"}."""
    emulator = _emulator(request)
    try:
        body = await _json_object(request)
        scope, project, version = _target(emulator, body)
        answers = body.get("results")
        if not isinstance(answers, list) or not answers:
            raise validation_error("results must be a non-empty list")
        checked = [_answer(emulator, answer, index) for index, answer in enumerate(answers)]
        repeat = body.get("repeat", False)
        if not isinstance(repeat, bool):
            raise validation_error("repeat must be true or false")
    except ServiceError as error:
        return emulator.error_response(error)
    emulator.backend.scripts.set(scope, project, version, checked, repeat)
    return Response(status_code=204)


def clear_results(request: Request) -> Response:
    _emulator(request).backend.scripts.clear()
    return Response(status_code=204)


def get_delays(request: Request) -> Response:
    return JSONResponse(_emulator(request).backend.timing.delays())


async def set_delays(request: Request) -> Response:
    """Body: {"hosting": 2.0, "stopping": 1.0, "training": ..., "dataset_import": ..., "packaging": ...}."""
    emulator = _emulator(request)
    try:
        body = await _json_object(request)
        return JSONResponse(emulator.backend.timing.set_delays(body))
    except ValueError as error:
        return emulator.error_response(validation_error(str(error)))
    except ServiceError as error:
        return emulator.error_response(error)


async def _json_object(request: Request) -> dict[str, Any]:
    # The same body limit as the L4V API: a control call is no way around it.
    settings = _emulator(request).settings
    body = (
        await read_request(request.scope, request.receive, settings.max_body_bytes, settings.body_timeout)
    ).body
    try:
        document = jsontext.loads(body or b"{}")
    except ValueError as error:  # jsontext.JsonError (too deep) included
        raise validation_error(f"The body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise validation_error("The body must be a JSON object")
    return document


def _target(emulator: Emulator, body: dict[str, Any]) -> tuple[Scope, str, str]:
    project, version = body.get("project"), body.get("version")
    if not isinstance(project, str) or not isinstance(version, str):
        raise validation_error("project and version are required strings (version may be '*')")
    service = emulator.dispatcher.service
    checked_version = version if version != "*" else "1"
    validate_input(
        service.operation_model("DescribeModel").input_shape,
        {"ProjectName": project, "ModelVersion": checked_version},
    )
    scope = Scope(
        body.get("account") or emulator.settings.account, body.get("region") or emulator.settings.region
    )
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
    Route("/_emulator/results", set_results, methods=["POST"]),
    Route("/_emulator/results", clear_results, methods=["DELETE"]),
    Route("/_emulator/delays", get_delays, methods=["GET"]),
    Route("/_emulator/delays", set_delays, methods=["POST"]),
]
