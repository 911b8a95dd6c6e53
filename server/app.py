"""The ASGI application: a FastAPI app whose routes are the L4V operations, generated from the service
model, and the emulator's own endpoints; its OpenAPI document and Swagger UI at /openapi.json and /docs.

Each L4V operation is a route of the app (an `OperationRoute`: the operation's method and requestUri),
served by the bare ASGI app of server/protocol/asgi.py: it reads the body under the limits, and the
dispatcher parses, validates and runs it from the service model, with no FastAPI request or response
objects on the way. Every request nothing else matches goes to that app too, which answers as the
service does (UnknownOperationException, MethodNotAllowedException). The web console (server/console)
answers at /console, and a browser's GET / leads there.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp

from server import __version__
from server.emulator import Emulator
from server.internal import api_docs, model_import, scripting, status
from server.internal.emulator_route import validation_message
from server.protocol.asgi import ApiApp, AsgiScope, ClientGone, OperationRoute, Receive, Send
from server.protocol.browsers import refusal
from server.protocol.http import HttpRequest
from server.settings import Settings
from server.spec.errors import ServiceError, access_denied, validation_error

log = logging.getLogger(__name__)

# A DetectAnomalies call holds its thread while it waits for an inference unit (16 units per model with 8
# waiting each, and several models, can hold hundreds); every other call is quick, and has its own pool
# so that it never waits behind them.
DETECT_THREADS = 512
API_THREADS = 32


class EmulatorApp(FastAPI):
    """FastAPI, behind the checks every request gets before any routing (browser refusal, header size)."""

    api: ApiApp
    max_header_bytes: int
    console: ASGIApp | None = None
    locked: bool = False  # signatures are required: the control endpoints and the console are off

    def openapi(self) -> dict[str, Any]:
        """The L4V API from the service model and the emulator's endpoints: built when first asked for."""
        if self.openapi_schema is None:
            self.openapi_schema = api_docs.build_document(self, self.state.emulator.dispatcher.service)
        return self.openapi_schema

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.console is not None and _console_path(scope):
            await self._console(scope, receive, send)
            return
        if scope["type"] == "http":
            refused = refusal(scope, self.max_header_bytes)  # the L4V API and /_emulator/ alike
            if refused is not None:
                await self.api.refuse(send, refused)
                return
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise
            # Starlette re-raises what its error handler has already answered (500) and logged; uvicorn
            # would then log it again and close the connection under the client's next request.

    async def _console(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        """The web console at /console; `/` and `/console` lead to its front page."""
        assert self.console is not None
        # The header and Host (DNS rebinding) checks as for the API; the console's own forms are
        # simple-type posts, so the console checks their Origin itself.
        refused = refusal({**scope, "method": "GET"}, self.max_header_bytes)
        if refused is None and self.locked:  # the console calls the API unsigned
            refused = access_denied("The console is off while the server requires signed requests")
        if refused is not None:
            await self.api.refuse(send, refused)
            return
        if scope["path"] in ("/", CONSOLE_PREFIX):
            await RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)(scope, receive, send)
            return
        # Starlette re-raises what the console's error handler has already answered and logged (as above).
        with contextlib.suppress(Exception):
            await self.console(
                {**scope, "root_path": scope.get("root_path", "") + CONSOLE_PREFIX}, receive, send
            )


CONSOLE_PREFIX = "/console"


def _console_path(scope: AsgiScope) -> bool:
    path = scope["path"]
    if path == "/":  # only a browser's GET: anything else at / stays the API's (UnknownOperation)
        return scope["method"] in ("GET", "HEAD")
    return path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")


def create_app(settings: Settings | None = None, emulator: Emulator | None = None) -> EmulatorApp:
    settings = settings or Settings.load()
    emulator = emulator or Emulator.open(settings)
    detect_pool = ThreadPoolExecutor(max_workers=DETECT_THREADS, thread_name_prefix="detect")
    api_pool = ThreadPoolExecutor(max_workers=API_THREADS, thread_name_prefix="api")

    def executor_for(request: HttpRequest) -> ThreadPoolExecutor:
        detect = request.method == "POST" and request.raw_path.endswith("/detect")
        return detect_pool if detect else api_pool

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        for pool in (detect_pool, api_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        emulator.close()

    def aws_error(status: int, code: str, message: str) -> Response:
        return emulator.error_response(ServiceError(code, message, status=status))

    async def service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return emulator.error_response(exc)

    async def invalid_request(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)  # FastAPI's 422, as the API's ValidationException
        return emulator.error_response(validation_error(validation_message(exc)))

    async def http_exception(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return aws_error(exc.status_code, "HttpException", str(exc.detail))

    async def client_gone(_: Request, exc: Exception) -> Response:
        return Response(status_code=400)  # nobody reads it: the client hung up mid-body

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return aws_error(500, "InternalServerException", "An internal error occurred")

    api = ApiApp(lambda: emulator.dispatcher, settings.max_body_bytes, executor_for, settings.body_timeout)
    app = EmulatorApp(
        title=api_docs.TITLE,
        version=__version__,
        lifespan=lifespan,
        # Served by api_docs, from the package's Swagger UI (FastAPI's default page loads it from a CDN).
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # /projects/p1/ is an unknown path, as on the service, not a redirect
        exception_handlers={
            ServiceError: service_error,
            RequestValidationError: invalid_request,
            HTTPException: http_exception,
            ClientGone: client_gone,
            Exception: unexpected,
        },
    )
    app.api = api
    app.max_header_bytes = settings.max_header_bytes
    app.state.emulator = emulator
    app.state.locked = app.locked = bool(settings.credentials.strip())
    app.router.routes.extend([*status.routes, *model_import.routes, *scripting.routes, *api_docs.routes])
    from server.console import create_console  # its pages and templates load on its first request

    app.console = create_console(emulator)
    service = emulator.dispatcher.service
    operations = [OperationRoute(service.operation_model(name), api) for name in service.operation_names]
    operations.sort(key=lambda route: route.precedence, reverse=True)
    app.router.routes.extend(operations)
    app.router.default = api
    return app
