"""Client tokens: a repeated token with the same input replays the first answer without doing the work again;
with a different input it is refused. Tokens are remembered for 8 hours, as the service documented."""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

TOKEN_LIFETIME_SECONDS = 8 * 3600


class TokenKey(NamedTuple):
    account: str
    region: str
    operation: str
    token: str


class Remembered(Protocol):
    """The first answer to a token: kept by the store as plain data."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def body(self) -> bytes: ...


class TokenStore(Protocol):
    def recall(self, key: tuple[str, str, str, str], newer_than: float) -> Remembered | None: ...

    def remember(
        self,
        key: tuple[str, str, str, str],
        fingerprint: str,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> None: ...


def fingerprint(params: dict[str, Any], token_member: str) -> str:
    """A stable digest of the input without its token: what 'the same request' means."""
    canonical = {name: value for name, value in params.items() if name != token_member}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=_bytes_as_hex)
    return hashlib.sha256(text.encode()).hexdigest()


def _bytes_as_hex(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


class TokenLocks(Protocol):
    """Serialises requests that carry the same token (across processes, when they share a store)."""

    def for_key(self, key: TokenKey) -> AbstractContextManager[object]: ...


class KeyLocks:
    """Striped locks: two requests with the same token run one after the other, others in parallel."""

    def __init__(self, stripes: int = 64) -> None:
        self._locks = [threading.Lock() for _ in range(stripes)]

    def for_key(self, key: TokenKey) -> threading.Lock:
        return self._locks[hash(key) % len(self._locks)]
