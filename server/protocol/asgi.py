"""The L4V API as a bare ASGI application, its operations as routes of the web framework, and the bridge
for framework-neutral responses.

Every API request takes this path, so it skips the web framework's request and response objects: the
framework's router finds the operation's route (an `OperationRoute`), and the ApiApp reads the body,
hands the dispatcher a worker thread, and writes the answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from botocore.model import OperationModel
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope  # the ASGI connection scope (not the backend's account scope)

from server.protocol.http import HttpRequest, HttpResponse
from server.protocol.routing import compile_route
from server.spec.errors import ServiceError, internal_error, validation_error

log = logging.getLogger(__name__)

# The scope key naming the operation a request was routed to, for an access log around this app.
OPERATION_KEY = "lookoutvision_emulator.operation"
BODY_TIMEOUT = 60.0  # seconds a request body may stall between two chunks


class ClientGone(Exception):
    """The client hung up before its request's body was complete."""


class ApiApp:
    """`dispatcher()` gives the current dispatcher (a `handle(HttpRequest) -> HttpResponse` object).
    Handlers touch SQLite and onnxruntime, so they run on worker threads, never on the event loop:
    `executor_for(request)` picks the pool, so that requests that wait long (for an inference unit)
    cannot take every thread from the quick ones."""

    def __init__(
        self,
        dispatcher: Callable[[], Any],
        max_body_bytes: int,
        executor_for: Callable[[HttpRequest], Executor],
        body_timeout: float = BODY_TIMEOUT,
    ) -> None:
        self.dispatcher = dispatcher
        self.max_body_bytes = max_body_bytes
        self.executor_for = executor_for
        self.body_timeout = body_timeout

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        dispatcher = self.dispatcher()
        try:
            request = await read_request(scope, receive, self.max_body_bytes, self.body_timeout)
            response = await asyncio.get_running_loop().run_in_executor(
                self.executor_for(request), dispatcher.handle, request
            )
        except ClientGone:
            return  # nobody to answer
        except ServiceError as error:
            response = _error(dispatcher, error)
        except Exception:  # the dispatcher answers its own failures; this is a last resort
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            response = _error(dispatcher, internal_error("An internal error occurred"))
        scope[OPERATION_KEY] = response.operation
        await send_response(send, response)

    async def refuse(self, send: Send, error: ServiceError) -> None:
        """Answer without reading the body (uvicorn discards it) or running anything."""
        await send_response(send, _error(self.dispatcher(), error))


class OperationRoute(BaseRoute):
    """An operation of the service model as a Starlette route, served by `app` (the ApiApp).

    It matches the raw, still percent-encoded path with the requestUri pattern the dispatcher itself
    routes by, so that an ARN's encoded slashes stay inside its label (the framework's own routes match
    the decoded path); the dispatcher then routes, parses and validates the request as it always has.
    A path that matches no route's method is left to the router's default, the ApiApp, which answers
    UnknownOperationException or MethodNotAllowedException.
    """

    def __init__(self, operation: OperationModel, app: ASGIApp) -> None:
        self.compiled = compile_route(operation)
        self.operation = operation
        self.name = operation.name
        self.path = operation.http["requestUri"].partition("?")[0].replace("+}", "}")
        self.methods = {self.compiled.method}
        self.app = app
        self.include_in_schema = False  # documented from the service model (protocol/openapi.py)

    @property
    def precedence(self) -> tuple[int, int]:
        """The dispatcher's order among templates that match one path: more literal text first."""
        return self.compiled.literal_length, len(self.compiled.required_query)

    def matches(self, scope: AsgiScope) -> tuple[Match, AsgiScope]:
        if scope["type"] != "http" or scope["method"] != self.compiled.method:
            return Match.NONE, {}
        raw_path = scope.get("raw_path") or scope["path"].encode()
        found = self.compiled.path.fullmatch(raw_path.decode("latin-1").split("?", 1)[0])
        if found is None:
            return Match.NONE, {}
        if self.compiled.required_query:
            query = scope.get("query_string", b"").decode("latin-1")
            keys = {part.split("=", 1)[0] for part in query.split("&") if part}
            if not all(key in keys for key in self.compiled.required_query):
                return Match.NONE, {}
        return Match.FULL, {"path_params": self.compiled.bind(found)}

    async def handle(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)


async def read_request(
    scope: AsgiScope, receive: Receive, max_body_bytes: int, timeout: float = BODY_TIMEOUT
) -> HttpRequest:
    """Read the whole body, refusing more than `max_body_bytes` before it is all in memory, and a client
    that sends nothing for `timeout` seconds mid-body (uvicorn has no such deadline: such a client would
    hold its connection and its buffered chunks for ever)."""
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise validation_error("Content-Length must be a non-negative integer")
        if int(declared) > max_body_bytes:
            raise _too_large(int(declared), max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), timeout)
        except asyncio.TimeoutError:
            raise ServiceError(
                "RequestTimeoutException", f"No part of the request body came for {timeout:g} s", status=408
            ) from None
        if message["type"] == "http.disconnect":
            raise ClientGone  # a cut-off body must never reach a handler, however complete it looks
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body_bytes:
            raise _too_large(size, max_body_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return HttpRequest(
        method=scope["method"],
        raw_path=raw_path.decode("latin-1").split("?", 1)[0],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
    )


async def send_response(send: Send, response: HttpResponse) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def to_response(response: HttpResponse) -> Response:
    return Response(content=response.body, status_code=response.status, headers=response.headers)


def _error(dispatcher: Any, error: ServiceError) -> HttpResponse:
    from server.protocol.serializing import serialize_error

    response = serialize_error(dispatcher.service, error)
    response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return response


def _too_large(size: int, limit: int) -> ServiceError:
    return validation_error(f"The request body is {size} bytes or more; the limit is {limit} bytes")
