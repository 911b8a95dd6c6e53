"""All 22 operations are routed from day one: each answers through boto3, and those whose issue has not
landed say so with an error that names the operation."""

from __future__ import annotations

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from server.handlers.registry import OPERATIONS
from server.spec import service_model
from tests.support.shapes import example_input

MODEL = service_model()
IMPLEMENTED = set(OPERATIONS)


def test_the_issues_landed_so_far_are_implemented():
    done = {"CreateProject", "DescribeProject", "ListProjects", "DeleteProject", "DescribeModel", "ListModels",
            "DeleteModel", "StartModel", "StopModel", "DetectAnomalies", "TagResource", "UntagResource",
            "ListTagsForResource"}  # fmt: skip
    assert done <= IMPLEMENTED


@pytest.mark.parametrize("name", sorted(MODEL.operation_names))
def test_operation_answers(lfv, name):
    params = example_input(MODEL.operation_model(name))
    call = getattr(lfv, xform_name(name))
    try:
        response = call(**params)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if name in IMPLEMENTED:
            assert code != "NotImplementedException"
            assert code in {shape.name for shape in MODEL.operation_model(name).error_shapes}
        else:
            assert code == "NotImplementedException"
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 501
            assert name in error.response["Error"]["Message"]
        return
    assert name in IMPLEMENTED
    assert response["ResponseMetadata"]["HTTPStatusCode"] == MODEL.operation_model(name).http.get(
        "responseCode", 200
    )
