"""Turn an operation's output dict, or a ServiceError, into the HTTP response the model describes."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from server.protocol.http import HttpResponse
from server.protocol.values import epoch_seconds
from server.spec.errors import ServiceError

JSON = "application/json"


def serialize_output(operation: OperationModel, output: dict[str, Any]) -> HttpResponse:
    status = operation.http.get("responseCode", 200)
    headers = {"Content-Type": JSON}
    shape = operation.output_shape
    if shape is None:
        return HttpResponse(status, headers, b"{}")
    payload_name = shape.serialization.get("payload")
    body: dict[str, Any] = {}
    for name, member in shape.members.items():
        value = output.get(name)
        if value is None:
            continue  # unset members are left out, never sent as null
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "header":
            headers[wire] = _header_text(member, value)
        elif location == "statusCode":
            status = int(value)
        elif name == payload_name and member.type_name in ("blob", "string"):
            raw = value if isinstance(value, bytes) else str(value).encode()
            return HttpResponse(status, {**headers, "Content-Type": "application/octet-stream"}, raw)
        elif name == payload_name:
            body = to_json(member, value)
        else:
            body[wire] = to_json(member, value)
    return HttpResponse(status, headers, _dump(body))


def serialize_error(service: ServiceModel, error: ServiceError) -> HttpResponse:
    shape = _error_shape(service, error.code)
    status = error.status or (shape.metadata["error"].get("httpStatusCode", 400) if shape else 400)
    headers = {"Content-Type": JSON, "x-amzn-ErrorType": error.code}
    body: dict[str, Any] = {"__type": error.code, "Message": error.message}
    members = shape.members if shape else {}
    for name, value in error.fields.items():
        if value is None:
            continue
        member = members.get(name)
        if member is not None and member.serialization.get("location") == "header":
            headers[member.serialization.get("name", name)] = _header_text(member, value)
        else:
            body[name] = to_json(member, value) if member is not None else value
    return HttpResponse(status, headers, _dump(body))


def to_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            member.serialization.get("name", name): to_json(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [to_json(shape.member, item) for item in value]
    if kind == "map":
        return {str(key): to_json(shape.value, item) for key, item in value.items()}
    if kind == "timestamp":
        return epoch_seconds(value)
    if kind == "blob":
        return base64.b64encode(value).decode("ascii")
    if kind in ("float", "double"):
        return float(value)
    return value


def _header_text(shape: Shape, value: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        return str(epoch_seconds(value))
    return str(value)


def _error_shape(service: ServiceModel, code: str) -> Shape | None:
    return _error_shapes(service).get(code)


@cache
def _error_shapes(service: ServiceModel) -> dict[str, Shape]:
    return {shape.name: shape for shape in service.error_shapes}


def _dump(body: Any) -> bytes:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows "\ud800"; UTF-8 does not), for example a bad value repeated in
        # an error message: \u escapes keep the answer valid JSON and the value recognisable.
        return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode("ascii")
