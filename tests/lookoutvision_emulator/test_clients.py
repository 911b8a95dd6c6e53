from __future__ import annotations

import os

import boto3
import botocore

from lookoutvision_emulator import client


def test_client_leaves_the_environment_and_default_session_alone(emulator, http):
    before = dict(os.environ)
    lfv = client(emulator.url)
    assert lfv.list_projects()["Projects"] == []
    assert dict(os.environ) == before
    shipped = "lookoutvision" in boto3.session.Session().get_available_services()
    # botocore 1.40.61 and later ship no model: a plain session must still not know the service.
    if tuple(int(part) for part in botocore.__version__.split(".")[:3]) >= (1, 40, 61):
        assert not shipped


def test_credentials_pick_the_account(emulator, http):
    lfv = client(emulator.url, region_name="ap-northeast-1", aws_access_key_id="444455556666")
    arn = lfv.create_project(ProjectName="p1")["ProjectMetadata"]["ProjectArn"]
    assert arn == "arn:aws:lookoutvision:ap-northeast-1:444455556666:project/p1"


def test_the_client_knows_the_servers_delay_kinds() -> None:
    """lookoutvision_emulator never imports the server, so its list is a copy: it must stay the same."""
    from lookoutvision_emulator.control import DELAY_KINDS
    from server.backend.timing import KINDS
    from server.settings import Settings

    assert DELAY_KINDS == KINDS
    assert set(Settings().delays) == set(KINDS)
