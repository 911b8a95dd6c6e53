"""Every kind of constraint in the model is enforced, with AWS's wording and the field's name."""

from __future__ import annotations

import pytest

from server.protocol.validation import validate_input
from server.spec import service_model
from server.spec.errors import ServiceError

MODEL = service_model()


def problems(operation: str, params: dict) -> str:
    with pytest.raises(ServiceError) as caught:
        validate_input(MODEL.operation_model(operation).input_shape, params)
    assert caught.value.code == "ValidationException"
    return caught.value.message


def accepts(operation: str, params: dict) -> None:
    validate_input(MODEL.operation_model(operation).input_shape, params)


def test_required_member():
    message = problems("CreateProject", {})
    assert message == (
        "1 validation error detected: Value null at 'projectName' failed to satisfy constraint: "
        "Member must not be null"
    )


@pytest.mark.parametrize("name", ["bad name!", "-starts-with-dash", "trailing\n", "ünicode"])
def test_pattern_must_match_the_whole_value(name):
    message = problems("CreateProject", {"ProjectName": name})
    assert "at 'projectName'" in message
    assert "Member must satisfy regular expression pattern: [a-zA-Z0-9][a-zA-Z0-9_\\-]*" in message


def test_alternation_pattern_is_anchored():
    # A search-style match would accept 'trainXYZ' for 'train|test'.
    message = problems("DescribeDataset", {"ProjectName": "p", "DatasetType": "trainXYZ"})
    assert "at 'datasetType'" in message and "train|test" in message
    accepts("DescribeDataset", {"ProjectName": "p", "DatasetType": "test"})


def test_length_limits_show_a_shortened_value():
    message = problems("CreateProject", {"ProjectName": "a" * 256})
    assert "Member must have length less than or equal to 255" in message
    assert "a" * 100 + "..." in message and "a" * 101 not in message
    accepts("CreateProject", {"ProjectName": "a" * 255})


def test_integer_range_and_several_errors_together():
    message = problems("ListProjects", {"MaxResults": 101, "NextToken": "not a token!"})
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
        in message
    )
    assert "at 'nextToken'" in message
    assert "Member must have value greater than or equal to 1" in problems("ListProjects", {"MaxResults": 0})


def test_enum_nested_structures_and_lists():
    params = {
        "ProjectName": "p",
        "ModelVersion": "1",
        "Configuration": {
            "Greengrass": {
                "S3OutputLocation": {"Bucket": "b"},
                "ComponentName": "c",
                "TargetPlatform": {"Os": "WINDOWS", "Arch": "X86_64"},
                "Tags": [{"Key": "k", "Value": "v"}, {"Key": "", "Value": "v"}],
            }
        },
    }
    message = problems("StartModelPackagingJob", params)
    assert "at 'configuration.greengrass.s3OutputLocation.bucket'" in message  # min 3
    assert (
        "at 'configuration.greengrass.targetPlatform.os' failed to satisfy constraint: "
        "Member must satisfy enum value set: [LINUX]" in message
    )
    assert "at 'configuration.greengrass.tags.2.member.key'" in message
    assert "tags.1" not in message


def test_unicode_tag_patterns():
    arn = "arn:aws:lookoutvision:us-east-1:123456789012:model/p/1"
    accepts("TagResource", {"ResourceArn": arn, "Tags": [{"Key": "Größe Ω 3", "Value": "été:/=+-@_."}]})
    message = problems("TagResource", {"ResourceArn": arn, "Tags": [{"Key": "semi;colon", "Value": "v"}]})
    assert "at 'tags.1.member.key'" in message


def test_list_length_limit():
    arn = "arn:aws:lookoutvision:us-east-1:123456789012:model/p/1"
    message = problems("UntagResource", {"ResourceArn": arn, "TagKeys": [f"k{i}" for i in range(201)]})
    assert (
        "at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 200"
        in message
    )


def test_delete_model_refuses_latest():
    assert "at 'modelVersion'" in problems("DeleteModel", {"ProjectName": "p", "ModelVersion": "latest"})
    accepts("DescribeModel", {"ProjectName": "p", "ModelVersion": "latest"})
