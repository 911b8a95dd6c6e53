from __future__ import annotations

from server import __version__
from server.store.migrations import HEAD_REVISION


def test_health(http, emulator):
    body = http.get("/_emulator/health").json()
    assert body["ready"] is True
    assert body["version"] == __version__
    assert body["data_dir"] == str(emulator.data_dir)
    assert body["in_memory"] is False
    assert body["device"] == "cpu"
    assert body["execution_providers"] == ["CPUExecutionProvider"]
    assert body["schema_version"] == int(HEAD_REVISION)


def test_reset_wipes_every_account_region_and_client_token(http, lfv, make_client):
    lfv.create_project(ProjectName="p1", ClientToken="reset-token")
    make_client(region_name="eu-west-1").create_project(ProjectName="p2")
    response = http.post("/_emulator/reset")
    assert response.status_code == 200 and response.json()["reset"] is True
    assert lfv.list_projects()["Projects"] == []
    assert make_client(region_name="eu-west-1").list_projects()["Projects"] == []
    # The token was forgotten too: the same token now creates a different project without a conflict.
    assert (
        lfv.create_project(ProjectName="p3", ClientToken="reset-token")["ProjectMetadata"]["ProjectName"]
        == "p3"
    )
