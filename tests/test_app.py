"""Narrow checks of the ASGI app in-process (TestClient): what only an injected fault can show."""

from __future__ import annotations

import logging

from starlette.testclient import TestClient

from server.app import create_app
from server.emulator import Emulator
from server.settings import Settings


def test_unexpected_exception_is_an_internal_server_exception_with_request_id(caplog):
    emulator = Emulator.open(Settings(in_memory=True))

    def broken(context, params):
        raise RuntimeError("boom")

    emulator.dispatcher.handlers["ListProjects"] = broken
    with caplog.at_level(logging.ERROR), TestClient(create_app(emulator.settings, emulator)) as client:
        response = client.get("/2020-11-20/projects")
    assert response.status_code == 500
    assert response.headers["x-amzn-ErrorType"] == "InternalServerException"
    body = response.json()
    request_id = response.headers["x-amzn-RequestId"]
    assert body["RequestId"] == request_id
    assert request_id in body["Message"]
    assert "boom" not in body["Message"]  # internals stay in the log
    assert "boom" in caplog.text and request_id in caplog.text


def test_throttling_error_carries_retry_after_header():
    emulator = Emulator.open(Settings(in_memory=True))

    def throttled(context, params):
        from server.spec.errors import ServiceError

        raise ServiceError(
            "ThrottlingException", "slow down", RetryAfterSeconds=3, QuotaCode="L-1", ServiceCode="lv"
        )

    emulator.dispatcher.handlers["ListProjects"] = throttled
    with TestClient(create_app(emulator.settings, emulator)) as client:
        response = client.get("/2020-11-20/projects")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json() == {
        "__type": "ThrottlingException",
        "Message": "slow down",
        "QuotaCode": "L-1",
        "ServiceCode": "lv",
    }


def test_start_up_imports_no_numerical_libraries():
    """numpy, Pillow and onnxruntime cost start-up time; they load when a model is first hosted (and the
    Swagger UI package when the docs are first asked for)."""
    import subprocess
    import sys

    heavy = "('numpy', 'PIL', 'onnxruntime', 'swagger_ui_bundle')"
    script = f"import sys, server.app, server.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_every_operation_is_a_route_of_the_fastapi_app():
    """Generated from the service model: the operation's method and requestUri, served by the API's own
    ASGI app; an ARN's encoded slashes stay inside its label."""
    from fastapi import FastAPI

    from server.protocol.asgi import OperationRoute

    emulator = Emulator.open(Settings(in_memory=True))
    app = create_app(emulator.settings, emulator)
    assert isinstance(app, FastAPI)
    routes = {route.name: route for route in app.routes if isinstance(route, OperationRoute)}
    service = emulator.dispatcher.service
    assert set(routes) == set(service.operation_names) and len(routes) == 22
    for name, route in routes.items():
        http = service.operation_model(name).http
        assert route.methods == {http["method"]} and route.path == http["requestUri"]
    seen = []

    def recorder(name: str):
        async def record(scope, receive, send) -> None:
            seen.append((name, scope["path_params"]))
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return record

    for route in routes.values():
        route.app = recorder(route.name)
    arn = "arn%3Aaws%3Alookoutvision%3Aus-east-1%3A123456789012%3Amodel%2Fp%2F1"
    with TestClient(app) as client:
        for method, path in [
            ("GET", f"/2020-11-20/tags/{arn}"),
            ("POST", "/2020-11-20/projects/p/models/1/detect"),
        ]:
            assert client.request(method, path).status_code == 204
    assert seen == [
        ("ListTagsForResource", {"resourceArn": "arn:aws:lookoutvision:us-east-1:123456789012:model/p/1"}),
        ("DetectAnomalies", {"projectName": "p", "modelVersion": "1"}),
    ]
