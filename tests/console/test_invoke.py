"""Dispatcher.invoke: an operation by name, validated against the service model like a wire request."""

from __future__ import annotations

import pytest

from server.protocol.context import request_context
from server.protocol.dispatcher import Dispatcher
from server.spec import service_model
from server.spec.errors import ServiceError


@pytest.fixture
def dispatcher():
    def create_project(context, params):
        return {"ProjectMetadata": {"ProjectName": params["ProjectName"], "account": context.account}}

    return Dispatcher(
        service_model(),
        {"CreateProject": create_project},
        default_account="111122223333",
        default_region="eu-west-1",
    )


def context():
    return request_context({}, "", default_account="111122223333", default_region="eu-west-1")


def test_a_valid_call_reaches_the_handler(dispatcher):
    answer = dispatcher.invoke(context(), "CreateProject", {"ProjectName": "p1", "ClientToken": None})
    assert answer == {"ProjectMetadata": {"ProjectName": "p1", "account": "111122223333"}}


@pytest.mark.parametrize(
    ("operation", "params", "code", "message"),
    [
        (
            "CreateProject",
            {},
            "ValidationException",
            "Value null at 'projectName' failed to satisfy constraint",
        ),
        (
            "CreateProject",
            {"ProjectName": "a/b"},
            "ValidationException",
            "Member must satisfy regular expression",
        ),
        ("CreateProject", {"ProjectName": "p", "Extra": 1}, "ValidationException", "has no member Extra"),
        ("Explode", {}, "UnknownOperationException", "There is no operation Explode"),
        ("ListProjects", {}, "NotImplementedException", "Operation ListProjects is not implemented"),
    ],
)
def test_bad_calls_raise_the_apis_errors(dispatcher, operation, params, code, message):
    with pytest.raises(ServiceError) as raised:
        dispatcher.invoke(context(), operation, params)
    assert raised.value.code == code and message in raised.value.message
