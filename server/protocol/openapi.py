"""An OpenAPI 3.1 document from a botocore rest-json service model.

Generic: it reads only the model (operations' http method, requestUri and responseCode; members'
locations; shapes' types and constraints; error shapes' status codes) and knows nothing of the service.
The one thing a model cannot say, which media types a raw (blob) payload takes, the caller may give per
operation. The document describes the wire as server/protocol/ parses and serialises it: JSON members
in the body, timestamps as epoch seconds in JSON and ISO 8601 in query strings, blobs as base64 in JSON,
errors as `{"__type", "Message", ...}` with the code in `x-amzn-ErrorType`. Patterns that use
Unicode property classes go to `x-pattern` (see `_portable`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

OPENAPI_VERSION = "3.1.0"
COMPONENT = "#/components/schemas/"
_TAG = re.compile(r"</?(\w*)[^>]*>")
_BLOCK = frozenset({"p", "br", "li", "ul", "ol", "div", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "note"})
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

Schema = dict[str, Any]


def openapi_document(
    service: ServiceModel,
    *,
    title: str | None = None,
    version: str | None = None,
    payload_media_types: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The whole document: one path item per requestUri, one operation per model operation."""
    converter = _Converter(service, payload_media_types or {})
    paths: dict[str, dict[str, Any]] = {}
    for name in service.operation_names:
        operation = service.operation_model(name)
        path, method, item = converter.operation(operation)
        paths.setdefault(path, {})[method] = item
    info: dict[str, Any] = {
        "title": title or service.metadata.get("serviceFullName", service.service_name),
        "version": version or service.api_version,
    }
    if service.documentation:
        info["description"] = plain_text(service.documentation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": dict(sorted(converter.schemas.items()))},
    }


def plain_text(documentation: str) -> str:
    """The model's documentation is HTML; OpenAPI descriptions are CommonMark, where bare text is safest."""
    text = _TAG.sub(lambda tag: " " if tag.group(1).lower() in _BLOCK else "", documentation)
    return " ".join(html.unescape(text).split())


def path_template(request_uri: str) -> str:
    """`/things/{Key+}?literal` -> `/things/{Key}`: OpenAPI has no greedy labels nor query in paths."""
    return request_uri.partition("?")[0].replace("+}", "}")


class _Converter:
    def __init__(self, service: ServiceModel, media_types: Mapping[str, Sequence[str]]) -> None:
        self.service = service
        self.media_types = media_types
        self.schemas: dict[str, Schema] = {}

    # Operations

    def operation(self, operation: OperationModel) -> tuple[str, str, dict[str, Any]]:
        http = operation.http
        item: dict[str, Any] = {
            "operationId": operation.name,
            "summary": _WORD.sub(" ", operation.name),
            "tags": [self.service.metadata.get("serviceId", self.service.service_name)],
        }
        if operation.documentation:
            item["description"] = plain_text(operation.documentation)
        if operation.deprecated:
            item["deprecated"] = True
        shape = operation.input_shape
        if shape is not None:
            parameters = self.parameters(shape)
            if parameters:
                item["parameters"] = parameters
            body = self.request_body(operation, shape)
            if body is not None:
                item["requestBody"] = body
        item["responses"] = {
            str(http.get("responseCode", 200)): self.response(operation),
            **self.error_responses(operation),
        }
        return path_template(http["requestUri"]), http["method"].lower(), item

    def parameters(self, shape: Shape) -> list[dict[str, Any]]:
        required = set(shape.required_members)
        where = {"uri": "path", "querystring": "query", "header": "header"}
        parameters = []
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location not in where:
                continue  # body members; `headers` prefix maps have no OpenAPI parameter form
            if location == "header" and member.serialization.get("name", name).lower() == "content-type":
                continue  # the request body's media type in OpenAPI (a parameter of that name is ignored)
            parameter: dict[str, Any] = {
                "name": member.serialization.get("name", name),
                "in": where[location],
                "required": location == "uri" or name in required,
                "schema": self.text_schema(member) if location != "uri" else self.schema(member),
            }
            if location == "querystring" and member.type_name == "list":
                parameter["style"], parameter["explode"] = "form", True  # ?key=a&key=b
            description = self.describe(member)
            if description:
                parameter["description"] = description
            parameters.append(parameter)
        return parameters

    def request_body(self, operation: OperationModel, shape: Shape) -> dict[str, Any] | None:
        payload = shape.serialization.get("payload")
        if payload is not None:
            member = shape.members[payload]
            if member.type_name in ("blob", "string"):
                types = self.media_types.get(operation.name) or (
                    ["application/octet-stream"] if member.type_name == "blob" else ["text/plain"]
                )
                raw = (
                    {"type": "string", "format": "binary"}
                    if member.type_name == "blob"
                    else {"type": "string"}
                )
                media = [
                    key
                    for key, other in shape.members.items()
                    if other.serialization.get("location") == "header"
                    and other.serialization.get("name", key).lower() == "content-type"
                ]
                said = f"; its media type is the {media[0]} member (Content-Type)" if media else ""
                return {
                    "required": payload in shape.required_members,
                    "description": (self.describe(member) or f"{payload}: the raw request body") + said,
                    "content": {kind: {"schema": raw} for kind in types},
                }
            return {
                "required": payload in shape.required_members,
                "content": {"application/json": {"schema": self.schema(member)}},
            }
        if not self._body_members(shape):
            return None
        return {
            "required": bool(set(shape.required_members) & set(self._body_members(shape))),
            "content": {"application/json": {"schema": self.top_level(shape)}},
        }

    def response(self, operation: OperationModel) -> dict[str, Any]:
        shape = operation.output_shape
        answer: dict[str, Any] = {"description": f"{operation.name} succeeded"}
        if shape is None:
            answer["content"] = {"application/json": {"schema": {"type": "object"}}}
            return answer
        headers = self.headers(shape)
        if headers:
            answer["headers"] = headers
        payload = shape.serialization.get("payload")
        if payload is not None and shape.members[payload].type_name in ("blob", "string"):
            raw = {"type": "string", "format": "binary"}
            answer["content"] = {"application/octet-stream": {"schema": raw}}
        elif payload is not None:
            answer["content"] = {"application/json": {"schema": self.schema(shape.members[payload])}}
        else:
            answer["content"] = {"application/json": {"schema": self.top_level(shape)}}
        return answer

    def error_responses(self, operation: OperationModel) -> dict[str, Any]:
        by_status: dict[int, list[Shape]] = {}
        for error in operation.error_shapes:
            by_status.setdefault(error.metadata.get("error", {}).get("httpStatusCode", 400), []).append(error)
        responses = {}
        for status, errors in sorted(by_status.items()):
            refs = [self.error_schema(error) for error in errors]
            headers: dict[str, Any] = {
                "x-amzn-ErrorType": {
                    "description": "the error's code",
                    "schema": {"type": "string", "enum": [error.name for error in errors]},
                }
            }
            for error in errors:
                headers.update(self.headers(error))
            responses[str(status)] = {
                "description": ", ".join(error.name for error in errors),
                "headers": headers,
                "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}},
            }
        return responses

    def headers(self, shape: Shape) -> dict[str, Any]:
        return {
            member.serialization.get("name", name): {"schema": self.text_schema(member)}
            for name, member in shape.members.items()
            if member.serialization.get("location") == "header"
        }

    # Shapes

    def top_level(self, shape: Shape) -> Schema:
        """An input or output structure: only its body members (the others are parameters or headers)."""
        return self._component(shape.name, lambda: self._structure(shape, self._body_members(shape)))

    def error_schema(self, shape: Shape) -> Schema:
        def build() -> Schema:
            schema = self._structure(shape, self._body_members(shape))
            schema["properties"] = {
                "__type": {"type": "string", "const": shape.name},
                **schema["properties"],
            }
            schema["required"] = sorted({"__type", "Message", *schema.get("required", [])})
            schema["properties"].setdefault("Message", {"type": "string"})
            return schema

        return self._component(shape.name, build)

    def schema(self, shape: Shape) -> Schema:
        """A shape as it appears in JSON: structures by reference, scalars inline with constraints."""
        kind = shape.type_name
        if kind == "structure":
            return self._component(shape.name, lambda: self._structure(shape, dict(shape.members)))
        if kind == "list":
            schema: Schema = {"type": "array", "items": self.schema(shape.member)}
            _bounds(schema, shape, "minItems", "maxItems")
        elif kind == "map":
            schema = {"type": "object", "additionalProperties": self.schema(shape.value)}
            key = {
                k: v for k, v in self.schema(shape.key).items() if k in ("pattern", "minLength", "maxLength")
            }
            if key:
                schema["propertyNames"] = key
            _bounds(schema, shape, "minProperties", "maxProperties")
        elif kind == "string":
            schema = {"type": "string"}
            if shape.enum:
                schema["enum"] = list(shape.enum)
            _bounds(schema, shape, "minLength", "maxLength")
            if "pattern" in shape.metadata:
                pattern = _anchored(shape.metadata["pattern"])
                schema["pattern" if _portable(pattern) else "x-pattern"] = pattern
        elif kind in ("integer", "long"):
            schema = {"type": "integer", "format": "int32" if kind == "integer" else "int64"}
            _bounds(schema, shape, "minimum", "maximum")
        elif kind in ("float", "double"):
            schema = {"type": "number", "format": kind}
            _bounds(schema, shape, "minimum", "maximum")
        elif kind == "boolean":
            schema = {"type": "boolean"}
        elif kind == "timestamp":
            schema = {"type": "number", "description": "seconds since 1970-01-01T00:00:00Z"}
        elif kind == "blob":
            schema = {"type": "string", "contentEncoding": "base64"}
        else:
            schema = {}
        return schema

    def text_schema(self, shape: Shape) -> Schema:
        """A member in a header or query string: timestamps are ISO 8601 text there."""
        if shape.type_name == "timestamp":
            return {"type": "string", "format": "date-time"}
        if shape.type_name == "list":
            schema: Schema = {"type": "array", "items": self.text_schema(shape.member)}
            _bounds(schema, shape, "minItems", "maxItems")
            return schema
        return self.schema(shape)

    @staticmethod
    def describe(shape: Shape) -> str:
        return plain_text(shape.documentation) if shape.documentation else ""

    def _structure(self, shape: Shape, members: Mapping[str, Shape]) -> Schema:
        schema: Schema = {"type": "object", "properties": {}}
        for name, member in members.items():
            wire = member.serialization.get("name", name)
            prop = self.schema(member)
            if member.documentation:
                prop = {**prop, "description": plain_text(member.documentation)}
            schema["properties"][wire] = prop
        required = [
            members[name].serialization.get("name", name)
            for name in shape.required_members
            if name in members
        ]
        if required:
            schema["required"] = required
        if shape.documentation:
            schema["description"] = plain_text(shape.documentation)
        return schema

    def _component(self, name: str, build) -> Schema:
        if name not in self.schemas:
            self.schemas[name] = {}  # a placeholder first: recursive shapes refer to themselves
            self.schemas[name] = build()
        return {"$ref": COMPONENT + name}

    @staticmethod
    def _body_members(shape: Shape) -> dict[str, Shape]:
        return {
            name: member for name, member in shape.members.items() if "location" not in member.serialization
        }


def _anchored(pattern: str) -> str:
    """The model's patterns must match the whole value; JSON Schema's match anywhere unless anchored."""
    if pattern.startswith("^") and pattern.endswith("$"):
        return pattern
    return f"^(?:{pattern})$"


def _portable(pattern: str) -> bool:
    """Whether a pattern stays in the regex syntax tools share. Unicode property classes (`\\p{L}`)
    are valid ECMA-262 only in its Unicode mode, which Swagger UI does not use for `pattern` (it
    would refuse good values) and validators check with Python's `re` (which rejects them): those
    patterns go to `x-pattern`, still exact, but out of the way of tools that would misread them."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _bounds(schema: Schema, shape: Shape, low: str, high: str) -> None:
    if "min" in shape.metadata:
        schema[low] = shape.metadata["min"]
    if "max" in shape.metadata:
        schema[high] = shape.metadata["max"]
