"""The ASGI application: the emulator's own endpoints, and every other path handed to the L4V dispatcher."""

from __future__ import annotations

import logging
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from server import __version__
from server.emulator import Emulator
from server.internal.controls import router as controls_router
from server.internal.routes import router as internal_router
from server.protocol.asgi import read_request, to_response
from server.protocol.errors import ServiceError
from server.protocol.serializing import serialize_error
from server.settings import Settings

log = logging.getLogger(__name__)

_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings | None = None, emulator: Emulator | None = None) -> FastAPI:
    settings = settings or Settings.load()
    emulator = emulator or Emulator.open(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        emulator.close()

    app = FastAPI(
        title="lookoutvision-emulator",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.include_router(internal_router)
    app.include_router(controls_router)

    async def aws_api(request: Request) -> Response:
        dispatcher = emulator.dispatcher
        try:
            http_request = await read_request(request, settings.max_body_bytes)
        except ServiceError as error:
            response = serialize_error(dispatcher.service, error)
            response.headers["x-amzn-RequestId"] = str(uuid.uuid4())
            return to_response(response)
        # Handlers touch SQLite and, later, onnxruntime: keep them off the event loop.
        return to_response(await run_in_threadpool(dispatcher.handle, http_request))

    app.add_api_route("/{path:path}", aws_api, methods=_ALL_METHODS, include_in_schema=False)

    def aws_error(status: int, code: str, message: str) -> Response:
        error = ServiceError(code, message, status=status)
        return to_response(serialize_error(emulator.dispatcher.service, error))

    @app.exception_handler(HTTPException)
    async def http_exception(_: Request, exc: HTTPException) -> Response:
        return aws_error(exc.status_code, "HttpException", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def request_validation(_: Request, exc: RequestValidationError) -> Response:
        return aws_error(400, "ValidationException", str(exc.errors()))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return aws_error(500, "InternalServerException", "An internal error occurred")

    return app
