"""botocore's own serializer, turning an operation's input into the exact request a client sends."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel
from botocore.serialize import create_serializer

from server.protocol.http import HttpRequest


def client_request(operation: OperationModel, params: dict[str, Any]) -> HttpRequest:
    serializer = create_serializer("rest-json", include_validation=False)
    request_dict = serializer.serialize_to_request(params, operation)
    prepare_request_dict(request_dict, endpoint_url="http://127.0.0.1:5055")
    prepared = create_request_object(request_dict).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif not isinstance(body, bytes):
        body = body.read()
    return HttpRequest(
        method=prepared.method,
        raw_path=url.path,
        query_string=url.query,
        headers={key.lower(): value for key, value in prepared.headers.items()},
        body=body,
    )
