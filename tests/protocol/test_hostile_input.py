"""Input built to break parsers and stores: deep nesting, lone surrogates, numbers too big for SQLite.
Each once gave a 500; each must be an AWS-style 4xx."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from server.protocol.serializing import serialize_error
from server.spec import jsontext, service_model
from server.spec.errors import validation_error
from tests.support.errors import assert_aws_error

JSON_HEADERS = {"Content-Type": "application/json"}
DEEP = 100_000


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


@pytest.mark.parametrize(
    "body",
    [
        b'{"ProjectName":' + nested(DEEP) + b"}",
        b'{"Unknown":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
        nested(DEEP),
        b'{"ProjectName":' + b"[" * DEEP,  # cut short, and deep before the error
    ],
    ids=["member", "unknown-member", "top-level", "unterminated"],
)
def test_deeply_nested_json_body(http, body):
    response = http.post("/2020-11-20/projects", content=body, headers=JSON_HEADERS)
    assert "nests more than 64" in assert_aws_error(response, 400, "SerializationException")["Message"]


def test_nesting_inside_strings_is_text(http):
    name = "[" * 1000
    response = http.post("/2020-11-20/projects", json={"ProjectName": name})
    assert "projectName" in assert_aws_error(response, 400, "ValidationException")["Message"]


@pytest.mark.parametrize("path", ["/_emulator/delays", "/_emulator/results"])
def test_deeply_nested_emulator_bodies(http, path):
    response = http.post(path, content=b'{"hosting":' + nested(DEEP) + b"}", headers=JSON_HEADERS)
    assert "nests more than" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_deeply_nested_compiler_options(lfv):
    lfv.create_project(ProjectName="p")
    greengrass = {
        "CompilerOptions": "[" * 1024,  # the longest the model allows: 1024 levels, never closed
        "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"},
        "S3OutputLocation": {"Bucket": "bucket"},
        "ComponentName": "component",
    }
    with pytest.raises(lfv.exceptions.ValidationException, match="CompilerOptions must be a JSON object"):
        lfv.start_model_packaging_job(
            ProjectName="p", ModelVersion="1", Configuration={"Greengrass": greengrass}
        )


def test_depth_is_measured_outside_strings_only():
    assert jsontext.nesting_depth('{"a": "[[[[{{{{", "b": [[1], {"c": [2]}]}') == 4
    assert jsontext.nesting_depth('["\\"[[[", [[]]]') == 3
    assert jsontext.nesting_depth("[" * 500 + "]" * 500) == 500  # beyond the plain loop's range
    assert jsontext.loads(b'{"a": [[1]]}') == {"a": [[1]]}
    with pytest.raises(jsontext.JsonError, match="nests more than 64"):
        jsontext.loads("[" * 65 + "]" * 65)


@pytest.mark.parametrize("document", [b'{"ProjectName": "\\ud800"}', b'{"ProjectName": "ok\\udfff"}'])
def test_lone_surrogates(http, document):
    response = http.post("/2020-11-20/projects", content=document, headers=JSON_HEADERS)
    assert "lone surrogate" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_lone_surrogates_in_unknown_members_are_ignored(http):
    document = b'{"ProjectName": "p", "Unused": "\\ud800"}'
    response = http.post("/2020-11-20/projects", content=document, headers=JSON_HEADERS)
    assert response.status_code == 200, response.text


def test_lone_surrogates_in_stored_strings(lfv, http):
    http.post("/2020-11-20/projects", json={"ProjectName": "p"})
    body = b'{"DatasetType":"train","DatasetSource":{"GroundTruthManifest":{"S3Object":'
    body += b'{"Bucket":"b","Key":"k","VersionId":"v\\ud800"}}}}'
    response = http.post("/2020-11-20/projects/p/datasets", content=body, headers=JSON_HEADERS)
    assert "lone surrogate" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_an_error_message_holding_a_lone_surrogate_is_escaped():
    response = serialize_error(service_model(), validation_error("Value '\ud800' at 'projectName' failed"))
    assert response.status == 400
    assert b"\\ud800" in response.body
    response.body.decode("utf-8")  # valid UTF-8, valid JSON


@pytest.mark.parametrize("digits", [19, 20, 40])
def test_model_arn_with_a_huge_version(lfv, http, digits):
    lfv.create_project(ProjectName="p")
    arn = f"arn:aws:lookoutvision:us-east-1:123456789012:model/p/{'9' * digits}"
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        lfv.list_tags_for_resource(ResourceArn=arn)
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        lfv.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    response = http.delete(f"/2020-11-20/tags/{quote(arn, safe='')}?tagKeys=k")
    assert_aws_error(response, 404, "ResourceNotFoundException")


@pytest.mark.parametrize(
    ("confidence", "fragment"),
    [(b"1" + b"0" * 400, "finite number"), (b"1e400", "finite number"), (b"NaN", "NaN is not a JSON value")],
)
def test_numbers_json_cannot_mean(http, confidence, fragment):
    body = (
        b'{"project": "p", "version": "1", "results": [{"IsAnomalous": true, "Confidence": '
        + confidence
        + b"}]}"
    )
    response = http.post("/_emulator/results", content=body, headers=JSON_HEADERS)
    assert fragment in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_infinite_numbers_in_bodies_and_queries(http):
    response = http.post(
        "/2020-11-20/projects", content=b'{"ProjectName": "p", "x": -Infinity}', headers=JSON_HEADERS
    )
    assert (
        "-Infinity is not a JSON value"
        in assert_aws_error(response, 400, "SerializationException")["Message"]
    )
    response = http.get("/2020-11-20/projects/p/datasets/train/entries?createdBefore=1e400")
    assert "finite number" in assert_aws_error(response, 400, "ValidationException")["Message"]
