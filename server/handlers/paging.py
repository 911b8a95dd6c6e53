"""Glue between List* inputs and the signed-token paginator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from server.backend.assembly import Backend
from server.protocol.context import RequestContext
from server.protocol.pagination import PageTokens, paginate

Item = TypeVar("Item")

DEFAULT_PAGE_SIZE = 100  # the service's documented default for MaxResults


def page(
    backend: Backend,
    context: RequestContext,
    params: dict[str, Any],
    listing: str,
    fetch: Callable[[Any, int], Sequence[Item]],
    key: Callable[[Item], Any],
) -> tuple[list[Item], str | None]:
    """`listing` names what is listed and under which filters; tokens from other listings are refused."""
    scope = f"{context.account}|{context.region}|{listing}"
    return paginate(
        PageTokens(backend.page_token_secret),
        scope,
        fetch,
        key,
        params.get("MaxResults"),
        params.get("NextToken"),
        DEFAULT_PAGE_SIZE,
    )
