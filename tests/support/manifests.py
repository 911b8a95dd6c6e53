"""Build Ground Truth manifest lines and upload their images to moto's S3."""

from __future__ import annotations

import json

import numpy as np

from tests.support.onnx_models import image_bytes, solid


def classification_line(
    source_ref: str, label: str | None, created: str = "2022-02-04T22:47:07", **extra
) -> str:
    line: dict = {"source-ref": source_ref}
    if label is not None:
        line["anomaly-label"] = 1 if label == "anomaly" else 0
        line["anomaly-label-metadata"] = {"confidence": 1, "job-name": "labeling-job/anomaly-classification",
                                          "class-name": label, "human-annotated": "yes", "creation-date": created,
                                          "type": "groundtruth/image-classification"}  # fmt: skip
    line.update(extra)
    return json.dumps(line)


def segmentation_line(
    source_ref: str, mask_ref: str, colors: dict[str, str], created: str = "2022-08-22T21:26:25Z"
):
    color_map = {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 0.0}}
    for index, (name, color) in enumerate(colors.items(), start=1):
        color_map[str(index)] = {"class-name": name, "hex-color": color.lower(), "confidence": 0.0}
    return classification_line(
        source_ref, "anomaly", created,
        **{"anomaly-mask-ref": mask_ref, "anomaly-mask-ref-metadata": {
            "internal-color-map": color_map, "type": "groundtruth/semantic-segmentation", "human-annotated": "yes",
            "creation-date": created, "job-name": "labeling-job/segmentation-job"}},
    )  # fmt: skip


def part(width: int = 96, height: int = 80, seed: int = 0, kind: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    pixels = solid(width, height, (120, 120, 120))
    pixels[: height // 2] = rng.integers(0, 255, 3)
    return image_bytes(pixels, kind)


def mask(
    width: int, height: int, painted: dict[tuple[int, int, int, int], str], background=(255, 255, 255)
) -> bytes:
    pixels = solid(width, height, background)
    for (top, left, bottom, right), color in painted.items():
        pixels[top:bottom, left:right] = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return image_bytes(pixels)


def upload(s3, bucket: str, objects: dict[str, bytes]) -> None:
    existing = {item["Name"] for item in s3.list_buckets()["Buckets"]}
    if bucket not in existing:
        s3.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
