"""Turn an HTTP request into the operation's input dict, reading each member from where the model puts it.

Types are checked here (a string where a number belongs is refused); constraints are checked by
`validation`. Member names in the result are the model's names (PascalCase), as boto3 callers write them.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel, Shape

from server.protocol import values
from server.protocol.http import HttpRequest
from server.spec import jsontext
from server.spec.errors import serialization_error, validation_error

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def field_name(member: str) -> str:
    """How AWS names a member in validation messages: lowerCamelCase."""
    return member[:1].lower() + member[1:]


def parse_input(operation: OperationModel, request: HttpRequest, labels: dict[str, str]) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    query = parse_qs(request.query_string, keep_blank_values=True)
    payload_name = shape.serialization.get("payload")
    params: dict[str, Any] = {}
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = _from_text(member, labels[wire], field_name(name))
        elif location == "querystring":
            value = _from_query(member, wire, query, field_name(name))
            if value is not None:
                params[name] = value
        elif location == "header":
            text = request.headers.get(wire.lower())
            if text is not None and text != "":
                params[name] = _from_text(member, text, field_name(name))
        elif location == "headers":
            prefix = wire.lower()
            found = {
                key[len(prefix) :]: val for key, val in request.headers.items() if key.startswith(prefix)
            }
            if found:
                params[name] = found
        elif name == payload_name:
            value = _from_payload(member, request.body)
            if value is not None:
                params[name] = value
        else:
            body_members[name] = member
    if body_members and payload_name is None:
        document = _json_body(request.body)
        for name, member in body_members.items():
            wire = member.serialization.get("name", name)
            if wire in document and document[wire] is not None:
                params[name] = from_json(member, document[wire], field_name(name))
    return params


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}  # botocore sends no body at all when every body member is absent
    try:
        document = jsontext.loads(body)
    except jsontext.JsonError as error:
        raise serialization_error(f"The request body cannot be read: {error}") from None
    except ValueError as error:  # UnicodeDecodeError included
        raise serialization_error(f"The request body is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise serialization_error(f"The request body must be a JSON object, not {type(document).__name__}")
    return document


def _from_payload(member: Shape, body: bytes) -> Any:
    if member.type_name == "blob":
        return body if body else None
    if member.type_name == "string":
        return body.decode("utf-8", errors="replace") if body else None
    if not body.strip():
        return None
    return from_json(member, _json_body(body), field_name(member.name))


def _from_query(member: Shape, wire: str, query: dict[str, list[str]], field: str) -> Any:
    if member.type_name == "list":
        items = query.get(wire)
        if items is None:
            return None
        return [_from_text(member.member, item, f"{field}.member") for item in items]
    if member.type_name == "map":
        # A querystring map takes every parameter that no other member claimed; none in this API.
        return None
    items = query.get(wire)
    if not items or items[0] == "":
        return None  # botocore sends an empty NextToken as `nextToken=`; that means absent
    return _from_text(member, items[0], field)


def _from_text(member: Shape, text: str, field: str) -> Any:
    kind = member.type_name
    if kind in ("integer", "long"):
        return values.parse_integer(text, field)
    if kind in ("float", "double"):
        return values.parse_float(text, field)
    if kind == "boolean":
        return values.parse_boolean(text, field)
    if kind == "timestamp":
        return values.parse_timestamp(text, field)
    if kind == "blob":
        return _decode_base64(text, field)
    return text


def from_json(member: Shape, value: Any, field: str) -> Any:
    kind = member.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong_type(field, "an object", value)
        result = {}
        for name, child in member.members.items():
            wire = child.serialization.get("name", name)
            if wire in value and value[wire] is not None:
                result[name] = from_json(child, value[wire], f"{field}.{field_name(name)}")
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise _wrong_type(field, "a list", value)
        return [
            from_json(member.member, item, f"{field}.{index}.member") for index, item in enumerate(value, 1)
        ]
    if kind == "map":
        if not isinstance(value, dict):
            raise _wrong_type(field, "an object", value)
        return {
            from_json(member.key, key, f"{field}.key"): from_json(member.value, item, f"{field}.{key}")
            for key, item in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _wrong_type(field, "a string", value)
        if not value.isascii() and _LONE_SURROGATE.search(value):
            # JSON's \ud800 escapes can name half a character; no store or message could hold it.
            raise validation_error(f"Value at '{field}' is not valid Unicode: it holds a lone surrogate")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _wrong_type(field, "a boolean", value)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(field, "an integer", value)
        return value
    if kind in ("float", "double", "timestamp"):
        if kind == "timestamp" and isinstance(value, str):
            return values.parse_timestamp(value, field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type(field, "a timestamp" if kind == "timestamp" else "a number", value)
        try:
            return values.finite(float(value), value, field)
        except OverflowError:  # an integer with hundreds of digits
            raise validation_error(f"Value at '{field}' must be a finite number") from None
    if kind == "blob":
        if not isinstance(value, str):
            raise _wrong_type(field, "a base64 string", value)
        return _decode_base64(value, field)
    return value


def _decode_base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise validation_error(f"Value at '{field}' must be base64-encoded") from None


def _wrong_type(field: str, expected: str, value: Any) -> Exception:
    got = "null" if value is None else type(value).__name__
    return validation_error(f"Value at '{field}' must be {expected}, not {got}")
