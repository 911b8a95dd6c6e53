"""Framework-neutral request and response values, so the protocol layer can be tested without a server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str  # still percent-encoded: ARNs in paths carry encoded slashes
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    operation: str = ""  # the operation that answered, for the access log; empty when none was routed
