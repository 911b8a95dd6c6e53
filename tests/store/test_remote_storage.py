"""S3 storage (moto's server): what one replica writes, another fetches; each keeps a bounded cache."""

from __future__ import annotations

import pytest

from lookoutvision_emulator import EmulatorProcess, client
from server.s3.client import S3, S3Error
from server.store.blobs import Blobs
from server.store.files import ModelFiles
from server.store.models import ModelKey
from server.store.remote import RemoteFiles, parse_storage_url
from tests.conftest import FAKE_CREDENTIALS, NO_RETRIES


@pytest.fixture
def remote(s3, s3_url, monkeypatch) -> RemoteFiles:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3.create_bucket(Bucket="shared")
    return RemoteFiles(S3(s3_url), "us-east-1", *parse_storage_url("s3://shared/emulator/"))


def bundles_here(files: ModelFiles) -> int:
    return sum(1 for path in files.root.glob("*/*/*/*") if path.is_dir())


def test_bundles_written_by_one_replica_are_fetched_by_another_within_its_cache(tmp_path, remote, s3):
    writer = ModelFiles(tmp_path / "a", remote)
    keys = [ModelKey("123456789012", "us-east-1", "parts", version) for version in (1, 2, 3)]
    for key in keys:
        writer.write(key, {"model.onnx": b"onnx-%d" % key.version, "model.json": b"{}"})
    assert s3.head_object(Bucket="shared", Key="emulator/models/123456789012/us-east-1/parts/2/model.onnx")

    reader = ModelFiles(tmp_path / "b", remote, cache_limit=2)
    for key in keys:
        assert (reader.folder(key) / "model.onnx").read_bytes() == b"onnx-%d" % key.version
        assert bundles_here(reader) <= 2
    assert not (reader.root / "123456789012" / "us-east-1" / "parts" / "1").exists()  # the least recent went
    assert (reader.folder(keys[0]) / "model.onnx").read_bytes() == b"onnx-1"  # and comes back when used

    reader.remove(keys[0])
    with pytest.raises(FileNotFoundError, match="not in the storage"):
        ModelFiles(tmp_path / "c", remote).folder(keys[0])


def test_blobs_are_shared_and_a_wipe_empties_the_storage(tmp_path, remote, s3):
    digest = Blobs(tmp_path / "a", remote).put(b"image bytes")
    other = Blobs(tmp_path / "b", remote)
    assert other.get(digest) == b"image bytes"
    other.wipe()
    assert s3.list_objects_v2(Bucket="shared").get("KeyCount", 0) == 0
    with pytest.raises(S3Error, match="cannot read s3://shared/emulator/blobs/"):
        Blobs(tmp_path / "c", remote).get(digest)


@pytest.mark.parametrize(("url", "expected"), [("s3://b", ("b", "")), ("s3://b/p/q/", ("b", "p/q/"))])
def test_storage_urls(url, expected):
    assert parse_storage_url(url) == expected


def test_a_storage_folder_holds_the_bundles_instead_of_the_data_directory(tmp_path):
    files = tmp_path / "files"
    args = ["--storage-url", str(files), "--demo"]
    with EmulatorProcess(tmp_path / "data", extra_args=args, env=FAKE_CREDENTIALS) as process:
        assert client(process.url, config=NO_RETRIES).list_models(ProjectName="demo")["Models"]
    assert list((files / "models").rglob("model.onnx"))
    assert not list((tmp_path / "data").rglob("model.onnx"))
