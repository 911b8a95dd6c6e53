"""Hostile requests generated from the service model, for bench/fuzz.py and tests/protocol/test_fuzz.py.

Every operation's input shape is walked with botocore's ServiceModel; each request starts from a valid
example (tests/support/shapes.py) and breaks one or two members: missing, wrong type, just outside its
length or range, off its pattern or enum, unicode (lone surrogates included), huge, deeply nested. The
request is then built by hand from the model's member locations (URI label, query string, header, JSON
body or payload), since botocore's own serializer refuses most broken values. Other requests break the
protocol itself (bodies, paths, headers, methods) or call the emulator's /_emulator/ endpoints.

Whatever is sent, the server must answer: a 2xx, or a 4xx with the AWS error shape; never a 5xx.
"""

from __future__ import annotations

import base64
import copy
import io
import itertools
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from botocore.model import OperationModel, ServiceModel, Shape

from server.spec import service_model
from tests.support.shapes import example_input

PROJECT = "my-project_1"  # the example ProjectName, so that mutated requests reach real resources
DEEP = 50_000  # nesting levels of the deep bodies: far past Python's recursion limit
_DEEP_MARK = "\x00deep\x00"  # replaced by a deeply nested value once the body is JSON text


@dataclass(frozen=True)
class Probe:
    method: str
    path: str  # percent-encoded, as it goes on the wire
    label: str  # what was broken, for the report
    query: str = ""
    headers: dict[str, bytes] = field(default_factory=dict)
    body: bytes = b""


# Values that break members whatever their shape.
_ANY: list[Any] = [None, True, False, 0, -1, 1.5, [], {}, [1, 2], {"a": {"b": 1}}, "", " ", "x" * 70_000]
_TEXT = [
    "\ud800",  # a lone high surrogate
    "ok\udfff",  # a lone low surrogate
    "\x00",
    "a\x00b",
    "\n\r\t",
    "../../../../etc/passwd",
    "/abs/path",
    "a/b",
    "%2F..%2F",
    "é",
    "😀",
    "\u202e",
    "\uff21\uff22\uff23",  # full-width letters
    "latest",
    "0",
    "-1",
    "9" * 19,
    "9" * 40,
    "' OR 1=1 --",
    "${jndi:x}",
    "{}",
    "[[[[",
    "NaN",
]
_NUMBERS = [
    0,
    -1,
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    10**400,
    1e308,
    -1e-308,
    0.5,
    float("inf"),
    float("nan"),
]


class Fuzzer:
    def __init__(self, seed: int = 0, service: ServiceModel | None = None) -> None:
        self.random = random.Random(seed)
        self.service = service or service_model()
        self.operations = [self.service.operation_model(name) for name in self.service.operation_names]

    def probes(self, count: int) -> Iterator[Probe]:
        """`count` requests; every operation and every /_emulator endpoint comes up many times."""
        kinds = [
            (self._spec_probe, 60),
            (self._protocol_probe, 15),
            (self._emulator_probe, 20),
            (self._valid_probe, 5),
        ]
        makers = [maker for maker, weight in kinds for _ in range(weight)]
        for index in range(count):
            if index < len(self.operations):  # each operation at least once, broken
                yield self._spec_probe(self.operations[index])
                continue
            yield self.random.choice(makers)()

    # Members of the model, broken

    def _valid_probe(self) -> Probe:
        operation = self.random.choice(self.operations)
        return build(operation, example_input(operation), f"{operation.name} valid")

    def _spec_probe(self, operation: OperationModel | None = None) -> Probe:
        operation = operation or self.random.choice(self.operations)
        params = example_input(operation)
        paths = member_paths(operation.input_shape) if operation.input_shape else []
        labels = []
        for _ in range(self.random.choice((1, 1, 2))):
            if not paths:
                break
            path, shape = self.random.choice(paths)
            how, value = self._hostile(shape)
            labels.append(f"{'.'.join(map(str, path))}={how}")
            _put(params, path, value)
        return build(operation, params, f"{operation.name} {' '.join(labels) or 'no input'}")

    def _hostile(self, shape: Shape) -> tuple[str, Any]:
        """A value for a member of `shape` that the service must refuse (or accept) cleanly."""
        choice = self.random.random()
        if choice < 0.12:
            return "missing", _MISSING
        if choice < 0.2:
            return "deep", _DEEP_MARK
        meta = shape.metadata
        options: list[tuple[str, Any]] = [("any", value) for value in _ANY]
        options += [("text", value) for value in _TEXT]
        if shape.type_name in ("integer", "long", "float", "double"):
            options += [("number", value) for value in _NUMBERS]
            options += [
                (f"bound{delta:+d}", meta[end] + delta)
                for end in ("min", "max")
                if end in meta
                for delta in (-1, 1)
            ]
        if shape.type_name in ("string", "blob", "list", "map"):
            unit = "x" if shape.type_name == "string" else None
            for end in ("min", "max"):
                if end in meta and unit:
                    for size in (max(meta[end] - 1, 0), meta[end], meta[end] + 1):
                        options.append((f"length{size}", unit * size))
        if "enum" in meta:
            options += [("enum-case", meta["enum"][0].lower()), ("enum-case", meta["enum"][0].upper() + "x")]
        if "pattern" in meta:
            options += [("pattern", "!" * max(meta.get("min", 1), 1)), ("pattern", "a b")]
        if shape.type_name == "list":
            options += [("list", [None]), ("list", [{}] * 3), ("list", ["\ud800"]), ("list", [1] * 300)]
        if shape.type_name == "structure":
            options += [("struct", {name: None for name in shape.members}), ("struct", "text")]
        return self.random.choice(options)

    # The protocol itself, broken

    def _protocol_probe(self) -> Probe:
        operation = self.random.choice(self.operations)
        valid = build(operation, example_input(operation), "")
        choice = self.random.randrange(13)
        name = operation.name
        if choice == 0:
            bodies = [
                b"{",
                b"[]",
                b"null",
                b"1",
                b'"s"',
                b"\xff\xfe\x00",
                b"\x00" * 10,
                b'{"a":1}{"b":2}',
                b'{"ProjectName": NaN}',
                b'{"x": Infinity}',
                b"[" * DEEP,
                b'{"a":' * DEEP,
                b"{" + b'"k": 1,' * 50_000 + b'"k": 2}',
            ]
            body = self.random.choice(bodies)
            return _with(valid, f"{name} body={body[:12]!r}", body=body)
        if choice == 1:
            return _with(
                valid, f"{name} body=utf-16", body=json.dumps({"ProjectName": PROJECT}).encode("utf-16")
            )
        if choice == 2:
            kind = self.random.choice(
                [
                    "application/json; charset=latin-1",
                    "application/xml",
                    "text/plain",
                    "multipart/form-data",
                    "",
                    "image/png",
                    "*/*",
                    "application/x-amz-json-1.1",
                ]
            )
            return _with(
                valid, f"{name} content-type={kind}", headers={**valid.headers, "content-type": kind.encode()}
            )
        if choice == 3:
            path = valid.path + self.random.choice(
                ["/", "//", "/..", "%", "%zz", "%ED%A0%80", "%00", "/x" * 200, "?"]
            )
            return _with(valid, f"{name} path+=...", path=path)
        if choice == 4:
            method = self.random.choice(["PUT", "PATCH", "OPTIONS", "HEAD", "TRACE", "GET", "DELETE", "POST"])
            return _with(valid, f"{name} method={method}", method=method)
        if choice == 5:
            query = self.random.choice(
                [
                    "maxResults=1&maxResults=2",
                    "nextToken=%FF%FE",
                    "nextToken=" + "A" * 3000,
                    "maxResults=9" * 30,
                    "labeled=maybe",
                    "createdBefore=yesterday",
                    "tagKeys=" + "&tagKeys=".join(["k"] * 300),
                    "&&&==",
                    "a=%ZZ",
                    "nextToken=eyJ9",
                    "createdAfter=1e400",
                ]
            )
            return _with(valid, f"{name} query={query[:30]}", query=query)
        if choice == 6:
            token = self.random.choice([b"", b"a" * 65, b"\xff\xfe", b"tok en", b"RunOnce", b"-" * 64])
            headers = {**valid.headers, "x-amzn-client-token": token}
            return _with(valid, f"{name} token={token[:10]!r}", headers=headers)
        if choice == 7:
            auth = self.random.choice(
                [
                    b"AWS4-HMAC-SHA256 Credential=999999999999/20200101/../../x/aws4_request",
                    b"AWS4-HMAC-SHA256 Credential=123456789012/20200101/eu-west-1/lookoutvision/aws4_request",
                    b"AWS4-HMAC-SHA256 Credential=/",
                    b"Bearer x",
                    b"\xff" * 20,
                    b"AWS4-HMAC-SHA256 Credential=AKID/20200101/" + b"r" * 5000 + b"/x/aws4_request",
                ]
            )
            return _with(valid, f"{name} authorization", headers={**valid.headers, "authorization": auth})
        if choice == 8:
            return _with(
                valid, f"{name} content-length=abc", headers={**valid.headers, "content-length": b"abc"}
            )
        if choice == 9:
            origin = self.random.choice([b"https://evil.example", b"null", b"http://127.0.0.1:1"])
            return _with(valid, f"{name} origin", headers={**valid.headers, "origin": origin})
        if choice == 10:
            return _with(valid, f"{name} big header", headers={**valid.headers, "x-pad": b"a" * 70_000})
        if choice == 11:
            bodies = [
                b"",
                b"GIF89a",
                b"\x89PNG\r\n\x1a\n",
                bomb_png(),
                truncated_png(),
                b"\xff\xd8\xff" + b"\x00" * 100,
            ]
            body = self.random.choice(bodies)
            return Probe(
                "POST",
                f"/2020-11-20/projects/{PROJECT}/models/1/detect",
                f"DetectAnomalies body={body[:8]!r}",
                headers={"content-type": self.random.choice([b"image/png", b"image/jpeg"])},
                body=body,
            )
        return _with(
            valid, f"{name} header=\\xff", headers={**valid.headers, "x-amzn-client-token": b"\xff\xfe\xfd"}
        )

    # The emulator's own endpoints

    def _emulator_probe(self) -> Probe:
        choice = self.random.randrange(10)
        if choice == 0:
            method, path = self.random.choice(
                [
                    ("GET", "/_emulator/health"),
                    ("GET", "/_emulator/hosting"),
                    ("DELETE", "/_emulator/results"),
                    ("GET", "/_emulator/delays"),
                    ("GET", "/_emulator/nothing"),
                    ("PUT", "/_emulator/results"),
                    ("POST", "/_emulator/health"),
                    ("GET", "/_emulator/"),
                    ("GET", "/_emulator/projects/p/models"),
                ]
            )
            return Probe(method, path, f"emulator {method} {path}")
        if choice in (1, 2, 3):
            result = {
                "IsAnomalous": True,
                "Confidence": 0.5,
                "Anomalies": [
                    {"Name": "a", "PixelAnomaly": {"TotalPercentageArea": 0.1, "Color": "#FF0000"}}
                ],
                "AnomalyMask": "aGk=",
            }
            error = {"Error": {"Code": "ThrottlingException", "Message": "m", "RetryAfterSeconds": 1}}
            body: dict[str, Any] = {
                "project": PROJECT,
                "version": "1",
                "results": [result, error],
                "repeat": False,
                "account": "123456789012",
                "region": "us-east-1",
            }
            label = self._break_document(
                body, [("results", 0), ("results", 1, "Error"), ("results", 0, "Anomalies", 0)]
            )
            return _json_probe("POST", "/_emulator/results", body, f"emulator results {label}")
        if choice in (4, 5):
            body = {"hosting": 0.0, "stopping": 0.0, "training": 0.0, "dataset_import": 0.0, "packaging": 0.0}
            label = self._break_document(body, [])
            return _json_probe("POST", "/_emulator/delays", body, f"emulator delays {label}")
        if choice in (6, 7, 8):
            project = self.random.choice([PROJECT, "..", "a%2Fb", "%ED%A0%80", "x" * 300, "-x", "ok"])
            query = {}
            for key in self.random.sample(
                ["account", "region", "imageWidth", "imageHeight", "className", "classColor", "description"],
                2,
            ):
                value = self.random.choice([*_TEXT, "123456789012", "us-east-1", "64", "-5", "#GGGGGG", ""])
                query[key] = value
            body, kind = self.random.choice(
                [
                    (b"", b"application/octet-stream"),
                    (b"not onnx", b"application/octet-stream"),
                    (b"PK\x03\x04garbage", b"application/zip"),
                    (zip_bomb_like(), b"application/zip"),
                    (zipped({"../../evil.onnx": b"x"}), b"application/zip"),
                    (zipped({"model.onnx": b"x", "model.json": b"[" * 5000}), b"application/zip"),
                ]
            )
            encoded = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()})
            return Probe(
                "POST",
                f"/_emulator/projects/{project}/models",
                f"emulator import {sorted(query)}",
                query=encoded,
                headers={"content-type": kind},
                body=body,
            )
        if self.random.random() < 0.05:
            return Probe("POST", "/_emulator/reset", "emulator reset")
        return Probe(
            "POST",
            "/_emulator/results",
            "emulator results deep",
            headers={"content-type": b"application/json"},
            body=b'{"results":' + b"[" * DEEP,
        )

    def _break_document(self, body: dict[str, Any], nested: list[tuple]) -> str:
        """Break one key of a JSON document, at the top or at one of `nested` places."""
        where: Any = body
        place = self.random.choice([(), *nested]) if nested else ()
        for step in place:
            where = where[step]
        key = self.random.choice(list(where)) if isinstance(where, dict) and where else None
        value = self.random.choice(_ANY + _TEXT + _NUMBERS + [_MISSING, _DEEP_MARK])
        if key is None:
            return "unchanged"
        if value is _MISSING:
            del where[key]
        else:
            where[key] = _fresh(value)
        return f"{'.'.join(map(str, (*place, key)))}={_short(value)}"


# Building a request from the model's member locations

_MISSING = object()


def build(operation: OperationModel, params: dict[str, Any], label: str) -> Probe:
    shape = operation.input_shape
    uri = operation.http["requestUri"]
    query: list[tuple[str, bytes]] = []
    headers: dict[str, bytes] = {}
    body_members: dict[str, Any] = {}
    payload: bytes | None = None
    payload_name = shape.serialization.get("payload") if shape else None
    for name, member in shape.members.items() if shape else ():
        if name not in params or params[name] is _MISSING:
            uri = uri.replace("{" + member.serialization.get("name", name) + "}", "")
            uri = uri.replace("{" + member.serialization.get("name", name) + "+}", "")
            continue
        value = params[name]
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            text = _text(value).encode("utf-8", "surrogatepass")
            uri = uri.replace("{" + wire + "+}", quote(text, safe="/")).replace(
                "{" + wire + "}", quote(text, safe="")
            )
        elif location == "querystring":
            items = value if isinstance(value, list) else [value]
            query += [
                (wire, _text(item).encode("utf-8", "surrogatepass")) for item in items if item is not _MISSING
            ]
        elif location == "header":
            headers[wire.lower()] = _text(value).encode("utf-8", "surrogatepass")
        elif name == payload_name:
            payload = value if isinstance(value, bytes) else _json_text(value)
        else:
            body_members[wire] = value
    path, _, fixed_query = uri.partition("?")
    query_string = "&".join(filter(None, [fixed_query, urlencode(query)]))
    if payload is None and body_members:
        payload = _json_text(body_members)
        headers.setdefault("content-type", b"application/json")
    return Probe(operation.http["method"], path, label, query_string, headers, payload or b"")


def member_paths(shape: Shape, prefix: tuple = (), depth: int = 0) -> list[tuple[tuple, Shape]]:
    """Every member below `shape`; a list's first item stands for its items (path step 0)."""
    found = []
    for name, member in shape.members.items():
        path = (*prefix, name)
        found.append((path, member))
        if depth >= 4:
            continue
        if member.type_name == "structure":
            found += member_paths(member, path, depth + 1)
        elif member.type_name == "list":
            found.append(((*path, 0), member.member))
            if member.member.type_name == "structure":
                found += member_paths(member.member, (*path, 0), depth + 1)
    return found


def _fresh(value: Any) -> Any:
    """A copy: the tables of values above are shared, and a later break may edit what it is given."""
    return value if value is _MISSING else copy.deepcopy(value)


def _put(params: dict[str, Any], path: tuple, value: Any) -> None:
    where: Any = params
    for step, following in itertools.pairwise((*path, None)):
        if isinstance(where, list) and not where:  # emptied by an earlier break in this request
            where.append(None)
        if following is None:
            where[step] = _fresh(value)
            return
        current = where.get(step) if isinstance(where, dict) else where[step]
        if not isinstance(current, list if isinstance(following, int) else dict):  # broken earlier
            current = [None] if isinstance(following, int) else {}
            where[step] = current
        where = current


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return json.dumps(_jsonable(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items() if item is not _MISSING}
    if isinstance(value, list):
        return [_jsonable(item) for item in value if item is not _MISSING]
    return None if value is _MISSING else value


def _json_text(value: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as any JSON encoder would send them.
    text = json.dumps(_jsonable(value), ensure_ascii=True)
    return text.replace(json.dumps(_DEEP_MARK), "[" * DEEP + "1" + "]" * DEEP).encode()


def _json_probe(method: str, path: str, body: Any, label: str) -> Probe:
    return Probe(method, path, label, headers={"content-type": b"application/json"}, body=_json_text(body))


def _with(probe: Probe, label: str, **changes: Any) -> Probe:
    fields = {
        "method": probe.method,
        "path": probe.path,
        "query": probe.query,
        "headers": probe.headers,
        "body": probe.body,
        **changes,
    }
    return Probe(label=label, **fields)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


# Hostile files


@cache
def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG header that claims billions of pixels (a decompression bomb), with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    return bomb_png(64, 64)[:40]


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@cache
def zip_bomb_like() -> bytes:
    """A small zip whose model.onnx inflates to 64 MB of zeros."""
    return zipped({"model.onnx": b"\x00" * (64 * 1024 * 1024)})


# Sending them


@dataclass
class Report:
    statuses: dict[int, int] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)  # >= 500, or no answer at all
    bad_shapes: list[str] = field(default_factory=list)  # a 4xx without the AWS error shape
    sent: int = 0
    unsendable: int = 0  # refused by the client library itself (an illegal header value, a URL too long)


def send_all(client: httpx.Client, probes: Iterator[Probe]) -> Report:
    report = Report()
    for probe in probes:
        url = probe.path + (f"?{probe.query}" if probe.query else "")
        where = f"{probe.method} {url[:120]} [{probe.label[:160]}]"
        try:
            request = client.build_request(probe.method, url, headers=probe.headers, content=probe.body)
        except (httpx.InvalidURL, httpx.LocalProtocolError):
            report.unsendable += 1
            continue
        report.sent += 1
        try:
            response = client.send(request)
        except httpx.LocalProtocolError:
            report.sent -= 1
            report.unsendable += 1
            continue
        except httpx.HTTPError as error:
            report.statuses[0] = report.statuses.get(0, 0) + 1
            report.server_errors.append(f"no answer ({type(error).__name__}: {error}) to {where}")
            continue
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            report.server_errors.append(f"{response.status_code} {response.text[:200]} to {where}")
        elif response.status_code >= 400 and probe.method != "HEAD":
            problem = aws_shape_problem(response)
            if problem:
                report.bad_shapes.append(f"{response.status_code} {problem} to {where}")
    return report


def aws_shape_problem(response: httpx.Response) -> str | None:
    if not response.headers.get("x-amzn-ErrorType"):
        return "no x-amzn-ErrorType header"
    if response.headers.get("content-type") != "application/json":
        return f"content type {response.headers.get('content-type')}"
    try:
        body = response.json()
    except ValueError:
        return "a body that is not JSON"
    if not isinstance(body, dict) or not isinstance(body.get("Message"), str) or "detail" in body:
        return f"no Message in {response.text[:100]}"
    return None


def prepare(client: httpx.Client, scratch: Path) -> None:
    """Resources the examples name, so broken requests reach real handlers: project PROJECT with a
    train dataset, model versions 1 (hosted) and 2 (trained)."""
    from tests.support.onnx_models import classifier_bundle, zip_folder

    bundle = zip_folder(classifier_bundle(scratch / "bundle"))
    client.post("/2020-11-20/projects", json={"ProjectName": PROJECT}).raise_for_status()
    client.post(f"/2020-11-20/projects/{PROJECT}/datasets", json={"DatasetType": "train"}).raise_for_status()
    for _ in range(2):
        imported = client.post(
            f"/_emulator/projects/{PROJECT}/models",
            content=bundle,
            headers={"content-type": "application/zip"},
        )
        imported.raise_for_status()
    started = client.post(f"/2020-11-20/projects/{PROJECT}/models/1/start", json={"MinInferenceUnits": 1})
    started.raise_for_status()
