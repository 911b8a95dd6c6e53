"""How the console reads and relabels dataset lines."""

from __future__ import annotations

import json

from server.console.entries import parse_entry, relabelled

LABELLED = json.dumps({
    "source-ref": "s3://data/parts/a.png",
    "anomaly-label": 1,
    "anomaly-label-metadata": {"class-name": "anomaly", "type": "groundtruth/image-classification"},
    "anomaly-mask-ref": "s3://data/masks/a.png",
    "anomaly-mask-ref-metadata": {"internal-color-map": {
        "0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"},
        "1": {"class-name": "scratch", "hex-color": "#ff0000"},
    }},
})  # fmt: skip


def test_a_labelled_line_with_a_mask() -> None:
    entry = parse_entry(LABELLED)
    assert (entry.source_ref, entry.name, entry.label) == ("s3://data/parts/a.png", "a.png", "anomaly")
    assert entry.mask_ref == "s3://data/masks/a.png"
    assert entry.classes == [("scratch", "#ff0000")]  # the background is left out


def test_an_unlabelled_line() -> None:
    entry = parse_entry(json.dumps({"source-ref": "s3://data/b.png"}))
    assert entry.label is None and entry.mask_ref is None and entry.classes == []


def test_relabelling_changes_every_label_key_and_keeps_the_rest() -> None:
    document = json.loads(relabelled(LABELLED, "normal"))
    assert document["anomaly-label"] == 0
    assert document["anomaly-label-metadata"]["class-name"] == "normal"
    assert document["anomaly-label-metadata"]["human-annotated"] == "yes"
    assert document["anomaly-mask-ref"] == "s3://data/masks/a.png"  # the API accepts a normal with a mask
    assert parse_entry(relabelled(LABELLED, "normal")).label == "normal"


def test_labelling_an_unlabelled_line_adds_the_label() -> None:
    document = json.loads(relabelled(json.dumps({"source-ref": "s3://data/b.png"}), "anomaly"))
    assert document["anomaly-label"] == 1
    assert document["anomaly-label-metadata"]["class-name"] == "anomaly"
    assert document["anomaly-label-metadata"]["type"] == "groundtruth/image-classification"
