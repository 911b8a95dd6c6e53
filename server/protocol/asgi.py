"""The bridge between Starlette requests/responses and the framework-neutral protocol values."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.protocol.errors import ServiceError, validation_error
from server.protocol.http import HttpRequest, HttpResponse


async def read_request(request: Request, max_body_bytes: int) -> HttpRequest:
    """Read the whole body, refusing more than `max_body_bytes` before it is all in memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise validation_error("Content-Length must be a non-negative integer")
        if int(declared) > max_body_bytes:
            raise _too_large(int(declared), max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise _too_large(size, max_body_bytes)
        chunks.append(chunk)
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    return HttpRequest(
        method=request.method,
        raw_path=raw_path.decode("latin-1").split("?", 1)[0],
        query_string=request.scope.get("query_string", b"").decode("latin-1"),
        headers={key.lower(): value for key, value in request.headers.items()},
        body=b"".join(chunks),
    )


def to_response(response: HttpResponse) -> Response:
    return Response(content=response.body, status_code=response.status, headers=response.headers)


def _too_large(size: int, limit: int) -> ServiceError:
    return validation_error(f"The request body is {size} bytes or more; the limit is {limit} bytes")
