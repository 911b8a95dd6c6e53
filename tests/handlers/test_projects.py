"""Projects through boto3 against the live server: lifecycle, errors with their modeled fields, pagination."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import NO_RETRIES

UNCHECKED = NO_RETRIES.merge(Config(parameter_validation=False))


def test_create_describe_list_delete(lfv):
    before = time.time()
    created = lfv.create_project(ProjectName="circuit-boards")
    metadata = created["ProjectMetadata"]
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert metadata["ProjectName"] == "circuit-boards"
    assert metadata["ProjectArn"] == "arn:aws:lookoutvision:us-east-1:123456789012:project/circuit-boards"
    assert isinstance(metadata["CreationTimestamp"], datetime)
    assert before - 1 <= metadata["CreationTimestamp"].timestamp() <= time.time() + 1

    described = lfv.describe_project(ProjectName="circuit-boards")["ProjectDescription"]
    assert described == {**metadata, "Datasets": []}

    listed = lfv.list_projects()
    assert listed["Projects"] == [metadata]
    assert "NextToken" not in listed

    deleted = lfv.delete_project(ProjectName="circuit-boards")
    assert deleted["ProjectArn"] == metadata["ProjectArn"]
    assert lfv.list_projects()["Projects"] == []


def test_duplicate_name_is_a_conflict(lfv):
    lfv.create_project(ProjectName="p1")
    with pytest.raises(lfv.exceptions.ConflictException) as caught:
        lfv.create_project(ProjectName="p1")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["Error"]["Message"] == "Project p1 already exists"
    assert (response["ResourceId"], response["ResourceType"]) == ("p1", "PROJECT")


@pytest.mark.parametrize("call", ["describe_project", "delete_project"])
def test_missing_project_is_not_found(lfv, call):
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as caught:
        getattr(lfv, call)(ProjectName="nope")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Message"] == "Project nope does not exist"
    assert (response["ResourceId"], response["ResourceType"]) == ("nope", "PROJECT")


@pytest.mark.parametrize("name", ["bad name!", "_leading", "a" * 256, "semi;colon", "sp ace"])
def test_invalid_names_are_refused_by_the_server(make_client, name):
    lfv = make_client(config=UNCHECKED)
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.create_project(ProjectName=name)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "'projectName'" in caught.value.response["Error"]["Message"]
    assert lfv.list_projects()["Projects"] == []


def test_pagination_across_pages_in_stable_order(lfv):
    names = [f"project-{i:02d}" for i in range(23)]
    for name in reversed(names):
        lfv.create_project(ProjectName=name)
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 10, **({"NextToken": token} if token else {})}
        response = lfv.list_projects(**kwargs)
        pages += 1
        seen += [project["ProjectName"] for project in response["Projects"]]
        token = response.get("NextToken")
        if token is None:
            break
    assert (seen, pages) == (names, 3)
    via_paginator = [
        project["ProjectName"]
        for page in lfv.get_paginator("list_projects").paginate(PaginationConfig={"PageSize": 7})
        for project in page["Projects"]
    ]
    assert via_paginator == names


def test_default_page_size_is_100(lfv):
    for i in range(101):
        lfv.create_project(ProjectName=f"p{i:03d}")
    first = lfv.list_projects()
    assert len(first["Projects"]) == 100 and "NextToken" in first
    second = lfv.list_projects(NextToken=first["NextToken"])
    assert [p["ProjectName"] for p in second["Projects"]] == ["p100"] and "NextToken" not in second


def test_paging_survives_deletes_between_pages(lfv):
    for i in range(6):
        lfv.create_project(ProjectName=f"p{i}")
    first = lfv.list_projects(MaxResults=3)
    lfv.delete_project(ProjectName="p3")  # the item the next page would start with
    rest = lfv.list_projects(MaxResults=3, NextToken=first["NextToken"])
    assert [p["ProjectName"] for p in rest["Projects"]] == ["p4", "p5"]


@pytest.mark.parametrize("max_results", [0, 101, -1])
def test_max_results_out_of_range(make_client, max_results):
    lfv = make_client(config=UNCHECKED)
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.list_projects(MaxResults=max_results)
    assert "'maxResults'" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "token", ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "forged+token/", "bad token!"]
)
def test_forged_next_token(lfv, token):
    lfv.create_project(ProjectName="p1")
    with pytest.raises(lfv.exceptions.ValidationException) as caught:
        lfv.list_projects(NextToken=token)
    assert "nextToken" in caught.value.response["Error"]["Message"] or "token is invalid" in str(caught.value)


def test_token_from_another_account_or_region_is_refused(lfv, make_client):
    for i in range(3):
        lfv.create_project(ProjectName=f"p{i}")
    token = lfv.list_projects(MaxResults=1)["NextToken"]
    for other in (make_client(region_name="eu-west-1"), make_client(aws_access_key_id="111122223333")):
        with pytest.raises(other.exceptions.ValidationException) as caught:
            other.list_projects(NextToken=token)
        assert "pagination token is invalid" in caught.value.response["Error"]["Message"]


def test_accounts_and_regions_are_isolated(lfv, make_client):
    lfv.create_project(ProjectName="shared-name")
    other_region = make_client(region_name="eu-west-1")
    other_account = make_client(aws_access_key_id="111122223333")
    assert other_region.list_projects()["Projects"] == []
    assert other_account.list_projects()["Projects"] == []
    arn_region = other_region.create_project(ProjectName="shared-name")["ProjectMetadata"]["ProjectArn"]
    arn_account = other_account.create_project(ProjectName="shared-name")["ProjectMetadata"]["ProjectArn"]
    assert arn_region == "arn:aws:lookoutvision:eu-west-1:123456789012:project/shared-name"
    assert arn_account == "arn:aws:lookoutvision:us-east-1:111122223333:project/shared-name"
    other_account.delete_project(ProjectName="shared-name")
    assert (
        lfv.describe_project(ProjectName="shared-name")["ProjectDescription"]["ProjectName"] == "shared-name"
    )


def test_same_client_token_replays_the_first_answer(lfv):
    first = lfv.create_project(ProjectName="p1", ClientToken="token-1")
    again = lfv.create_project(ProjectName="p1", ClientToken="token-1")  # no ConflictException: a retry
    assert again["ProjectMetadata"] == first["ProjectMetadata"]
    assert len(lfv.list_projects()["Projects"]) == 1

    deleted = lfv.delete_project(ProjectName="p1", ClientToken="token-2")
    replayed = lfv.delete_project(ProjectName="p1", ClientToken="token-2")  # gone, yet the retry succeeds
    assert replayed["ProjectArn"] == deleted["ProjectArn"]


def test_same_client_token_with_other_input_is_refused(lfv):
    lfv.create_project(ProjectName="p1", ClientToken="token-1")
    with pytest.raises(lfv.exceptions.ConflictException) as caught:
        lfv.create_project(ProjectName="p2", ClientToken="token-1")
    assert "token-1" in caught.value.response["Error"]["Message"]
    assert caught.value.response["ResourceType"] == "PROJECT"
    assert [p["ProjectName"] for p in lfv.list_projects()["Projects"]] == ["p1"]


def test_a_failed_call_is_not_remembered(lfv):
    with pytest.raises(lfv.exceptions.ResourceNotFoundException):
        lfv.delete_project(ProjectName="p1", ClientToken="token-3")
    lfv.create_project(ProjectName="p1")
    assert lfv.delete_project(ProjectName="p1", ClientToken="token-3")["ProjectArn"].endswith("project/p1")


def test_request_id_is_returned(lfv):
    response = lfv.list_projects()
    assert len(response["ResponseMetadata"]["RequestId"]) == 36
    with pytest.raises(ClientError) as caught:
        lfv.describe_project(ProjectName="nope")
    assert len(caught.value.response["ResponseMetadata"]["RequestId"]) == 36
