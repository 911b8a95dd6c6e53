"""State survives a restart and a kill -9, and concurrent requests leave a consistent store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lookoutvision_emulator import EmulatorProcess, client
from tests.conftest import NO_RETRIES


def names(lfv) -> list[str]:
    return [
        p["ProjectName"] for page in lfv.get_paginator("list_projects").paginate() for p in page["Projects"]
    ]


@pytest.mark.parametrize("kill", [False, True], ids=["stop", "kill-9"])
def test_projects_survive_a_restart(tmp_path, kill):
    with EmulatorProcess(tmp_path) as first:
        lfv = client(first.url, config=NO_RETRIES)
        created = [lfv.create_project(ProjectName=f"p{i}")["ProjectMetadata"] for i in range(5)]
        lfv.delete_project(ProjectName="p2")
        other_region = client(first.url, region_name="eu-west-1", config=NO_RETRIES)
        other_region.create_project(ProjectName="eu")
        token = lfv.list_projects(MaxResults=2)["NextToken"]
        first.stop(kill=kill)
    with EmulatorProcess(tmp_path) as second:
        lfv = client(second.url, config=NO_RETRIES)
        assert names(lfv) == ["p0", "p1", "p3", "p4"]
        assert (
            lfv.describe_project(ProjectName="p0")["ProjectDescription"]["CreationTimestamp"]
            == (created[0]["CreationTimestamp"])
        )
        assert names(client(second.url, region_name="eu-west-1")) == ["eu"]
        # Tokens are signed with a secret kept in the data directory, so paging resumes too.
        assert [p["ProjectName"] for p in lfv.list_projects(NextToken=token)["Projects"]] == ["p3", "p4"]
        # So do client tokens: a retry after the restart is still a replay.
        lfv.create_project(ProjectName="again", ClientToken="restart-token")
    with EmulatorProcess(tmp_path) as third:
        lfv = client(third.url, config=NO_RETRIES)
        assert (
            lfv.create_project(ProjectName="again", ClientToken="restart-token")["ProjectMetadata"][
                "ProjectName"
            ]
            == "again"
        )


def test_in_memory_server_forgets_everything(tmp_path):
    with EmulatorProcess() as first:
        client(first.url).create_project(ProjectName="p1")
    with EmulatorProcess() as second:
        assert names(client(second.url)) == []


def test_concurrent_creates_and_deletes(lfv):
    def create(i: int) -> str:
        try:
            lfv.create_project(ProjectName=f"p{i % 30:02d}")
            return "created"
        except lfv.exceptions.ConflictException:
            return "conflict"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(create, range(120)))
    assert outcomes.count("created") == 30 and outcomes.count("conflict") == 90
    assert names(lfv) == [f"p{i:02d}" for i in range(30)]

    def delete(i: int) -> str:
        try:
            lfv.delete_project(ProjectName=f"p{i % 30:02d}")
            return "deleted"
        except lfv.exceptions.ResourceNotFoundException:
            return "missing"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(delete, range(60)))
    assert outcomes.count("deleted") == 30
    assert names(lfv) == []


def test_concurrent_retries_with_one_token_do_the_work_once(lfv):
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: lfv.create_project(ProjectName="once", ClientToken="same-token"), range(16))
        )
    assert len({r["ProjectMetadata"]["CreationTimestamp"] for r in results}) == 1
    assert names(lfv) == ["once"]
