"""Train on ../shared/datasets/aliens through CreateModel, as a user would, and check the issue's targets.

    python bench/train.py [--images ../shared/datasets/aliens]

Split (per class, names sorted as strings): even index to the train dataset, odd to the test dataset.
moto's S3 and the emulator run on loopback; the model is trained by CreateModel, evaluated by the server
on the test dataset, then the same test images are scored again after a random rotation (seed 0) and a
shift of up to 5 %. DetectAnomalies cost is measured in-process on the trained bundle at 550x380.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.local_s3 import CREDENTIALS, manifest_line, start_moto  # noqa: E402
from lookoutvision_emulator import EmulatorProcess, client  # noqa: E402
from server.backend.hosting import detection  # noqa: E402
from server.inference.bundle import read_bundle  # noqa: E402
from server.inference.images import decode_image  # noqa: E402
from server.inference.runtime import ModelRunner  # noqa: E402
from server.training.trainer import metrics  # noqa: E402


def split(folder: Path) -> dict[str, list[tuple[Path, str]]]:
    parts: dict[str, list[tuple[Path, str]]] = {"train": [], "test": []}
    for label in ("normal", "anomaly"):
        files = sorted((folder / label).glob("*.png"), key=lambda path: path.name)
        parts["train"] += [(path, label) for path in files[0::2]]
        parts["test"] += [(path, label) for path in files[1::2]]
    return parts


SCRATCH, SPOT = "#FF0000", "#0000FF"


def with_defect(path: Path, kind: str, rng: np.random.Generator) -> tuple[bytes, bytes]:
    """A normal aliens photo with a drawn scratch (a dark line) or spot (a dark red disc), and its mask."""
    from PIL import ImageDraw

    image = Image.open(path).convert("RGB")
    mask = Image.new("RGB", image.size, (255, 255, 255))
    width, height = image.size
    x, y = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    if kind == "scratch":
        angle, length = rng.uniform(0, np.pi), rng.uniform(60, 120)
        end = (x + np.cos(angle) * length, y + np.sin(angle) * length)
        ImageDraw.Draw(image).line((x, y, *end), fill=(35, 35, 35), width=7)
        ImageDraw.Draw(mask).line((x, y, *end), fill=(255, 0, 0), width=7)
    else:
        radius = rng.uniform(10, 18)
        ImageDraw.Draw(image).ellipse((x - radius, y - radius, x + radius, y + radius), fill=(120, 30, 20))
        ImageDraw.Draw(mask).ellipse((x - radius, y - radius, x + radius, y + radius), fill=(0, 0, 255))
    return _png(image), _png(mask)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def segmentation_line(bucket: str, key: str, mask_key: str, kind: str) -> str:
    line = json.loads(manifest_line(bucket, key, "anomaly"))
    color = SCRATCH if kind == "scratch" else SPOT
    line["anomaly-mask-ref"] = f"s3://{bucket}/{mask_key}"
    line["anomaly-mask-ref-metadata"] = {
        "internal-color-map": {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 0.0},
                               "1": {"class-name": kind, "hex-color": color, "confidence": 0.0}},
        "type": "groundtruth/semantic-segmentation", "human-annotated": "yes", "creation-date": "2023-01-01T00:00:00",
    }  # fmt: skip
    return json.dumps(line)


def create_datasets(lfv, project: str, manifests: dict[str, str]) -> None:
    """The project, with a dataset per type from manifests in the `aliens` bucket, once imported."""
    lfv.create_project(ProjectName=project)
    for dataset, key in manifests.items():
        source = {"GroundTruthManifest": {"S3Object": {"Bucket": "aliens", "Key": key}}}
        lfv.create_dataset(ProjectName=project, DatasetType=dataset, DatasetSource=source)
    for dataset in manifests:
        while lfv.describe_dataset(ProjectName=project, DatasetType=dataset)["DatasetDescription"][
            "Status"
        ].endswith("IN_PROGRESS"):  # fmt: skip
            time.sleep(0.1)


def trained_model(lfv, project: str, prefix: str) -> dict:
    """CreateModel with output under `prefix` in the `aliens` bucket; the model's description once TRAINED."""
    lfv.create_model(ProjectName=project, OutputConfig={"S3Location": {"Bucket": "aliens", "Prefix": prefix}})
    while (model := lfv.describe_model(ProjectName=project, ModelVersion="1")["ModelDescription"])[
        "Status"
    ] == "TRAINING":  # fmt: skip
        time.sleep(0.1)
    if model["Status"] != "TRAINED":
        raise SystemExit(f"training {project} failed: {model['StatusMessage']}")
    return model


def segmentation_iou(folder: Path, s3, lfv) -> dict[str, float]:
    """Train and test sets of normal photos plus drawn scratches and spots; per-class IoU from the server."""
    rng = np.random.default_rng(1)
    normals = sorted((folder / "normal").glob("*.png"), key=lambda path: path.name)
    for part, photos in (("segtrain", normals[0::2]), ("segtest", normals[1::2])):
        lines = []
        for index, path in enumerate(photos):
            key = f"{part}/normal/{path.name}"
            s3.put_object(Bucket="aliens", Key=key, Body=path.read_bytes())
            lines.append(manifest_line("aliens", key, "normal"))
            for kind in ("scratch", "spot"):
                if index < 12:
                    image, mask = with_defect(path, kind, rng)
                    image_key, mask_key = f"{part}/{kind}/{path.name}", f"{part}/{kind}-mask/{path.name}"
                    s3.put_object(Bucket="aliens", Key=image_key, Body=image)
                    s3.put_object(Bucket="aliens", Key=mask_key, Body=mask)
                    lines.append(segmentation_line("aliens", image_key, mask_key, kind))
        s3.put_object(Bucket="aliens", Key=f"{part}.manifest", Body="\n".join(lines).encode())
    create_datasets(lfv, "defects", {"train": "segtrain.manifest", "test": "segtest.manifest"})
    model = trained_model(lfv, "defects", "seg/")
    result = json.loads(s3.get_object(Bucket="aliens", Key=model["EvaluationResult"]["Key"])["Body"].read())
    return {
        m["ClassName"]: m["AIOU"]
        for m in result["AggregatedEvaluationResults"]["Metrics"]["PixelAnomalyClassMetrics"]
    }


def moved(path: Path, rng: np.random.Generator) -> Image.Image:
    image = Image.open(path).convert("RGB")
    angle = float(rng.uniform(0, 360))
    dx, dy = (rng.uniform(-0.05, 0.05, 2) * np.array(image.size)).round().astype(int)
    turned = image.rotate(angle, resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    return turned.transform(image.size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy), fillcolor=(255, 255, 255))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "datasets" / "aliens"))
    folder = Path(parser.parse_args().images)
    parts = split(folder)
    moto, s3_url = start_moto()
    data = Path(tempfile.mkdtemp())
    try:
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket="aliens")
        for part, items in parts.items():
            lines = []
            for path, label in items:
                key = f"{label}/{path.name}"
                s3.put_object(Bucket="aliens", Key=key, Body=path.read_bytes())
                lines.append(manifest_line("aliens", key, label))
            s3.put_object(Bucket="aliens", Key=f"{part}.manifest", Body="\n".join(lines).encode())
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
        with EmulatorProcess(data, env=env) as emulator:
            lfv = client(emulator.url)
            create_datasets(lfv, "aliens", {"train": "train.manifest", "test": "test.manifest"})
            started = time.monotonic()
            model = trained_model(lfv, "aliens", "out/")
            wall = time.monotonic() - started
            peak = re.search(r"peak memory of the training process (\d+) MB", emulator.output())
            result = json.loads(
                s3.get_object(Bucket="aliens", Key=model["EvaluationResult"]["Key"])["Body"].read()
            )
            ious = segmentation_iou(folder, s3, lfv)
        evaluation = result["AggregatedEvaluationResults"]["Metrics"]

        bundle = data / "models" / "123456789012" / "us-east-1" / "aliens" / "1"
        runner = ModelRunner(bundle, read_bundle(bundle), "cpu", threads=2)
        rng = np.random.default_rng(0)
        predictions = []
        for path, label in parts["test"]:
            prediction = runner.predict(moved(path, rng))
            predictions.append(
                {"label": label, "score": prediction.score, "anomalous": prediction.is_anomalous}
            )
        turned = metrics(predictions)
        image = Image.open(parts["test"][0][0]).convert("RGB")
        runner.predict(image)
        timings = []
        for _ in range(20):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            begin = time.perf_counter()
            detection(runner.predict(decode_image(buffer.getvalue(), "image/png")), runner.description)
            timings.append(time.perf_counter() - begin)
    finally:
        moto.terminate()

    def row(name: str, value: float, target: str, ok: bool) -> None:
        print(f"| {name} | {value:.3f} | {target} | {'met' if ok else 'NOT met'} |")

    print("| measure | value | target | |\n|---|---|---|---|")
    row("image AUROC (test set)", evaluation["ROCAUC"], ">= 0.99", evaluation["ROCAUC"] >= 0.99)
    row("F1 at the model's threshold", evaluation["F1Score"], ">= 0.95", evaluation["F1Score"] >= 0.95)
    row("AUROC, rotated and shifted", turned["ROCAUC"], ">= 0.99", turned["ROCAUC"] >= 0.99)
    row("F1, rotated and shifted", turned["F1Score"], ">= 0.95", turned["F1Score"] >= 0.95)
    row("CreateModel to TRAINED, s", wall, "<= 30", wall <= 30)
    if peak:
        row("peak memory of training, MB", float(peak.group(1)), "<= 1536", float(peak.group(1)) <= 1536)
    p50 = statistics.median(timings) * 1000
    row("DetectAnomalies in-process p50 at 550x380, ms", p50, "<= 150", p50 <= 150)
    for name, iou in sorted(ious.items()):
        row(f"segmentation IoU, {name}", iou, ">= 0.6", iou >= 0.6)


if __name__ == "__main__":
    main()
