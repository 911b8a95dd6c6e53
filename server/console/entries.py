"""Dataset lines as the console shows and relabels them (Ground Truth JSON lines, as ListDatasetEntries
returns them). Reading stays lenient, for display: an evaluation manifest's lines carry a second,
detected label that an import would refuse."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

LABELS = ("normal", "anomaly")


@dataclass
class Entry:
    """A dataset line as the grid shows it."""

    source_ref: str
    name: str
    label: str | None
    mask_ref: str | None
    classes: list[tuple[str, str]] = field(default_factory=list)  # (name, #colour), background left out
    line: str = ""


def parse_entry(line: str) -> Entry:
    document = json.loads(line)
    label = None
    for key, value in document.items():
        meta = document.get(f"{key}-metadata")
        if not key.endswith(("-metadata", "-ref")) and isinstance(meta, dict) and "class-name" in meta:
            label = meta["class-name"] if meta["class-name"] in LABELS else ("anomaly" if value else "normal")
            break
    mask_ref = next(
        (value for key, value in document.items() if key.endswith("-ref") and key != "source-ref"), None
    )
    classes = []
    if mask_ref:
        color_map = (document.get(f"{_mask_key(document)}-metadata") or {}).get("internal-color-map") or {}
        for item in color_map.values():
            if isinstance(item, dict) and str(item.get("class-name", "")).upper() != "BACKGROUND":
                classes.append((str(item.get("class-name")), str(item.get("hex-color"))))
    source = str(document.get("source-ref", ""))
    return Entry(source, source.rsplit("/", 1)[-1], label, mask_ref, classes, line)


def _mask_key(document: dict[str, Any]) -> str | None:
    return next((key for key in document if key.endswith("-ref") and key != "source-ref"), None)


def relabelled(line: str, label: str) -> str:
    """The same manifest line with a human label: every label key says `label`, or anomaly-label is added."""
    document = json.loads(line)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    keys = [
        key
        for key in document
        if not key.endswith(("-metadata", "-ref"))
        and isinstance(document.get(f"{key}-metadata"), dict)
        and "class-name" in document[f"{key}-metadata"]
    ]
    if not keys:
        keys = ["anomaly-label"]
        document["anomaly-label-metadata"] = {"type": "groundtruth/image-classification"}
    for key in keys:
        document[key] = 1 if label == "anomaly" else 0
        document[f"{key}-metadata"].update(
            {
                "class-name": label,
                "human-annotated": "yes",
                "creation-date": stamp,
                "job-name": "lookoutvision-console",
            }
        )
    return json.dumps(document, separators=(",", ":"))
