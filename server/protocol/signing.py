"""Optional SigV4 signature checking, for a server that other people's code can reach.

Off unless the operator names credentials (settings `auth`, `credentials`, `credentials_file`): then every
L4V request must be signed (Authorization header, AWS4-HMAC-SHA256) by one of them, within 15 minutes
of the server's clock, as AWS checks. The canonical request is rebuilt from the request as received,
the way botocore built it before signing, signed again by botocore's SigV4Auth with the key's secret, and
the signatures compared in constant time. Presigned URLs are not accepted: the SDKs never presign L4V calls.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from urllib.parse import quote

from server.protocol.http import HttpRequest
from server.spec.errors import ServiceError

MAX_SKEW_SECONDS = 15 * 60
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<scope>\d{8}/[^/,\s]+/[^/,\s]+/aws4_request),\s*"
    r"SignedHeaders=(?P<headers>[a-z0-9;_-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


def parse_credentials(text: str) -> dict[str, str]:
    """ "KEY:SECRET,KEY2:SECRET2" -> {key: secret}; ValueError names what is wrong."""
    found = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, secret = item.partition(":")
        if not key or not secret:
            raise ValueError("credentials must be ACCESS_KEY:SECRET pairs separated by commas")
        found[key] = secret
    return found


def verify(request: HttpRequest, secrets: Mapping[str, str], now: float | None = None) -> None:
    """Raise the error AWS answers for an unsigned, unknown, expired or wrongly signed request."""
    authorization = request.headers.get("authorization")
    if not authorization:
        raise _forbidden("MissingAuthenticationTokenException", "Missing Authentication Token")
    found = _AUTHORIZATION.fullmatch(authorization.strip())
    if found is None:
        raise _forbidden("IncompleteSignatureException", "The Authorization header is not a valid SigV4 one")
    secret = secrets.get(found["key"])
    if secret is None:
        raise _forbidden(
            "UnrecognizedClientException", "The security token included in the request is invalid"
        )
    stamp = request.headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise _forbidden(
            "IncompleteSignatureException", "X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ"
        ) from None
    if (
        abs((time.time() if now is None else now) - signed_at) > MAX_SKEW_SECONDS
        or stamp[:8] != found["scope"][:8]
    ):
        raise _forbidden("InvalidSignatureException", "Signature expired or not yet valid: check the clock")
    names = found["headers"].split(";")
    if "host" not in names or any(name not in request.headers for name in names):
        raise _forbidden(
            "IncompleteSignatureException", "SignedHeaders must include host and name sent headers"
        )
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, found["scope"], _sha256(canonical_request(request, names).encode())]
    )
    expected = _botocore_signature(found["key"], secret, found["scope"], stamp, string_to_sign)
    if not hmac.compare_digest(expected, found["signature"]):
        raise _forbidden(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided",
        )


def canonical_request(request: HttpRequest, signed_headers: list[str]) -> str:
    from botocore.utils import normalize_url_path  # here: settings import this module, and stay quick

    pairs = sorted(pair.partition("=")[::2] for pair in request.query_string.split("&") if pair)
    headers = "".join(f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed_headers)
    payload = request.headers.get("x-amz-content-sha256") or _sha256(request.body)
    return "\n".join(
        [
            request.method.upper(),
            quote(normalize_url_path(request.raw_path), safe="/~"),  # the sent path, encoded again
            "&".join(f"{key}={value}" for key, value in pairs),
            headers,
            ";".join(signed_headers),
            payload,
        ]
    )


def _botocore_signature(key: str, secret: str, scope: str, stamp: str, string_to_sign: str) -> str:
    """The signature botocore's own signer gives this string: the key derivation is theirs, not ours."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    _, region, service, _ = scope.split("/")
    request = AWSRequest()
    request.context["timestamp"] = stamp  # the signing date comes from here, as when botocore signs
    return SigV4Auth(Credentials(key, secret), service, region).signature(string_to_sign, request)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _forbidden(code: str, message: str) -> ServiceError:
    return ServiceError(code, message, status=403)
