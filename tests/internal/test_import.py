"""POST /_emulator/projects/{project}/models: bundles and anomalib exports in, precise errors out."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.support.live import import_model
from tests.support.onnx_models import anomalib1_like, anomalib2_like, classifier_bundle, red_classifier


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def upload(http, content: bytes, kind: str = "application/zip", project: str = "parts", **query):
    return http.post(f"/_emulator/projects/{project}/models", content=content, headers={"Content-Type": kind},
                     params=query)  # fmt: skip


def test_bundle_import_creates_the_project_and_the_next_version(http, lfv, tmp_path):
    answer = import_model(http, "parts", classifier_bundle(tmp_path / "b"), description="first")
    assert answer == {
        "ProjectName": "parts",
        "ModelVersion": "1",
        "ModelArn": "arn:aws:lookoutvision:us-east-1:123456789012:model/parts/1",
        "Status": "TRAINED",
        "Task": "classification",
        "Source": "bundle",
    }
    assert lfv.describe_project(ProjectName="parts")["ProjectDescription"]["ProjectName"] == "parts"
    assert (
        lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Description"]
        == "first"
    )


def test_bare_onnx_and_anomalib_1_folders(http, tmp_path):
    bare = anomalib2_like(tmp_path / "a2.onnx").read_bytes()
    assert import_model(http, "p", bare)["Source"] == "anomalib-2"
    anomalib1_like(tmp_path / "a1")
    assert import_model(http, "p", tmp_path / "a1")["Source"] == "anomalib-1"


def model_json(**changes) -> bytes:
    document = {"format": "lookoutvision-emulator-bundle/1", "task": "classification", "input": {"name": "image"},
                "outputs": {"score": "score"}}  # fmt: skip
    document.update(changes)
    return json.dumps(document).encode()


@pytest.fixture
def graph(tmp_path) -> bytes:
    return red_classifier(tmp_path / "m.onnx").read_bytes()


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"model.json": b"{}"}, "holds no model.onnx"),
        ({"model.onnx": b"garbage"}, "not a loadable ONNX model"),
        ({"model.onnx": "GRAPH", "model.json": b"{not json"}, "model.json is not valid JSON"),
        ({"model.onnx": "GRAPH", "model.json": model_json(task="detection")}, "task: expected one of"),
        ({"model.onnx": "GRAPH", "model.json": model_json(input={"name": "pixels"})}, "no input 'pixels'"),
        ({"model.onnx": "GRAPH", "model.json": model_json(outputs={"score": "nope"})}, "no output 'nope'"),
        (
            {
                "model.onnx": "GRAPH",
                "model.json": model_json(
                    task="segmentation", outputs={"score": "score", "class_map": "score"}
                ),
            },
            "needs at least one anomaly class",
        ),
        (
            {"model.onnx": "GRAPH", "model.json": model_json(classes=[{"name": "a b", "color": "#FF0000"}])},
            "letters and digits only",
        ),
        (
            {"model.onnx": "GRAPH", "model.json": model_json(classes=[{"name": "dent", "color": "#ffffff"}])},
            "background's colour",
        ),
        ({"model.onnx": "GRAPH", "metadata.json": b'{"transform": {}}'}, "anomalib 0.x"),
        ({"model.onnx": "GRAPH", "a/model.onnx": "GRAPH"}, "more than one model.onnx"),
    ],
)
def test_bad_bundles_are_refused_with_the_reason(http, lfv, graph, files, fragment):
    content = zipped({name: graph if value == "GRAPH" else value for name, value in files.items()})
    response = upload(http, content)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert fragment in response.json()["Message"]
    assert lfv.list_projects()["Projects"] == []  # nothing half-made is left


def test_a_bare_graph_that_is_no_anomalib_export_needs_a_description(http, graph):
    response = upload(http, graph, "application/octet-stream")
    assert response.status_code == 400 and "write a model.json" in response.json()["Message"]


def test_archive_paths_cannot_escape(http, lfv, graph, tmp_path):
    content = zipped({"../../../../tmp/evil/model.onnx": graph, "/abs/model.json": model_json()})
    answer = upload(http, content)
    assert answer.status_code == 200, answer.text
    assert not (tmp_path.parent / "evil").exists()
    assert (
        lfv.describe_model(ProjectName="parts", ModelVersion="1")["ModelDescription"]["Status"] == "TRAINED"
    )


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"imageWidth": "x", "imageHeight": "10"}, "must both be integers"),
        ({"imageWidth": "-5", "imageHeight": "64"}, "must be 64 to 4096"),
        ({"imageWidth": "64", "imageHeight": str(10**30)}, "must be 64 to 4096"),
        ({"classColor": "red"}, "expected #RRGGBB"),
        ({"description": "has spaces"}, "description"),
        ({"account": "abc"}, "12 digits"),
    ],
)
def test_bad_query_values(http, graph, query, fragment):
    response = upload(http, zipped({"model.onnx": graph, "model.json": model_json()}), **query)
    assert response.status_code == 400 and fragment in response.json()["Message"]


def test_bad_project_name_and_empty_upload(http):
    assert "projectName" in upload(http, b"x", project="bad name!").json()["Message"]
    assert "upload is empty" in upload(http, b"").json()["Message"]
    assert "not a valid zip" in upload(http, b"not a zip").json()["Message"]
