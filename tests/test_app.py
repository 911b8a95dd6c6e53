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
        from server.protocol.errors import ServiceError

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
