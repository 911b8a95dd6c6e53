"""Datasets through boto3 against the live server, with manifests and images in moto's S3."""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.support.manifests import classification_line, mask, part, segmentation_line, upload

SOURCE = {"GroundTruthManifest": {"S3Object": {"Bucket": "data", "Key": "train.manifest"}}}


def settled(lfv, project: str = "parts", dataset: str = "train", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        description = lfv.describe_dataset(ProjectName=project, DatasetType=dataset)["DatasetDescription"]
        if not description["Status"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return description
        time.sleep(0.02)


def import_lines(
    lfv, s3, lines: list[str], objects: dict[str, bytes] | None = None, dataset: str = "train"
) -> dict:
    upload(s3, "data", {**(objects or {}), "train.manifest": "\n".join(lines).encode()})
    lfv.create_project(ProjectName="parts")
    created = lfv.create_dataset(ProjectName="parts", DatasetType=dataset, DatasetSource=SOURCE)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["DatasetMetadata"]["Status"] == "CREATE_IN_PROGRESS"
    return settled(lfv, dataset=dataset)


def labelled_set(count_normal: int = 6, count_anomaly: int = 4, unlabeled: int = 2):
    objects, lines = {}, []
    for index in range(count_normal + count_anomaly + unlabeled):
        key = f"images/img_{index:02d}.png"
        objects[key] = part(seed=index)
        label = (
            "normal"
            if index < count_normal
            else "anomaly"
            if index < count_normal + count_anomaly
            else "other"
        )
        lines.append(
            classification_line(f"s3://data/{key}", label, created=f"2022-02-{index + 1:02d}T10:00:00")
        )
    return objects, lines


def test_an_empty_dataset_is_created_at_once(lfv):
    lfv.create_project(ProjectName="parts")
    created = lfv.create_dataset(ProjectName="parts", DatasetType="test")["DatasetMetadata"]
    assert (created["DatasetType"], created["Status"]) == ("test", "CREATE_COMPLETE")
    description = lfv.describe_dataset(ProjectName="parts", DatasetType="test")["DatasetDescription"]
    assert description["ImageStats"] == {"Total": 0, "Labeled": 0, "Normal": 0, "Anomaly": 0}
    assert description["StatusMessage"] == "The dataset was created successfully."
    project = lfv.describe_project(ProjectName="parts")["ProjectDescription"]
    assert [(d["DatasetType"], d["Status"]) for d in project["Datasets"]] == [("test", "CREATE_COMPLETE")]
    with pytest.raises(lfv.exceptions.ConflictException) as duplicate:
        lfv.create_dataset(ProjectName="parts", DatasetType="test")
    assert duplicate.value.response["ResourceType"] == "DATASET"
    with pytest.raises(lfv.exceptions.ConflictException):
        lfv.delete_project(ProjectName="parts")
    assert (
        lfv.delete_dataset(ProjectName="parts", DatasetType="test")["ResponseMetadata"]["HTTPStatusCode"]
        == 202
    )
    with pytest.raises(lfv.exceptions.ResourceNotFoundException) as gone:
        lfv.describe_dataset(ProjectName="parts", DatasetType="test")
    assert gone.value.response["ResourceType"] == "DATASET"
    lfv.delete_project(ProjectName="parts")


def test_classification_manifest_import_and_every_filter(lfv, s3):
    objects, lines = labelled_set()
    description = import_lines(lfv, s3, lines, objects)
    assert description["Status"] == "CREATE_COMPLETE", description
    assert description["ImageStats"] == {"Total": 12, "Labeled": 10, "Normal": 6, "Anomaly": 4}

    def refs(**filters) -> list[str]:
        paginator = lfv.get_paginator("list_dataset_entries")
        pages = paginator.paginate(
            ProjectName="parts", DatasetType="train", PaginationConfig={"PageSize": 5}, **filters
        )
        return [json.loads(entry)["source-ref"][-6:-4] for page in pages for entry in page["DatasetEntries"]]

    assert refs() == [f"{i:02d}" for i in range(12)]
    assert refs(Labeled=False) == ["10", "11"]
    assert refs(Labeled=True, AnomalyClass="anomaly") == ["06", "07", "08", "09"]
    assert refs(AnomalyClass="normal") == ["00", "01", "02", "03", "04", "05"]
    assert refs(SourceRefContains="img_1") == ["10", "11"]
    assert refs(AfterCreationDate="2022-02-09T00:00:00Z", BeforeCreationDate="2022-02-11T00:00:00Z") == [
        "08",
        "09",
    ]
    entries = lfv.list_dataset_entries(ProjectName="parts", DatasetType="train", AnomalyClass="anomaly")
    first = json.loads(entries["DatasetEntries"][0])
    assert first["anomaly-label"] == 1 and first["anomaly-label-metadata"]["class-name"] == "anomaly"


def test_segmentation_manifest_with_lenient_colour_maps(lfv, s3):
    objects = {"images/a.png": part(seed=1), "images/b.png": part(seed=2), "images/n.png": part(seed=3),
               "masks/a.png": mask(96, 80, {(10, 10, 30, 40): "#23A436"}),
               "masks/b.png": mask(96, 80, {(5, 5, 20, 20): "#FF0000", (40, 40, 60, 60): "#23A436"},
                                   background=(0, 0, 0))}  # fmt: skip
    template_style = json.loads(segmentation_line("s3://data/images/b.png", "s3://data/masks/b.png",
                                                  {"scratch": "#ff0000", "cracked": "#23A436"}))  # fmt: skip
    color_map = template_style["anomaly-mask-ref-metadata"]["internal-color-map"]
    del color_map["0"]  # AWS's own template has no BACKGROUND entry and no confidence
    for entry in color_map.values():
        entry.pop("confidence")
    lines = [segmentation_line("s3://data/images/a.png", "s3://data/masks/a.png", {"cracked": "#23A436"}),
             json.dumps(template_style), classification_line("s3://data/images/n.png", "normal")]  # fmt: skip
    description = import_lines(lfv, s3, lines, objects)
    assert description["Status"] == "CREATE_COMPLETE", description
    assert description["ImageStats"] == {"Total": 3, "Labeled": 3, "Normal": 1, "Anomaly": 2}


BAD_IMAGE = {"images/gif.gif": b"GIF89a" + bytes(100)}


@pytest.mark.parametrize(
    ("lines", "objects", "fragment"),
    [
        (["{not json"], {}, "Line 1: not valid JSON"),
        ([classification_line("s3://data/images/missing.png", "normal")], {}, "does not exist"),
        ([classification_line("s3://data/images/gif.gif", "normal")], BAD_IMAGE, "not a PNG or JPEG image"),
        ([classification_line("s3://data/images/a.png", "normal"), classification_line("s3://data/images/big.png",
          "normal")], {"images/big.png": part(120, 80)}, "Line 2 (s3://data/images/big.png): the image is 120x80, "
         "but the project's images are 96x80"),
        ([classification_line("s3://data/images/small.png", "normal")], {"images/small.png": part(32, 32)},
         "sides must be 64-4096 px"),
        ([segmentation_line("s3://data/images/a.png", "s3://data/masks/odd.png", {"dent": "#0000FF"})],
         {"masks/odd.png": mask(96, 80, {(0, 0, 5, 5): "#00FF00"})}, "uses #00FF00, not in its internal-color-map"),
        ([segmentation_line("s3://data/images/a.png", "s3://data/masks/wide.png", {"dent": "#0000FF"})],
         {"masks/wide.png": mask(100, 80, {})}, "the mask is 100x80, its image 96x80"),
        ([json.dumps({"anomaly-label": 1})], {}, "Line 1: source-ref is missing"),
        ([classification_line("s3://data/images/a.png", "normal")] * 2, {}, "already on line 1"),
        ([classification_line("file:///etc/passwd", "normal")], {}, "local files are off"),
        ([classification_line("https://example.com/a.png", "normal")], {}, "only s3:// references"),
    ],
)  # fmt: skip
def test_bad_manifests_fail_with_the_first_bad_line(lfv, s3, lines, objects, fragment):
    description = import_lines(lfv, s3, lines, {"images/a.png": part(), **objects})
    assert description["Status"] == "CREATE_FAILED"
    assert fragment in description["StatusMessage"], description["StatusMessage"]
    assert description["ImageStats"]["Total"] == 0


def test_a_10000_line_manifest_names_its_bad_line(lfv, s3):
    lines = [classification_line(f"s3://data/images/img_{i:05d}.png", "normal") for i in range(10_000)]
    lines[9_998] = lines[9_998][:-1]  # line 9999 loses its closing brace
    description = import_lines(lfv, s3, lines)
    assert description["Status"] == "CREATE_FAILED"
    assert description["StatusMessage"].startswith("Line 9999: not valid JSON")


def test_a_missing_manifest(lfv, s3):
    upload(s3, "data", {})
    lfv.create_project(ProjectName="parts")
    lfv.create_dataset(ProjectName="parts", DatasetType="train", DatasetSource=SOURCE)
    failed = settled(lfv)
    assert (
        failed["Status"] == "CREATE_FAILED"
        and "s3://data/train.manifest does not exist" in failed["StatusMessage"]
    )


def test_updates_add_replace_and_roll_back(lfv, s3):
    objects, lines = labelled_set(2, 1, 0)
    assert import_lines(lfv, s3, lines, objects)["Status"] == "CREATE_COMPLETE"
    upload(s3, "data", {"images/new.png": part(seed=9)})
    changes = "\n".join([classification_line("s3://data/images/new.png", "anomaly"),
                         classification_line("s3://data/images/img_00.png", "anomaly")])  # fmt: skip
    updated = lfv.update_dataset_entries(ProjectName="parts", DatasetType="train", Changes=changes.encode())
    assert updated["Status"] == "UPDATE_IN_PROGRESS" and updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    done = settled(lfv)
    assert done["Status"] == "UPDATE_COMPLETE"
    assert done["ImageStats"] == {"Total": 4, "Labeled": 4, "Normal": 1, "Anomaly": 3}
    listed = lfv.list_dataset_entries(ProjectName="parts", DatasetType="train")["DatasetEntries"]
    assert [json.loads(e)["source-ref"].rsplit("/", 1)[1] for e in listed] == [
        "img_00.png", "img_01.png", "img_02.png", "new.png"]  # a replaced entry keeps its place  # fmt: skip

    bad = "\n".join([classification_line("s3://data/images/other.png", "normal"), "{broken"])
    lfv.update_dataset_entries(ProjectName="parts", DatasetType="train", Changes=bad.encode())
    rolled = settled(lfv)
    assert rolled["Status"] == "UPDATE_FAILED_ROLLBACK_COMPLETE" and "Line 2" in rolled["StatusMessage"]
    assert rolled["ImageStats"] == done["ImageStats"]  # nothing stored before was lost
    # A dataset whose update rolled back can be updated again.
    lfv.update_dataset_entries(ProjectName="parts", DatasetType="train",
                               Changes=classification_line("s3://data/images/new.png", "normal").encode())  # fmt: skip
    assert settled(lfv)["ImageStats"]["Normal"] == 2


def test_busy_datasets_refuse_changes(lfv, s3, http):
    objects, lines = labelled_set(2, 0, 0)
    upload(s3, "data", {**objects, "train.manifest": "\n".join(lines).encode()})
    http.post("/_emulator/delays", json={"dataset_import": 1.0})
    lfv.create_project(ProjectName="parts")
    lfv.create_dataset(ProjectName="parts", DatasetType="train", DatasetSource=SOURCE)
    with pytest.raises(lfv.exceptions.ConflictException):
        lfv.update_dataset_entries(
            ProjectName="parts", DatasetType="train", Changes=b'{"source-ref": "s3://x/y"}'
        )
    with pytest.raises(lfv.exceptions.ConflictException):
        lfv.delete_dataset(ProjectName="parts", DatasetType="train")
    assert settled(lfv)["Status"] == "CREATE_COMPLETE"


def test_changes_must_be_base64_json_lines(http, lfv):
    lfv.create_project(ProjectName="parts")
    lfv.create_dataset(ProjectName="parts", DatasetType="train")
    path = "/2020-11-20/projects/parts/datasets/train/entries"
    response = http.patch(path, json={"Changes": "not base64!"})
    assert response.status_code == 400 and "base64" in response.json()["Message"]
    response = http.patch(path, json={"Changes": base64.b64encode(b"").decode()})
    assert response.status_code == 400  # min length 1
