"""Opaque, signed NextToken values and a keyset paginator built on them.

A token carries the sort key of the last item returned, so a page resumes right after it even when
items are added or removed between calls. It is bound by an HMAC to a scope (operation, account,
region, parent resource, filters): a token edited by hand or taken from another listing is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from server.spec.errors import validation_error

Item = TypeVar("Item")
_MAC_BYTES = 16


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, scope: str, position: Any) -> str:
        payload = json.dumps([_digest(scope), position], separators=(",", ":")).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.b64encode(mac + payload).decode("ascii")

    def resume(self, token: str, scope: str) -> Any:
        try:
            raw = base64.b64decode(token, validate=True)
            mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
            expected = hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]
            if not hmac.compare_digest(mac, expected):
                raise ValueError("signature")
            token_scope, position = json.loads(payload)
        except (binascii.Error, ValueError, TypeError):
            raise validation_error("The pagination token is invalid.") from None
        if token_scope != _digest(scope):
            raise validation_error("The pagination token is invalid: it belongs to another listing.")
        return position


def paginate(
    tokens: PageTokens,
    scope: str,
    fetch: Callable[[Any, int], Sequence[Item]],
    key: Callable[[Item], Any],
    max_results: int | None,
    next_token: str | None,
    default_page_size: int,
) -> tuple[list[Item], str | None]:
    """`fetch(after, limit)` returns up to `limit` items in key order, all after `after` (None: from the start)."""
    limit = max_results or default_page_size
    after = tokens.resume(next_token, scope) if next_token else None
    items = list(fetch(after, limit + 1))
    if len(items) <= limit:
        return items, None
    page = items[:limit]
    return page, tokens.issue(scope, key(page[-1]))


def _digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]
