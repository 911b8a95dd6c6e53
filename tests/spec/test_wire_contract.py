"""botocore's serializer turns a valid input for every operation into an HTTP request; our router and
parser must recover exactly that input, and our validator must accept it."""

from __future__ import annotations

import pytest

from server.protocol.parsing import parse_input
from server.protocol.routing import Router
from server.protocol.validation import validate_input
from server.spec import service_model
from tests.support.shapes import example_input, normalised
from tests.support.wire import client_request

MODEL = service_model()
ROUTER = Router(MODEL)


@pytest.mark.parametrize("name", sorted(MODEL.operation_names))
def test_parser_recovers_what_botocore_sends(name):
    operation = MODEL.operation_model(name)
    params = example_input(operation)
    request = client_request(operation, params)
    query_keys = {part.split("=", 1)[0] for part in request.query_string.split("&") if part}
    matched, labels = ROUTER.match(request.method, request.raw_path, query_keys)
    assert matched.name == name
    parsed = parse_input(matched, request, labels)
    assert parsed == normalised(params)
    validate_input(operation.input_shape, parsed)


def test_tag_arn_arrives_percent_encoded_and_is_decoded():
    operation = MODEL.operation_model("ListTagsForResource")
    arn = "arn:aws:lookoutvision:us-east-1:123456789012:model/p1/1"
    request = client_request(operation, {"ResourceArn": arn})
    assert "%2F" in request.raw_path and "%3A" in request.raw_path
    matched, labels = ROUTER.match(request.method, request.raw_path, set())
    assert parse_input(matched, request, labels) == {"ResourceArn": arn}


def test_untag_keeps_every_repeated_key():
    operation = MODEL.operation_model("UntagResource")
    params = {"ResourceArn": "arn:aws:lookoutvision:us-east-1:1:model/p/1", "TagKeys": ["a b", "c+d", "é/f"]}
    request = client_request(operation, params)
    matched, labels = ROUTER.match(request.method, request.raw_path, {"tagKeys"})
    assert parse_input(matched, request, labels) == params
