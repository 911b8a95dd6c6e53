from __future__ import annotations

import base64

import pytest

from server.protocol.pagination import PageTokens, paginate
from server.spec.errors import ServiceError

TOKENS = PageTokens(b"k" * 32)
ITEMS = [f"item-{i:03d}" for i in range(25)]


def fetch(after, limit):
    return [item for item in ITEMS if after is None or item > after][:limit]


def walk(page_size: int) -> list[list[str]]:
    pages, token = [], None
    while True:
        items, token = paginate(TOKENS, "scope", fetch, lambda item: item, page_size, token, 100)
        pages.append(items)
        if token is None:
            return pages


def test_pages_cover_everything_once_and_the_last_has_no_token():
    pages = walk(10)
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [item for page in pages for item in page] == ITEMS


def test_exact_multiple_gives_no_empty_trailing_page():
    assert [len(page) for page in walk(5)] == [5] * 5


def test_token_is_opaque_and_fits_the_model_pattern():
    token = TOKENS.issue("scope", "item-009")
    assert "item" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-4] + "AAAA",
        lambda token: base64.b64encode(b"x" * 16 + b'["0000000000000000","item-020"]').decode(),
        lambda token: "notbase64",
        lambda token: PageTokens(b"other-secret").issue("scope", "item-001"),
        lambda token: TOKENS.issue("another scope", "item-001"),
    ],
)
def test_tampered_or_foreign_tokens_are_refused(forge):
    token = TOKENS.issue("scope", "item-009")
    with pytest.raises(ServiceError) as caught:
        paginate(TOKENS, "scope", fetch, lambda item: item, 10, forge(token), 100)
    assert caught.value.code == "ValidationException"
    assert "pagination token is invalid" in caught.value.message
