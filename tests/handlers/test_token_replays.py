"""A client token replays its first answer only while that answer's effect holds: a later call that
undid it (a stop after a start, a delete after a create) makes the repeat a new request.

AWS's batch sample sends ClientToken "RunOnce" to every StartModel and StopModel of a model."""

from __future__ import annotations

from tests.support.live import import_model, wait_for
from tests.support.onnx_models import classifier_bundle

TOKEN = "RunOnce"


def test_start_stop_start_with_one_token_hosts_again(lfv, http, tmp_path):
    import_model(http, "p", classifier_bundle(tmp_path / "bundle"))
    for _ in range(2):
        started = lfv.start_model(ProjectName="p", ModelVersion="1", MinInferenceUnits=1, ClientToken=TOKEN)
        assert started["Status"] == "STARTING_HOSTING"
        # A retry while the start holds is still a replay: no second start, no ConflictException.
        retried = lfv.start_model(ProjectName="p", ModelVersion="1", MinInferenceUnits=1, ClientToken=TOKEN)
        assert retried["Status"] == "STARTING_HOSTING"
        assert wait_for(lfv, "p", "1")["Status"] == "HOSTED"
        assert (
            lfv.stop_model(ProjectName="p", ModelVersion="1", ClientToken=TOKEN)["Status"]
            == "STOPPING_HOSTING"
        )
        assert (
            lfv.stop_model(ProjectName="p", ModelVersion="1", ClientToken=TOKEN)["Status"]
            == "STOPPING_HOSTING"
        )
        assert wait_for(lfv, "p", "1")["Status"] == "TRAINED"


def test_create_delete_create_project_with_one_token(lfv):
    first = lfv.create_project(ProjectName="p", ClientToken=TOKEN)["ProjectMetadata"]
    lfv.delete_project(ProjectName="p", ClientToken="delete-1")
    again = lfv.create_project(ProjectName="p", ClientToken=TOKEN)["ProjectMetadata"]
    assert again["CreationTimestamp"] >= first["CreationTimestamp"]
    assert [p["ProjectName"] for p in lfv.list_projects()["Projects"]] == ["p"]
    # ... and the delete's token deletes again once the project is back.
    lfv.delete_project(ProjectName="p", ClientToken="delete-1")
    assert lfv.list_projects()["Projects"] == []


def test_create_delete_create_dataset_with_one_token(lfv):
    lfv.create_project(ProjectName="p")
    lfv.create_dataset(ProjectName="p", DatasetType="train", ClientToken=TOKEN)
    lfv.delete_dataset(ProjectName="p", DatasetType="train")
    lfv.create_dataset(ProjectName="p", DatasetType="train", ClientToken=TOKEN)
    datasets = lfv.describe_project(ProjectName="p")["ProjectDescription"]["Datasets"]
    assert [d["DatasetType"] for d in datasets] == ["train"]
