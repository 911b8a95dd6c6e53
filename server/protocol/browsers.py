"""Refuse what a web page could make a browser send to this server.

By default the server checks no signatures and listens on loopback, so any page open in the user's
browser can reach it: a cross-site form or `fetch(..., {mode: "no-cors"})` sends a POST without a CORS preflight
as long as its content type is "simple", and the server would act on it even though the page cannot
read the answer. Such requests carry an `Origin` header (browsers send it on every cross-origin POST,
PUT, PATCH and DELETE) or a simple content type; SDKs and the AWS CLI send neither (JSON bodies are
`application/json`, DetectAnomalies' body is `image/png` or `image/jpeg`). So a state-changing request
is refused when its Origin is anything but this server's own loopback address, or when it has a body
of a simple content type. Reading (GET) is left alone: without CORS headers a page cannot read answers,
unless its own domain is re-pointed at 127.0.0.1 (DNS rebinding), so a server listening on loopback
also refuses any Host header that is not a loopback name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from server.spec.errors import ServiceError, access_denied

CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The content types a page can send without a CORS preflight (the Fetch standard's "CORS-safelisted").
SIMPLE_CONTENT_TYPES = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


def refusal(scope: Mapping[str, Any], max_header_bytes: int) -> ServiceError | None:
    """Why this HTTP request (an ASGI scope) must not be served, or None."""
    size = sum(len(name) + len(value) for name, value in scope["headers"])
    if size > max_header_bytes:  # uvicorn's httptools parser takes headers of any size
        return ServiceError(
            "ValidationException", f"The request headers are {size} bytes; the limit is {max_header_bytes}"
        )
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
    server = scope.get("server")
    host = headers.get("host")
    if host is not None and _loopback(server[0] if server else "") and _rebindable(_hostname(host)):
        # DNS rebinding: a page's own domain, re-pointed at 127.0.0.1, would make its requests
        # same-origin (answers readable, no Origin check). A loopback-only server has no other names.
        return _denied(f"Host {host[:200]} is not a loopback name; this server listens on loopback only")
    if scope["method"] not in CHANGING_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and not _own_origin(origin, server):
        return _denied(f"Requests from web pages are refused (Origin: {origin[:200]})")
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in SIMPLE_CONTENT_TYPES and _has_body(headers):
        return _denied(
            f"A request body of type {content_type} is refused: a web page can send it cross-site; "
            "send JSON as application/json"
        )
    return None


def _own_origin(origin: str, server: Any) -> bool:
    """A page served by this very server on a loopback address (for example its own console)."""
    try:
        parts = urlsplit(origin)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and _loopback(parts.hostname or "")
        and server is not None
        and port == server[1]
        and not parts.path.strip("/")
    )


def _hostname(host: str) -> str:
    try:
        return urlsplit(f"//{host}").hostname or ""
    except ValueError:
        return ""


def _loopback(hostname: str) -> bool:
    """localhost, *.localhost (browsers resolve these to loopback themselves), 127.0.0.0/8 and ::1."""
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return hostname == "localhost" or hostname.endswith(".localhost")


def _rebindable(hostname: str) -> bool:
    """A DNS name that an attacker could point at 127.0.0.1; IP literals and localhost names are not."""
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return not (hostname == "localhost" or hostname.endswith(".localhost"))
    return False


def _has_body(headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length", "")
    return (length.isdigit() and int(length) > 0) or "transfer-encoding" in headers


def _denied(message: str) -> ServiceError:
    return access_denied(message)
