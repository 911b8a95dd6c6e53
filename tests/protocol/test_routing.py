from __future__ import annotations

import pytest

from server.protocol.routing import Router
from server.spec import service_model
from server.spec.errors import ServiceError

ROUTER = Router(service_model())


@pytest.mark.parametrize(
    ("method", "path", "operation", "labels"),
    [
        ("POST", "/2020-11-20/projects", "CreateProject", {}),
        ("GET", "/2020-11-20/projects", "ListProjects", {}),
        ("GET", "/2020-11-20/projects/p1", "DescribeProject", {"projectName": "p1"}),
        ("DELETE", "/2020-11-20/projects/p1", "DeleteProject", {"projectName": "p1"}),
        ("PATCH", "/2020-11-20/projects/p1/datasets/train/entries", "UpdateDatasetEntries",
         {"projectName": "p1", "datasetType": "train"}),
        ("POST", "/2020-11-20/projects/p1/models/latest/detect", "DetectAnomalies",
         {"projectName": "p1", "modelVersion": "latest"}),
        ("POST", "/2020-11-20/projects/p1/models/3/stop", "StopModel", {"projectName": "p1", "modelVersion": "3"}),
        ("GET", "/2020-11-20/projects/p1/modelpackagingjobs/j1", "DescribeModelPackagingJob",
         {"projectName": "p1", "jobName": "j1"}),
        ("POST", "/2020-11-20/tags/arn%3Aaws%3Alookoutvision%3Aus-east-1%3A123456789012%3Amodel%2Fp1%2F1",
         "TagResource", {"resourceArn": "arn:aws:lookoutvision:us-east-1:123456789012:model/p1/1"}),
    ],
)  # fmt: skip
def test_routes(method, path, operation, labels):
    matched, found = ROUTER.match(method, path, set())
    assert matched.name == operation
    assert found == labels


def test_unknown_path_and_wrong_method():
    with pytest.raises(ServiceError) as unknown:
        ROUTER.match("GET", "/2020-11-20/nothing/here", set())
    assert (unknown.value.code, unknown.value.status) == ("UnknownOperationException", 404)
    with pytest.raises(ServiceError) as wrong:
        ROUTER.match("PUT", "/2020-11-20/projects/p1", set())
    assert (wrong.value.code, wrong.value.status) == ("MethodNotAllowedException", 405)
    assert "DELETE, GET" in wrong.value.message


def test_a_decoded_slash_does_not_split_a_label():
    # An ARN label only matches while its slashes are still encoded; a raw '/' is a new segment.
    with pytest.raises(ServiceError):
        ROUTER.match("GET", "/2020-11-20/tags/arn:aws:lookoutvision:us-east-1:1:model/p1/1", set())
