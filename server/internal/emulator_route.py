"""The route class of the /_emulator/ endpoints, and how their errors look.

The endpoints are typed FastAPI routes (pydantic models in, pydantic models out); this class keeps
what the L4V API guarantees true for them as well:
- a JSON body is read under the API's body limit and stall deadline and parsed by the API's JSON
  reader (depth limit, no NaN, no lone surrogates) before FastAPI validates it against the model;
- a method the path does not serve falls through to the L4V API, which answers as for any unknown path;
- while the server requires signed requests, every endpoint but health is off (they take no signature);
- errors are AWS-style (`x-amzn-ErrorType`, `{"__type", "Message"}`), FastAPI's 422s included.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from server.emulator import Emulator
from server.protocol.asgi import ClientGone, read_request
from server.spec import jsontext
from server.spec.errors import ServiceError, access_denied, validation_error

TAG = "emulator"


def emulator_of(request: Request) -> Emulator:
    """The running emulator (a FastAPI dependency)."""
    return request.app.state.emulator


class EmulatorRoute(APIRoute):
    """`open_when_locked` keeps an endpoint on under signature checking; `raw_body` leaves the body to the
    endpoint (uploads larger than the API's body limit, streamed to disk)."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        open_when_locked: bool = False,
        raw_body: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("tags", [TAG])
        kwargs.setdefault("strict_content_type", False)  # a JSON body without a Content-Type is JSON
        self.open_when_locked = open_when_locked
        self.raw_body = raw_body  # set first: FastAPI builds the handler (get_route_handler) in __init__
        super().__init__(path, endpoint, **kwargs)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return super().matches(scope)
        methods = self.methods or set()
        head = scope["method"] == "HEAD" and "GET" in methods  # as Starlette's own routes serve it
        if scope["method"] not in methods and not head:
            return Match.NONE, {}  # not PARTIAL: the L4V API answers it, as it does any unknown request
        match, child_scope = super().matches(scope)
        return (Match.FULL if head and match == Match.PARTIAL else match), child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            await self.app(scope, receive, send)  # uvicorn sends no body for HEAD
            return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        reads_json = self.body_field is not None and not self.raw_body

        async def guarded(request: Request) -> Response:
            emulator = emulator_of(request)
            if request.app.state.locked and not self.open_when_locked:
                # The control endpoints (reset, scripted answers, uploads) take no signature: a server that
                # requires one for the API must not leave them open.
                denied = "The /_emulator/ endpoints are off while the server requires signed requests"
                return emulator.error_response(access_denied(denied))
            if reads_json:
                try:
                    await _read_json(request, emulator)
                except ClientGone:
                    return Response(status_code=400)  # nobody reads it: the client hung up mid-body
                except ServiceError as error:
                    return emulator.error_response(error)
            return await handler(request)

        return guarded


async def _read_json(request: Request, emulator: Emulator) -> None:
    """Read and parse the body as the L4V API does; FastAPI then takes it from the request's cache."""
    settings = emulator.settings
    body = (
        await read_request(request.scope, request.receive, settings.max_body_bytes, settings.body_timeout)
    ).body
    request._body = body
    if body:
        try:
            request._json = jsontext.loads(body)
        except ValueError as error:  # jsontext.JsonError (too deep) included
            raise validation_error(f"The body is not valid JSON: {error}") from None


def validation_message(error: RequestValidationError) -> str:
    """FastAPI's 422 details as one ValidationException message: `where: what; ...`."""
    parts = []
    for detail in error.errors():
        location = [str(part) for part in detail.get("loc", ())]
        if location[:1] == ["body"]:
            location = location[1:]
        where = ".".join(location) or "body"
        parts.append(f"{where}: {detail.get('msg', 'invalid')}")
    return "; ".join(parts) or "The request is not valid"
