"""The OpenAPI converter: a valid OpenAPI 3.1 document that says what the service model says, member by
member, for the L4V model and for the rest-json features L4V does not use (greedy labels, maps, lists
in query strings, raw payloads without declared media types)."""

from __future__ import annotations

import re

import pytest
from botocore.model import ServiceModel, Shape
from openapi_spec_validator import validate

from server.protocol.openapi import openapi_document, path_template
from server.spec import service_model

LOCATIONS = {"uri": "path", "querystring": "query", "header": "header"}


@pytest.fixture(scope="module")
def service() -> ServiceModel:
    return service_model()


@pytest.fixture(scope="module")
def document(service) -> dict:
    document = openapi_document(service, payload_media_types={"DetectAnomalies": ["image/png", "image/jpeg"]})
    validate(document)
    return document


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def operation_of(document: dict, service: ServiceModel, name: str) -> dict:
    http = service.operation_model(name).http
    return document["paths"][path_template(http["requestUri"])][http["method"].lower()]


def assert_constraints(document: dict, shape: Shape, schema: dict, where: str) -> None:
    """Type, min/max, pattern and enum of `shape`, and the same for its members, items and values."""
    schema = resolve(document, schema)
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        assert set(schema["properties"]) == set(shape.members), where
        assert set(schema.get("required", [])) == set(shape.required_members), where
        for name, member in shape.members.items():
            assert_constraints(document, member, schema["properties"][name], f"{where}.{name}")
        return
    if kind == "list":
        assert schema["type"] == "array", where
        assert (schema.get("minItems"), schema.get("maxItems")) == (meta.get("min"), meta.get("max")), where
        assert_constraints(document, shape.member, schema["items"], f"{where}[]")
        return
    if kind == "string":
        assert schema["type"] == "string", where
        assert (schema.get("minLength"), schema.get("maxLength")) == (meta.get("min"), meta.get("max")), where
        assert schema.get("enum") == (list(shape.enum) or None), where
        written = schema.get("pattern", schema.get("x-pattern"))
        assert (written is None) == ("pattern" not in meta), where
        if "pattern" in meta:  # anchored: the model's patterns must match the whole value
            assert re.sub(r"^\^\(\?:(.*)\)\$$", r"\1", written) == meta["pattern"], where
        return
    expected = {"integer": "integer", "long": "integer", "float": "number", "double": "number",
                "boolean": "boolean", "timestamp": "number", "blob": "string"}  # fmt: skip
    assert schema["type"] == expected[kind], where
    if kind in ("integer", "long", "float", "double"):
        assert (schema.get("minimum"), schema.get("maximum")) == (meta.get("min"), meta.get("max")), where


def test_the_document_is_valid_openapi_with_every_operation(document, service):
    assert document["openapi"].startswith("3.")
    ids = [item["operationId"] for path in document["paths"].values() for item in path.values()]
    assert sorted(ids) == sorted(service.operation_names) and len(ids) == 22


def test_every_operation_matches_the_model(document, service):
    for name in service.operation_names:
        model = service.operation_model(name)
        operation = operation_of(document, service, name)
        shape = model.input_shape
        parameters = {(p["name"], p["in"]): p for p in operation.get("parameters", [])}
        located = {
            (member.serialization["name"], LOCATIONS[member.serialization["location"]]): (key, member)
            for key, member in shape.members.items()
            if member.serialization.get("location") in LOCATIONS
        }
        media_type = located.pop(("Content-Type", "header"), None)  # the request body's media type
        assert set(parameters) == set(located), name
        for wire, (key, member) in located.items():
            parameter = parameters[wire]
            assert parameter["required"] == (wire[1] == "path" or key in shape.required_members), (name, wire)
            if member.type_name != "timestamp":
                assert_constraints(document, member, parameter["schema"], f"{name}.{key}")
            else:
                assert parameter["schema"] == {"type": "string", "format": "date-time"}
        body = {
            key: member for key, member in shape.members.items() if "location" not in member.serialization
        }
        payload = shape.serialization.get("payload")
        if payload:
            content = operation["requestBody"]["content"]
            assert all(
                media["schema"] == {"type": "string", "format": "binary"} for media in content.values()
            )
            if media_type is not None:
                assert f"the {media_type[0]} member (Content-Type)" in operation["requestBody"]["description"]
        elif body:
            schema = resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
            assert set(schema["properties"]) == set(body), name
            assert set(schema.get("required", [])) == set(shape.required_members) & set(body), name
            for key, member in body.items():
                assert_constraints(document, member, schema["properties"][key], f"{name}.{key}")
        else:
            assert "requestBody" not in operation, name
        success = str(model.http.get("responseCode", 200))
        output = resolve(document, operation["responses"][success]["content"]["application/json"]["schema"])
        assert set(output["properties"]) == set(model.output_shape.members), name
        for key, member in model.output_shape.members.items():
            assert_constraints(document, member, output["properties"][key], f"{name} output {key}")
        errors = {str(error.metadata["error"]["httpStatusCode"]) for error in model.error_shapes}
        assert set(operation["responses"]) == {success, *errors}, name


def test_errors_are_described_as_the_server_sends_them(document, service):
    operation = operation_of(document, service, "DetectAnomalies")
    throttled = operation["responses"]["429"]
    assert throttled["headers"]["x-amzn-ErrorType"]["schema"]["enum"] == ["ThrottlingException"]
    assert "Retry-After" in throttled["headers"]  # RetryAfterSeconds is a header member
    schema = resolve(document, throttled["content"]["application/json"]["schema"])
    assert schema["properties"]["__type"] == {"type": "string", "const": "ThrottlingException"}
    assert {"Message", "QuotaCode", "ServiceCode"} <= set(schema["properties"])
    assert "RetryAfterSeconds" not in schema["properties"]


def test_detect_anomalies_takes_the_image_as_its_body(document, service):
    operation = operation_of(document, service, "DetectAnomalies")
    assert set(operation["requestBody"]["content"]) == {"image/png", "image/jpeg"}
    assert operation["requestBody"]["required"] is True
    # Swagger UI sends the chosen media type as Content-Type: no separate (required) parameter for it
    assert "Content-Type" not in {parameter["name"] for parameter in operation["parameters"]}


def test_percent_encoded_labels_keep_their_template(document):
    assert "/2020-11-20/tags/{resourceArn}" in document["paths"]
    untag = document["paths"]["/2020-11-20/tags/{resourceArn}"]["delete"]
    keys = next(p for p in untag["parameters"] if p["name"] == "tagKeys")
    assert keys["in"] == "query" and keys["schema"]["type"] == "array" and keys["explode"] is True
    # \p{L} is ECMA-262 in Unicode mode only: kept exactly, out of the way of tools that would misread it
    assert keys["schema"]["items"]["x-pattern"].startswith("^([\\p{L}")


GENERIC = {
    "version": "2.0",
    "metadata": {"apiVersion": "2024-01-01", "endpointPrefix": "things", "protocol": "rest-json",
                 "serviceId": "Things", "signatureVersion": "v4", "uid": "things-2024-01-01"},
    "documentation": "<p>Keeps <b>things</b>.</p>",
    "operations": {
        "PutThing": {
            "name": "PutThing",
            "http": {"method": "PUT", "requestUri": "/things/{Key+}?upload", "responseCode": 201},
            "input": {"shape": "PutThingRequest"},
            "output": {"shape": "PutThingResponse"},
            "errors": [{"shape": "Gone"}, {"shape": "Busy"}],
            "documentation": "<p>Stores a thing.</p>",
        },
    },
    "shapes": {
        "PutThingRequest": {"type": "structure", "required": ["Key", "Data"], "members": {
            "Key": {"shape": "Text", "location": "uri", "locationName": "Key"},
            "Labels": {"shape": "Labels", "location": "querystring", "locationName": "label"},
            "Data": {"shape": "Data"}}, "payload": "Data"},
        "PutThingResponse": {"type": "structure", "members": {
            "Sizes": {"shape": "Sizes"}, "When": {"shape": "When"},
            "ETag": {"shape": "Text", "location": "header", "locationName": "ETag"}}},
        "Text": {"type": "string", "min": 1, "max": 10},
        "Labels": {"type": "list", "member": {"shape": "Text"}, "max": 3},
        "Data": {"type": "blob", "streaming": True},
        "Sizes": {"type": "map", "key": {"shape": "Text"}, "value": {"shape": "Size"}},
        "Size": {"type": "long", "min": 0},
        "When": {"type": "timestamp"},
        "Gone": {"type": "structure", "members": {"Message": {"shape": "Text"}}, "exception": True,
                 "error": {"httpStatusCode": 410}},
        "Busy": {"type": "structure", "members": {"Message": {"shape": "Text"}}, "exception": True,
                 "error": {"httpStatusCode": 410}},
    },
}  # fmt: skip


def test_rest_json_features_beyond_this_service():
    document = openapi_document(ServiceModel(GENERIC, service_name="things"))
    validate(document)
    assert document["info"]["description"] == "Keeps things."
    put = document["paths"]["/things/{Key}"]["put"]  # greedy label, no query in the path
    assert put["description"] == "Stores a thing."
    assert put["requestBody"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    label = next(p for p in put["parameters"] if p["name"] == "label")
    assert label["schema"] == {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 10},
        "maxItems": 3,
    }
    created = put["responses"]["201"]
    assert created["headers"]["ETag"]["schema"]["maxLength"] == 10
    output = document["components"]["schemas"]["PutThingResponse"]
    assert set(output["properties"]) == {"Sizes", "When"}  # the header member is not in the body
    sizes = output["properties"]["Sizes"]
    assert sizes["additionalProperties"] == {"type": "integer", "format": "int64", "minimum": 0}
    assert sizes["propertyNames"] == {"minLength": 1, "maxLength": 10}
    gone = put["responses"]["410"]  # two errors with one status: either body
    assert gone["headers"]["x-amzn-ErrorType"]["schema"]["enum"] == ["Gone", "Busy"]
    assert len(gone["content"]["application/json"]["schema"]["oneOf"]) == 2
