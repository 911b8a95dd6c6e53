"""Logging for `serve`: one format, uvicorn's messages under our own logger names, and an access log
that names the L4V operation of each request."""

from __future__ import annotations

import logging
import time
from typing import Any

HTTP_LOGGER = "lookoutvision_emulator.http"  # uvicorn's server messages (start-up, shutdown, errors)
ACCESS_LOGGER = "lookoutvision_emulator.access"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.asgi", "uvicorn.access")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Renamed(logging.Filter):
    """Gives a logger's records another name, so uvicorn's messages read as ours."""

    def __init__(self, to: str) -> None:
        super().__init__()
        self.to = to

    def filter(self, record: logging.LogRecord) -> bool:
        record.name = self.to
        return True


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary, also given to uvicorn as its `log_config`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "filters": {"http": {"()": Renamed, "to": HTTP_LOGGER}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
        },
        # uvicorn's loggers keep no handler of their own: renamed, their records reach the root's.
        "loggers": {
            **{name: {"filters": ["http"], "handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
            # Alembic narrates every step of an upgrade; the store logs one line for it instead.
            "alembic": {"level": "WARNING"},
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


class AccessLog:
    """ASGI middleware: one line per request, `DetectAnomalies 200 12.3 ms (127.0.0.1:50312)`.

    The L4V layer puts the operation it routed to in the request's scope; other requests (the emulator's
    own endpoints, unknown paths) are named by method and path.
    """

    def __init__(self, app: Any) -> None:
        from server.protocol.asgi import OPERATION_KEY

        self.app = app
        self.key = OPERATION_KEY
        self.log = logging.getLogger(ACCESS_LOGGER)

    def __getattr__(self, name: str) -> Any:  # the wrapped app's attributes (its state, ...)
        return getattr(self.app, name)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            name = scope.get(self.key) or f"{scope['method']} {scope['path']}"
            client = scope.get("client")
            peer = f" ({client[0]}:{client[1]})" if client else ""
            milliseconds = (time.perf_counter() - started) * 1000
            # status 0: the client went away before an answer was sent
            self.log.info("%s %d %.1f ms%s", name, status, milliseconds, peer)
