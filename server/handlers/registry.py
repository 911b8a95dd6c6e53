from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from server.backend.assembly import Backend
from server.protocol.context import RequestContext
from server.protocol.dispatcher import Handler

Operation = Callable[[Backend, RequestContext, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(function: Operation) -> Operation:
        OPERATIONS[name] = function
        return function

    return register


def bind_handlers(backend: Backend) -> dict[str, Handler]:
    return {name: partial(function, backend) for name, function in OPERATIONS.items()}
