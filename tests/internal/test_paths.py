"""Values that become paths (account, region, project, version) are checked in one place, and nothing is
written or removed outside the data directory, whatever a request names."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store.files import ModelFiles
from server.store.models import ModelKey
from server.store.paths import UnsafePath
from tests.support.errors import assert_aws_error
from tests.support.onnx_models import anomalib2_like


def bystander(folder: Path) -> Path:
    """A folder that an unchecked region would have named as the model's target (then rmtree'd)."""
    victim = folder / "p" / "1"
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    return victim / "keep.txt"


@pytest.mark.parametrize("kind", ["absolute", "dotdot"])
def test_import_with_a_hostile_region_touches_nothing(http, tmp_path, kind):
    victim_root = tmp_path / "victim"
    precious = bystander(victim_root)
    region = str(victim_root) if kind == "absolute" else "../../../../../../../../" + str(victim_root)
    graph = anomalib2_like(tmp_path / "model.onnx").read_bytes()
    response = http.post(
        "/_emulator/projects/p/models",
        params={"region": region},
        content=graph,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert "region" in assert_aws_error(response, 400, "ValidationException")["Message"]
    assert precious.read_text() == "precious"
    assert not list(victim_root.glob("p/1/model*"))


@pytest.mark.parametrize(
    "query",
    [{"account": "../../../tmp"}, {"account": "12345678901a"}, {"region": "US-EAST-1"}, {"region": ""}],
)
def test_import_checks_account_and_region(http, tmp_path, query):
    graph = anomalib2_like(tmp_path / "model.onnx").read_bytes()
    response = http.post("/_emulator/projects/p/models", params=query, content=graph)
    assert_aws_error(response, 400, "ValidationException")


def test_scripted_results_check_account_and_region(http):
    body = {"project": "p", "version": "1", "results": [{"IsAnomalous": True, "Confidence": 0.5}]}
    response = http.post("/_emulator/results", json={**body, "region": "../x"})
    assert "region" in assert_aws_error(response, 400, "ValidationException")["Message"]


@pytest.mark.parametrize(
    "key",
    [
        ModelKey("123456789012", "/etc", "p", 1),
        ModelKey("123456789012", "us-east-1", "..", 1),
        ModelKey("123456789012", "us-east-1", "a/b", 1),
        ModelKey("../../../..", "us-east-1", "p", 1),
        ModelKey("123456789012", "us-east-1", "p", 0),
    ],
)
def test_model_files_refuse_keys_that_leave_the_data_directory(tmp_path, key):
    files = ModelFiles(tmp_path / "data")
    with pytest.raises(UnsafePath):
        files.remove(key)
    with pytest.raises(UnsafePath):
        files.write(key, {"model.onnx": b""})


def test_model_files_refuse_a_symlink_out_of_the_data_directory(tmp_path):
    precious = bystander(tmp_path / "outside")
    region_folder = tmp_path / "data" / "models" / "123456789012"
    region_folder.mkdir(parents=True)
    (region_folder / "us-east-1").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(UnsafePath):
        ModelFiles(tmp_path / "data").remove(ModelKey("123456789012", "us-east-1", "p", 1))
    assert precious.read_text() == "precious"
