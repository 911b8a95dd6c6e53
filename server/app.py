"""The ASGI application: the emulator's own endpoints, and every other path handed to the L4V dispatcher.

Plain Starlette (the framework FastAPI is built on): the rest-json layer parses and validates requests
from the service model itself, so FastAPI's models and OpenAPI would only add start-up time
(about 140 ms of imports).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.emulator import Emulator
from server.internal.controls import routes as control_routes
from server.internal.routes import routes as internal_routes
from server.protocol.asgi import read_request, to_response
from server.protocol.errors import ServiceError
from server.protocol.serializing import serialize_error
from server.settings import Settings

log = logging.getLogger(__name__)

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings | None = None, emulator: Emulator | None = None) -> Starlette:
    settings = settings or Settings.load()
    emulator = emulator or Emulator.open(settings)

    @asynccontextmanager
    async def lifespan(_: Starlette):
        yield
        emulator.close()

    async def aws_api(request: Request) -> Response:
        dispatcher = emulator.dispatcher
        try:
            http_request = await read_request(request, settings.max_body_bytes)
        except ServiceError as error:
            response = serialize_error(dispatcher.service, error)
            response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
            return to_response(response)
        # Handlers touch SQLite and onnxruntime: keep them off the event loop.
        return to_response(await run_in_threadpool(dispatcher.handle, http_request))

    def aws_error(status: int, code: str, message: str) -> Response:
        return emulator.error_response(ServiceError(code, message, status=status))

    async def http_exception(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return aws_error(exc.status_code, "HttpException", str(exc.detail))

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return aws_error(500, "InternalServerException", "An internal error occurred")

    # The emulator's own routes first; every other path and method belongs to the L4V API.
    routes = [*internal_routes, *control_routes, Route("/{path:path}", aws_api, methods=_ALL_METHODS)]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception, Exception: unexpected},
    )
    app.state.emulator = emulator
    return app
