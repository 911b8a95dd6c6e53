"""The AWS error shape every refusal must have, whatever the endpoint."""

from __future__ import annotations

import httpx


def assert_aws_error(response: httpx.Response, status: int, code: str) -> dict:
    """A JSON body with Message, the x-amzn-ErrorType header, never FastAPI's {"detail": ...}."""
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-ErrorType"] == code
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert "detail" not in body
    assert isinstance(body["Message"], str) and body["Message"]
    return body
