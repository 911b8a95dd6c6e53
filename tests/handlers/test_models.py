"""DescribeModel, ListModels, DeleteModel and the project rules around them."""

from __future__ import annotations

import pytest

from tests.support.live import import_model
from tests.support.onnx_models import classifier_bundle


@pytest.fixture
def bundle(tmp_path):
    return classifier_bundle(tmp_path / "bundle")


def test_versions_count_up_and_are_never_reused(lfv, http, bundle):
    for _ in range(3):
        import_model(http, "parts", bundle, description="v.1-x")
    deleted = lfv.delete_model(ProjectName="parts", ModelVersion="3")
    assert deleted["ModelArn"].endswith(":model/parts/3")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert import_model(http, "parts", bundle)["ModelVersion"] == "4"
    listed = lfv.list_models(ProjectName="parts")["Models"]
    assert [m["ModelVersion"] for m in listed] == ["1", "2", "4"]
    assert listed[0]["Description"] == "v.1-x"
    assert (
        lfv.describe_model(ProjectName="parts", ModelVersion="latest")["ModelDescription"]["ModelVersion"]
        == "4"
    )


def test_list_models_pages(lfv, http, bundle):
    for _ in range(5):
        import_model(http, "parts", bundle)
    first = lfv.list_models(ProjectName="parts", MaxResults=2)
    second = lfv.list_models(ProjectName="parts", MaxResults=2, NextToken=first["NextToken"])
    third = lfv.list_models(ProjectName="parts", MaxResults=2, NextToken=second["NextToken"])
    pages = [[m["ModelVersion"] for m in page["Models"]] for page in (first, second, third)]
    assert pages == [["1", "2"], ["3", "4"], ["5"]] and "NextToken" not in third
    import_model(http, "other", bundle)
    with pytest.raises(lfv.exceptions.ValidationException):
        lfv.list_models(
            ProjectName="other", NextToken=first["NextToken"]
        )  # a token of another project's listing


def test_missing_project_and_version(lfv, http, bundle):
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as project:
        lfv.list_models(ProjectName="nope")
    assert project.value.response["ResourceType"] == "PROJECT"
    lfv.create_project(ProjectName="empty")
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as latest:
        lfv.describe_model(ProjectName="empty", ModelVersion="latest")
    assert latest.value.response["ResourceType"] == "MODEL"
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        lfv.delete_model(ProjectName="empty", ModelVersion="1")


def test_delete_model_refuses_latest(make_client, http, bundle):
    from tests.handlers.test_projects import UNCHECKED

    import_model(http, "parts", bundle)
    lfv = make_client(config=UNCHECKED)
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.delete_model(ProjectName="parts", ModelVersion="latest")
    assert "modelVersion" in caught.value.response["Error"]["Message"]


def test_project_with_models_cannot_be_deleted(lfv, http, bundle):
    import_model(http, "parts", bundle)
    with pytest.raises(lfv.exceptions.ConflictException) as caught:
        lfv.delete_project(ProjectName="parts")
    assert "delete them first" in caught.value.response["Error"]["Message"]
    lfv.delete_model(ProjectName="parts", ModelVersion="1")
    lfv.delete_project(ProjectName="parts")
    assert lfv.list_projects()["Projects"] == []


def test_models_are_isolated_per_region(lfv, make_client, http, bundle):
    import_model(http, "parts", bundle)
    other = make_client(region_name="eu-west-1")
    with pytest.raises(other.exceptions.ResourceNotFoundException):
        other.describe_model(ProjectName="parts", ModelVersion="1")
    import_model(http, "parts", bundle, region="eu-west-1")
    arn = other.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["ModelArn"]
    assert arn == "arn:aws:lookoutvision:eu-west-1:123456789012:model/parts/1"
