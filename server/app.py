"""The ASGI application: the emulator's own endpoints, and every other path handed to the L4V dispatcher.

The emulator's endpoints are plain Starlette (the framework FastAPI is built on): the rest-json layer
parses and validates requests from the service model itself, so FastAPI's models and OpenAPI would only
add start-up time (about 140 ms of imports). The L4V API itself is a bare ASGI app
(server/protocol/asgi.py), without even Starlette's routing and request objects on its path.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp

from server.emulator import Emulator
from server.internal.controls import routes as control_routes
from server.internal.routes import routes as internal_routes
from server.protocol.asgi import ApiApp, ClientGone, Receive, Scope, Send
from server.protocol.browsers import refusal
from server.protocol.http import HttpRequest
from server.settings import Settings
from server.spec.errors import ServiceError

log = logging.getLogger(__name__)

# A DetectAnomalies call holds its thread while it waits for an inference unit (16 units per model with 8
# waiting each, and several models, can hold hundreds); every other call is quick, and has its own pool
# so that it never waits behind them.
DETECT_THREADS = 512
API_THREADS = 32


class EmulatorApp:
    """The emulator's own endpoints and the lifespan go to the Starlette app; every other request, an
    unknown /_emulator path included, is the L4V API's to answer."""

    def __init__(
        self,
        internal: Starlette,
        api: ApiApp,
        max_header_bytes: int,
        locked: bool = False,
        console: ASGIApp | None = None,
    ) -> None:
        self.internal = internal
        self.console = console
        self.api = api
        self.state = internal.state
        self.max_header_bytes = max_header_bytes
        self.locked = locked  # credentials are required: the control endpoints are off

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.console is not None and _console_path(scope):
            await self._console(scope, receive, send)
            return
        if scope["type"] == "http":
            refused = refusal(scope, self.max_header_bytes)  # the L4V API and /_emulator/ alike
            if refused is not None:
                await self.api.refuse(send, refused)
                return
        if scope["type"] == "http" and not self._internal(scope):
            await self.api(scope, receive, send)
            return
        if scope["type"] == "http" and self.locked and scope["path"] != "/_emulator/health":
            # The control endpoints (reset, scripted answers, uploads) take no signature: a server that
            # requires one for the API must not leave them open.
            denied = "The /_emulator/ endpoints are off while the server requires signed requests"
            await self.api.refuse(send, ServiceError("AccessDeniedException", denied, status=403))
            return
        try:
            await self.internal(scope, receive, send)
        except Exception:
            if scope["type"] != "http":
                raise
            # Starlette re-raises what its error handler has already answered (500) and logged; uvicorn
            # would then log it again and close the connection under the client's next request.

    async def _console(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The web console (server/console) at /console; `/` and `/console` lead to its front page."""
        assert self.console is not None
        # The header and Host (DNS rebinding) checks as for the API; the console's own forms are
        # simple-type posts, so the console checks their Origin itself.
        refused = refusal({**scope, "method": "GET"}, self.max_header_bytes)
        if (
            refused is None and self.locked
        ):  # the console calls the API unsigned: off when signatures are required
            denied = "The console is off while the server requires signed requests"
            refused = ServiceError("AccessDeniedException", denied, status=403)
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

    def _internal(self, scope: Scope) -> bool:
        if not scope["path"].startswith("/_emulator/"):
            return False
        return any(route.matches(scope)[0] == Match.FULL for route in self.internal.routes)


CONSOLE_PREFIX = "/console"


def _console_path(scope: Scope) -> bool:
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
    async def lifespan(_: Starlette):
        yield
        for pool in (detect_pool, api_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        emulator.close()

    def aws_error(status: int, code: str, message: str) -> Response:
        return emulator.error_response(ServiceError(code, message, status=status))

    async def http_exception(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return aws_error(exc.status_code, "HttpException", str(exc.detail))

    async def client_gone(_: Request, exc: Exception) -> Response:
        return Response(status_code=400)  # nobody reads it: the client hung up mid-body

    async def unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return aws_error(500, "InternalServerException", "An internal error occurred")

    internal = Starlette(
        routes=[*internal_routes, *control_routes],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception, ClientGone: client_gone, Exception: unexpected},
    )
    internal.state.emulator = emulator
    api = ApiApp(lambda: emulator.dispatcher, settings.max_body_bytes, executor_for, settings.body_timeout)
    from server.console import create_console

    console = create_console(emulator)
    return EmulatorApp(
        internal, api, settings.max_header_bytes, locked=bool(settings.credentials.strip()), console=console
    )
