"""Parse Ground Truth manifest lines (JSON Lines) the way L4V read them.

Classification: any attribute `<name>` with a `<name>-metadata` object; its `class-name` decides
(`normal` or `anomaly`; anything else imports the image unlabeled); the numeric value is ignored.
Segmentation: an attribute ending in `-ref` (not `source-ref`) names the mask, and its `-ref-metadata`
holds the `internal-color-map`. Parsing is lenient where AWS's own templates were: the map may lack a
BACKGROUND entry and `confidence`, colours may be either case, dates may be in several forms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from server.spec import jsontext

CLASSIFICATION_TYPE = "groundtruth/image-classification"
LABELS = ("normal", "anomaly")
MAX_LINE_CHARS = 8192  # DatasetEntry's limit in the service model


class ManifestError(ValueError):
    """A line that cannot be imported; the message starts with its number."""


@dataclass(frozen=True)
class ManifestLine:
    number: int
    source_ref: str
    document: dict[str, Any]
    label: str | None  # normal, anomaly, or None (unlabeled)
    created: float | None  # the label's creation-date, if it has one
    mask_ref: str | None
    classes: dict[str, str]  # mask colour (#RRGGBB, upper case) -> anomaly class name, background excluded

    def normalised(self) -> str:
        """The line as ListDatasetEntries returns it: label values written back as 1 (anomaly) / 0 (normal)."""
        document = dict(self.document)
        for key in _label_keys(document):
            name = document[f"{key}-metadata"].get("class-name")
            if name in LABELS:
                document[key] = 1 if name == "anomaly" else 0
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def parse_manifest(content: bytes | str, first_line: int = 1) -> list[ManifestLine]:
    """Every non-empty line, checked; the first problem raises ManifestError naming its line."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ManifestError(f"the manifest is not UTF-8 text: {error}") from None
    lines = []
    seen: dict[str, int] = {}
    for number, text in enumerate(content.splitlines(), start=first_line):
        if not text.strip():
            continue
        line = parse_line(text, number)
        if line.source_ref in seen:
            raise ManifestError(
                f"Line {number}: source-ref {line.source_ref} is already on line {seen[line.source_ref]}"
            )
        seen[line.source_ref] = number
        lines.append(line)
    if not lines:
        raise ManifestError("the manifest has no lines")
    return lines


def parse_line(text: str, number: int) -> ManifestLine:
    where = f"Line {number}"
    if len(text) > MAX_LINE_CHARS:
        raise ManifestError(f"{where}: {len(text)} characters; a line may have at most {MAX_LINE_CHARS}")
    try:
        document = jsontext.loads(text)
    except ValueError as error:  # jsontext.JsonError (too deep) included
        raise ManifestError(f"{where}: not valid JSON ({error})") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: a manifest line must be a JSON object")
    source_ref = document.get("source-ref")
    if not isinstance(source_ref, str) or not source_ref.strip():
        raise ManifestError(f"{where}: source-ref is missing or not a string")
    label, created = _label(document, where)
    mask_ref, classes = _mask(document, where)
    if mask_ref is not None and label is None:
        raise ManifestError(f"{where}: a mask needs a classification label (class-name normal or anomaly)")
    return ManifestLine(number, source_ref, document, label, created, mask_ref, classes)


def _label_keys(document: dict[str, Any]) -> list[str]:
    return [
        key
        for key in document
        if not key.endswith("-metadata")
        and not key.endswith("-ref")
        and isinstance(document.get(f"{key}-metadata"), dict)
        and "class-name" in document[f"{key}-metadata"]
    ]


def _label(document: dict[str, Any], where: str) -> tuple[str | None, float | None]:
    label, created = None, None
    for key in _label_keys(document):
        metadata = document[f"{key}-metadata"]
        kind = metadata.get("type", CLASSIFICATION_TYPE)
        if kind != CLASSIFICATION_TYPE:
            continue
        name = metadata.get("class-name")
        if not isinstance(name, str):
            raise ManifestError(f"{where}: {key}-metadata.class-name must be a string")
        if name in LABELS:
            if label is not None and label != name:
                raise ManifestError(f"{where}: two labels disagree ({label} and {name})")
            label = name
            created = _date(metadata.get("creation-date"))
    for key, value in document.items():
        if key.endswith("-metadata") and not isinstance(value, dict):
            raise ManifestError(f"{where}: {key} must be a JSON object")
    return label, created


def _mask(document: dict[str, Any], where: str) -> tuple[str | None, dict[str, str]]:
    keys = [key for key in document if key.endswith("-ref") and key != "source-ref"]
    if not keys:
        return None, {}
    if len(keys) > 1:
        raise ManifestError(f"{where}: more than one mask reference ({', '.join(keys)})")
    key = keys[0]
    mask_ref = document[key]
    if not isinstance(mask_ref, str) or not mask_ref.strip():
        raise ManifestError(f"{where}: {key} must be a string")
    metadata = document.get(f"{key}-metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("internal-color-map"), dict):
        raise ManifestError(f"{where}: {key}-metadata.internal-color-map is missing")
    classes: dict[str, str] = {}
    for index, entry in metadata["internal-color-map"].items():
        if not isinstance(entry, dict):
            raise ManifestError(f"{where}: internal-color-map entry {index} must be an object")
        name, color = entry.get("class-name"), entry.get("hex-color")
        if not isinstance(name, str) or not isinstance(color, str) or not _is_color(color):
            raise ManifestError(
                f"{where}: internal-color-map entry {index} needs class-name and hex-color #RRGGBB"
            )
        if name.upper() == "BACKGROUND":
            continue
        classes[color.upper()] = name
    return mask_ref, classes


def _is_color(text: str) -> bool:
    return len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in text[1:])


def _date(value: Any) -> float | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None  # an unreadable date is not an error: the import time stands in
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
