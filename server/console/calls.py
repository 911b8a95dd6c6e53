"""The console's only door to the service: L4V operations by name, through the protocol layer.

Every call goes through `Dispatcher.invoke`, so the console obeys the same validation and the same
handlers as a wire request; it never reaches into the backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from server.protocol.context import RequestContext, request_context
from server.protocol.dispatcher import Dispatcher


class Calls:
    def __init__(self, dispatcher: Callable[[], Dispatcher], account: str, region: str) -> None:
        self._dispatcher = dispatcher  # looked up per call: the emulator may swap it (reset)
        self.account = account
        self.region = region

    def context(self) -> RequestContext:
        return request_context({}, "", default_account=self.account, default_region=self.region)

    def __call__(self, operation: str, **params: Any) -> dict[str, Any]:
        """Raises ServiceError exactly as the API would answer it."""
        return self._dispatcher().invoke(self.context(), operation, params)

    def pages(self, operation: str, key: str, limit: int, **params: Any) -> Iterator[Any]:
        """The items of a paginated list operation, following NextToken, at most `limit` of them."""
        token: str | None = None
        count = 0
        while True:
            answer = self(operation, NextToken=token, **params)
            for item in answer.get(key, []):
                yield item
                count += 1
                if count >= limit:
                    return
            token = answer.get("NextToken")
            if not token:
                return
