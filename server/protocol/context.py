"""Who is asking and where: account and region from the SigV4 credential scope, plus a request id."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

# Credential=<access key>/<yyyymmdd>/<region>/<service>/aws4_request
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")
_ACCOUNT_KEY = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True)
class RequestContext:
    account: str
    region: str
    request_id: str
    access_key: str | None = None


def request_context(
    headers: Mapping[str, str], query_string: str, *, default_account: str, default_region: str
) -> RequestContext:
    """The credential scope picks the account and region (signatures are checked, when auth is on, by
    signing.verify before this is used).

    A 12-digit access key is taken as the account id (as moto does), so tests can simulate
    several accounts; any other key maps to the default account.
    """
    access_key = region = None
    found = _CREDENTIAL.search(headers.get("authorization", ""))
    if found:
        access_key, region = found.groups()
    else:
        presigned = parse_qs(query_string).get("X-Amz-Credential")
        parts = presigned[0].split("/") if presigned else []
        if len(parts) >= 3:
            access_key, region = parts[0], parts[2]
    account = access_key if access_key and _ACCOUNT_KEY.fullmatch(access_key) else default_account
    if not region or not _REGION.fullmatch(region):
        region = default_region
    return RequestContext(account=account, region=region, request_id=str(uuid.uuid4()), access_key=access_key)
