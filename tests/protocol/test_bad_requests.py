"""Hostile and malformed HTTP against the live server: always a JSON AWS error with the right status."""

from __future__ import annotations

import json

import pytest

from tests.support.onnx_models import image_bytes, solid

JSON_HEADERS = {"Content-Type": "application/json"}


def assert_aws_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["content-type"] == "application/json"
    assert len(response.headers["x-amzn-RequestId"]) == 36
    body = response.json()
    assert "detail" not in body
    assert isinstance(body["Message"], str) and body["Message"]
    return body


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"\xff\xfe\x00", "not valid JSON"),
    ],
)
def test_unreadable_json_body(http, body, fragment):
    response = http.post("/2020-11-20/projects", content=body, headers=JSON_HEADERS)
    assert fragment in assert_aws_error(response, 400, "SerializationException")["Message"]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"ProjectName": 5}, "Value at 'projectName' must be a string, not int"),
        ({"ProjectName": ["a"]}, "must be a string, not list"),
        ({}, "Value null at 'projectName'"),
    ],
)
def test_wrong_types_and_missing_members(http, document, fragment):
    response = http.post("/2020-11-20/projects", json=document)
    assert fragment in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_empty_body_counts_as_no_members(http):
    response = http.post("/2020-11-20/projects", content=b"")
    assert "Value null at 'projectName'" in assert_aws_error(response, 400, "ValidationException")["Message"]


@pytest.mark.parametrize("query", ["maxResults=abc", "maxResults=1.5", "maxResults=0", "maxResults=101"])
def test_bad_query_values(http, query):
    body = assert_aws_error(http.get(f"/2020-11-20/projects?{query}"), 400, "ValidationException")
    assert "maxResults" in body["Message"]


def test_empty_next_token_means_first_page(http):
    http.post("/2020-11-20/projects", json={"ProjectName": "p1"})
    response = http.get("/2020-11-20/projects?nextToken=&maxResults=5")
    assert response.status_code == 200
    assert [p["ProjectName"] for p in response.json()["Projects"]] == ["p1"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/", 404, "UnknownOperationException"),  # GET / leads to the console
        ("GET", "/consoles", 404, "UnknownOperationException"),
        ("GET", "/2020-11-20/nothing", 404, "UnknownOperationException"),
        ("GET", "/2020-11-20/projects/p1/", 404, "UnknownOperationException"),
        ("GET", "/_emulator/nothing", 404, "UnknownOperationException"),
        ("PUT", "/2020-11-20/projects", 405, "MethodNotAllowedException"),
        ("POST", "/2020-11-20/projects/p1", 405, "MethodNotAllowedException"),
        ("GET", "/2020-11-20/projects/p1/models/1/detect", 405, "MethodNotAllowedException"),
        ("POST", "/docs", 404, "UnknownOperationException"),  # /docs serves GET only
    ],
)
def test_unknown_paths_and_methods(http, method, path, status, code):
    assert_aws_error(http.request(method, path), status, code)


def test_hostile_path_is_validated_not_served(http):
    response = http.get("/2020-11-20/projects/..%2F..%2Fetc%2Fpasswd")
    assert "projectName" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_huge_body_is_refused_before_it_is_read(http):
    response = http.post(
        "/2020-11-20/projects", content=b"{" + b" " * (17 * 1024 * 1024) + b"}", headers=JSON_HEADERS
    )
    assert "limit is 16777216 bytes" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_huge_chunked_body_is_refused(http):
    def chunks():
        for _ in range(20):
            yield b" " * (1024 * 1024)

    response = http.post("/2020-11-20/projects", content=chunks(), headers=JSON_HEADERS)
    assert "limit is" in assert_aws_error(response, 400, "ValidationException")["Message"]


def test_unknown_json_members_are_ignored(http):
    response = http.post("/2020-11-20/projects", json={"ProjectName": "p1", "Surprise": {"a": 1}})
    assert response.status_code == 200
    assert json.loads(response.content)["ProjectMetadata"]["ProjectName"] == "p1"


def test_timestamps_are_epoch_seconds(http):
    created = http.post("/2020-11-20/projects", json={"ProjectName": "p1"}).json()
    stamp = created["ProjectMetadata"]["CreationTimestamp"]
    assert isinstance(stamp, float) and stamp > 1.7e9
    assert round(stamp, 3) == stamp


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/2020-11-20/projects", b'{"ProjectName": "cut-off"}'),
        ("/_emulator/results", b'{"project": "cut-off", "version": "1", "results": [{"IsAnomalous": true}]}'),
    ],
)
def test_a_request_cut_off_mid_body_changes_nothing(http, emulator, path, body):
    """The client promised more bytes, sent a complete-looking JSON document and hung up: no handler runs,
    and the server says nothing of it in its log beyond the access line."""
    import socket
    import time
    from urllib.parse import urlsplit

    url = urlsplit(emulator.url)
    logged = len(emulator.output())
    with socket.create_connection((url.hostname, url.port), timeout=5) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {len(body) + 50}\r\n\r\n".encode()
            + body
        )
        time.sleep(0.2)  # let the server read what came
    time.sleep(0.3)
    assert "cut-off" not in http.get("/2020-11-20/projects").text
    png = image_bytes(solid(64, 64, (10, 10, 10)))
    detect = http.post("/2020-11-20/projects/cut-off/models/1/detect", content=png,
                       headers={"Content-Type": "image/png"})  # fmt: skip
    assert detect.status_code == 404  # no scripted result answers it
    assert "Traceback" not in emulator.output()[logged:]
