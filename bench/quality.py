"""How well CreateModel's models find anomalies, over many kinds of data, through the real API.

    python bench/quality.py [--rows aliens,cookies,...] [--out docs/quality.md] [--synthetic DIR] [--seed N]
                            [--side N]
                            [--server CHECKOUT]

As bench/train.py does it: moto's S3 and the emulator on loopback, images and Ground Truth manifests in
S3, CreateDataset (train and test), CreateModel, wait for TRAINED, read the EvaluationResult JSON from
S3, then StartModel and DetectAnomalies (boto3) over every test image, StopModel.

Rows:
- aliens: ../shared/datasets/aliens, per class names sorted as strings, even index train, odd test.
- cookies: ../shared/datasets/cookies/dataset-files, training images with odd N train, even N test,
  with the masks of its template.manifest (segmentation, class `cracked`).
- aliens-turned, cookies-turned: the same model, scored by DetectAnomalies on its test images rotated by
  a random angle and shifted by up to 5 % (seed 0, bench/train.py's `moved`; what the turn uncovers is
  the background's colour where every test picture shows a part on a plain background, as for aliens,
  and the picture's surroundings reflected otherwise, as for the cookies' tray and the surfaces, rather
  than a flat corner).
- texture, rotated_parts, boards, thin_cracks, large_parts, tiles, solar_cells, pcb_scans: bench/synthetic.py's
  sets (seed 0, or --seed N: other pictures of the same kinds, kept apart under DIR/seed-N), 30 + 30, even
  index train, odd test per class (15 + 15 each); masks for texture, boards, thin_cracks, tiles and pcb_scans.
  With --side N, their pictures reduced to N px on the longer side (kept apart under DIR/side-N).
- texture-turned, rotated_parts-turned, thin_cracks-turned: as aliens-turned, for the surfaces and the parts
  on a busy background (aligned boards and plates on a plain background are not photographed turned).
- texture-grey, ... tiles-grey: the same pictures in grey (bench/synthetic.py --grey), but for solar_cells and
  pcb_scans, grey already.
A row whose shared dataset folder is missing is skipped, with a note.

Columns: image AUROC, F1, precision and recall at the model's own threshold (from the evaluation result;
for turned rows from DetectAnomalies, the score being Confidence when IsAnomalous and 1 - Confidence
otherwise); mean Confidence of the true positives of DetectAnomalies; per-class mask IoU (AIOU of the
evaluation's PixelAnomalyClassMetrics; a class painted in one training mask or none says how many);
CreateModel to TRAINED, s; DetectAnomalies p50 over HTTP, ms.
--out FILE also writes the table there (markdown) and every number to FILE with a .json suffix.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402
from PIL import Image  # noqa: E402
from train import create_datasets, split  # noqa: E402

from bench.local_s3 import CREDENTIALS, manifest_line, start_moto  # noqa: E402
from lookoutvision_emulator import EmulatorProcess, client  # noqa: E402
from server.inference.alignment import plain_background  # noqa: E402
from server.training.trainer import metrics  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
BUCKET = "aliens"  # bench/train.py's helpers work in this bucket
REAL = ("aliens", "cookies")
GREY = "-grey"  # a synthetic set's pictures in grey: several real inspection sets are grey
TURNED_SETS = ("texture", "rotated_parts", "thin_cracks")  # surfaces and parts a camera may see turned
ROWS = (
    "aliens",
    "aliens-turned",
    "cookies",
    "cookies-turned",
    *(
        row
        for name in synthetic.SETS
        for row in ([name, f"{name}-turned"] if name in TURNED_SETS else [name])
    ),
    *(f"{name}{GREY}" for name in synthetic.SETS if name not in synthetic.GREY_ONLY),
)
TRAIN_TIMEOUT = 1800.0


@dataclass
class Item:
    path: Path
    label: str  # "normal" or "anomaly"
    mask: Path | None = None
    line: dict | None = None  # the dataset's own manifest line, when it has one


@dataclass
class Data:
    train: list[Item]
    test: list[Item]
    classes: dict[str, str] | None = None  # "#RRGGBB" -> class name (segmentation)


@dataclass
class Row:
    name: str
    status: str = "ok"
    note: str = ""
    numbers: dict = field(default_factory=dict)


# ---------------------------------------------------------------- the data of each row


def aliens_data() -> Data | None:
    folder = SHARED / "aliens"
    if not (folder / "normal").is_dir():
        return None
    parts = split(folder)
    return Data(*([Item(path, label) for path, label in parts[part]] for part in ("train", "test")))


def cookies_data() -> Data | None:
    folder = SHARED / "cookies" / "dataset-files"
    manifest = folder / "manifests" / "template.manifest"
    if not manifest.is_file():
        return None
    train, test, classes = [], [], {}
    for text in manifest.read_text().splitlines():
        if not text.strip():
            continue
        line = json.loads(text)
        path = folder / line["source-ref"]
        label = "anomaly" if line["anomaly-label"] == 1 else "normal"
        number = int(re.search(r"(\d+)\.\w+$", path.name).group(1))
        mask = folder / line["anomaly-mask-ref"] if "anomaly-mask-ref" in line else None
        for entry in line.get("anomaly-mask-ref-metadata", {}).get("internal-color-map", {}).values():
            classes[entry["hex-color"].upper()] = entry["class-name"]
        (train if number % 2 else test).append(Item(path, label, mask, line))
    return Data(train, test, classes or None)


def synthetic_data(name: str, folder: Path, seed: int = 0, side: int | None = None) -> Data:
    """Set `name` (made under `folder` when missing); another seed's pictures live in folder/seed-N, pictures
    reduced to `side` px in folder/side-N (bench/synthetic.py --side)."""
    folder = folder / f"seed-{seed}" if seed else folder
    folder = folder / f"side-{side}" if side else folder
    root = folder / name
    if not (root / "anomaly" / "029.png").exists():
        base = name.removesuffix(GREY)
        synthetic.generate(base, folder, seed=seed, grey=base != name, side=side)
    classes = json.loads((root / "classes.json").read_text()) if (root / "classes.json").exists() else None
    parts = split(root)

    def item(path: Path, label: str) -> Item:
        mask = root / "masks" / path.name if classes and label == "anomaly" else None
        return Item(path, label, mask)

    return Data(*([item(path, label) for path, label in parts[part]] for part in ("train", "test")), classes)


# ---------------------------------------------------------------- S3 and the API


def upload(s3, row: str, data: Data) -> dict[str, str]:
    """Images, masks and one manifest per dataset type under `row/`; {dataset type: manifest key}."""
    manifests = {}
    for part, items in (("train", data.train), ("test", data.test)):
        lines = []
        for item in items:
            key = f"{row}/{part}/{item.label}/{item.path.name}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=item.path.read_bytes())
            if item.line is not None:  # the dataset's own line (cookies): its labels and colour map as-is
                line = dict(item.line, **{"source-ref": f"s3://{BUCKET}/{key}"})
            else:
                line = json.loads(manifest_line(BUCKET, key, item.label))
            if item.mask is not None:
                mask_key = f"{row}/{part}/masks/{item.mask.name}"
                s3.put_object(Bucket=BUCKET, Key=mask_key, Body=item.mask.read_bytes())
                line["anomaly-mask-ref"] = f"s3://{BUCKET}/{mask_key}"
                if item.line is None:
                    line["anomaly-mask-ref-metadata"] = mask_metadata(data.classes or {})
            lines.append(json.dumps(line))
        manifests[part] = f"{row}/{part}.manifest"
        s3.put_object(Bucket=BUCKET, Key=manifests[part], Body="\n".join(lines).encode())
    return manifests


def mask_metadata(classes: dict[str, str]) -> dict:
    colour_map = {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff", "confidence": 0.0}}
    for index, (colour, name) in enumerate(classes.items(), start=1):
        colour_map[str(index)] = {"class-name": name, "hex-color": colour, "confidence": 0.0}
    return {"internal-color-map": colour_map, "type": "groundtruth/semantic-segmentation",
            "human-annotated": "yes", "creation-date": "2023-01-01T00:00:00"}  # fmt: skip


def wait(lfv, project: str, leaving: set[str], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        model = lfv.describe_model(ProjectName=project, ModelVersion="1")["ModelDescription"]
        if model["Status"] not in leaving or time.monotonic() > deadline:
            return model
        time.sleep(0.1)


def detect(lfv, project: str, bodies: list[tuple[bytes, str, str]]) -> tuple[list[dict], list[float]]:
    """DetectAnomalies over (body, content type, label); predictions as trainer.metrics takes them."""
    predictions, timings = [], []
    for body, kind, label in bodies:
        begin = time.perf_counter()
        answer = lfv.detect_anomalies(ProjectName=project, ModelVersion="1", Body=body, ContentType=kind)
        timings.append(time.perf_counter() - begin)
        result = answer["DetectAnomalyResult"]
        confidence, anomalous = float(result["Confidence"]), bool(result["IsAnomalous"])
        predictions.append({"label": label, "anomalous": anomalous, "confidence": confidence,
                            "score": confidence if anomalous else 1.0 - confidence})  # fmt: skip
    return predictions, timings


def scored(predictions: list[dict], timings: list[float]) -> dict:
    found = metrics(predictions)
    positives = [p["confidence"] for p in predictions if p["anomalous"] and p["label"] == "anomaly"]
    return {
        "ROCAUC": found["ROCAUC"], "F1Score": found["F1Score"], "Precision": found["Precision"],
        "Recall": found["Recall"], "TPConfidence": statistics.fmean(positives) if positives else None,
        "DetectP50ms": statistics.median(timings) * 1000,
    }  # fmt: skip


def plain_parts(paths: list[Path]) -> bool:
    """Whether every picture shows a part on a plain background (alignment's own test, as the trainer
    applies it to a project's normal images)."""
    return plain_background([Image.open(path).convert("RGB") for path in paths]) is not None


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def turned_image(path: Path, rng: np.random.Generator, on_plain: bool) -> Image.Image:
    """bench/train.py's `moved` (a random angle, a shift of up to 5 %, the same draws), with what the turn
    uncovers filled as a camera turned over a larger scene would see it: for parts on a plain background
    (`on_plain`: aliens) that background's colour; on a busy one (the cookies' tray) or a surface filling
    the frame the picture's surroundings reflected, since a flat corner there would itself be a new pattern
    that any patch model rightly flags. `on_plain` is decided for the whole set (plain_parts): a fine
    texture's border passes alignment's test in a few of its pictures (3 of thin_cracks' 30 test pictures
    took flat corners when each picture was judged alone)."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    angle = float(rng.uniform(0, 360))
    dx, dy = (rng.uniform(-0.05, 0.05, 2) * np.array(image.size)).round().astype(int)
    pixels = np.asarray(image)
    colour = plain_background([image]) if on_plain else None  # the photo's own light
    if colour is not None:
        rotated = image.rotate(angle, resample=Image.BILINEAR, fillcolor=colour)
        return rotated.transform(image.size, Image.AFFINE, (1, 0, -dx, 0, 1, -dy), fillcolor=colour)
    pad = int(np.ceil((np.hypot(width, height) - min(width, height)) / 2)) + max(abs(dx), abs(dy)) + 2
    padded = Image.fromarray(np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="reflect"))
    rotated = padded.rotate(angle, resample=Image.BILINEAR)
    return rotated.crop((pad - dx, pad - dy, pad - dx + width, pad - dy + height))


def turned_pictures(paths: list[Path]) -> list[Image.Image]:
    """A turned row's test pictures: each turned and shifted (turned_image), the draws seeded alike for every
    run, the background's kind decided for the whole set."""
    rng, on_plain = np.random.default_rng(0), plain_parts(paths)
    return [turned_image(path, rng, on_plain) for path in paths]


def content_type(path: Path) -> str:
    return "image/png" if path.suffix.lower() == ".png" else "image/jpeg"


def run_row(lfv, s3, emulator, name: str, data: Data, turned: Row | None) -> Row:
    """Train, evaluate and serve one row's model; fill `turned` too when given."""
    row = Row(name)
    project = name.replace("_", "-")
    manifests = upload(s3, name, data)
    create_datasets(lfv, project, manifests)
    for dataset in manifests:
        status = lfv.describe_dataset(ProjectName=project, DatasetType=dataset)["DatasetDescription"]
        if status["Status"] != "CREATE_COMPLETE":
            row.status, row.note = "dataset failed", f"{dataset}: {status['StatusMessage']}"
            return row
    row.numbers["images"] = {part: len(items) for part, items in (("train", data.train), ("test", data.test))}
    started = time.monotonic()
    lfv.create_model(
        ProjectName=project, OutputConfig={"S3Location": {"Bucket": BUCKET, "Prefix": f"{name}-out/"}}
    )
    model = wait(lfv, project, {"TRAINING"}, TRAIN_TIMEOUT)
    row.numbers["TrainSeconds"] = time.monotonic() - started
    peaks = re.findall(r"peak memory of the training process (\d+) MB", emulator.output())
    if peaks:
        row.numbers["TrainPeakMB"] = int(peaks[-1])
    if model["Status"] != "TRAINED":
        row.status, row.note = "training failed", f"{model['Status']}: {model.get('StatusMessage', '')}"
        return row
    result = json.loads(s3.get_object(Bucket=BUCKET, Key=model["EvaluationResult"]["Key"])["Body"].read())
    evaluation = result["AggregatedEvaluationResults"]["Metrics"]
    row.numbers.update(
        {key: evaluation[key] for key in ("ROCAUC", "F1Score", "Precision", "Recall") if key in evaluation}
    )
    if "PixelAnomalyClassMetrics" in evaluation:
        row.numbers["IoU"] = {m["ClassName"]: m["AIOU"] for m in evaluation["PixelAnomalyClassMetrics"]}
        row.numbers["TrainingImagesPerClass"] = training_images_per_class(data)
    row.numbers["Performance"] = model.get("Performance")
    chosen = result.get("ModelSelection", {}).get("Chosen")
    if chosen:  # how the trainer chose the model (by cross-validation on the training images)
        row.numbers["ModelSelection"] = result["ModelSelection"]
        row.note = f"{chosen['Candidate']}; {chosen['DecisionRule']} (held-out AUROC {chosen['CrossValidatedROCAUC']})"

    lfv.start_model(ProjectName=project, ModelVersion="1", MinInferenceUnits=1)
    hosted = wait(lfv, project, {"STARTING_HOSTING"}, 300)
    if hosted["Status"] != "HOSTED":
        row.status, row.note = "hosting failed", f"{hosted['Status']}: {hosted.get('StatusMessage', '')}"
        return row
    try:
        bodies = [(item.path.read_bytes(), content_type(item.path), item.label) for item in data.test]
        served = scored(*detect(lfv, project, bodies))
        row.numbers["TPConfidence"], row.numbers["DetectP50ms"] = (
            served["TPConfidence"],
            served["DetectP50ms"],
        )
        row.numbers["detect"] = served  # the served model's own scores, against the evaluation's
        if turned is not None:
            pictures = turned_pictures([item.path for item in data.test])
            bodies = [(_png(picture), "image/png", item.label)
                      for picture, item in zip(pictures, data.test, strict=True)]  # fmt: skip
            turned.numbers = scored(*detect(lfv, project, bodies))
            turned.numbers["TrainSeconds"] = None
            turned.note = f"{name}'s model"
    finally:
        lfv.stop_model(ProjectName=project, ModelVersion="1")
        wait(lfv, project, {"STOPPING_HOSTING", "HOSTED"}, 120)
    return row


def training_images_per_class(data: Data) -> dict[str, int]:
    """How many training masks paint each class, by the name the evaluation reports it under (the
    trainer's: ASCII letters and digits only). A class painted in no training image or one cannot be
    learnt, whatever the trainer: its IoU says so, not how well the masks are drawn."""
    counts = {re.sub(r"[^A-Za-z0-9]", "", name): 0 for name in (data.classes or {}).values()}
    for item in data.train:
        if item.mask is None:
            continue
        rgba = np.asarray(Image.open(item.mask).convert("RGBA")).astype(np.uint32)
        shown = rgba[rgba[..., 3] > 0]  # a transparent pixel paints no class (as the trainer reads masks)
        present = set(np.unique((shown[:, 0] << 16) | (shown[:, 1] << 8) | shown[:, 2]).tolist())
        for colour, name in (data.classes or {}).items():
            if int(colour[1:7], 16) in present:
                counts[re.sub(r"[^A-Za-z0-9]", "", name)] += 1
    return counts


RARE_CLASS = 1  # a class painted in at most this many training masks is marked in the table


# ---------------------------------------------------------------- the table


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: list[Row]) -> str:
    lines = [
        "| row | AUROC | F1 | precision | recall | TP confidence | mask IoU per class | train s | p50 ms "
        "| model chosen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        n = row.numbers
        if row.status != "ok":
            lines.append(
                f"| {row.name} | {row.status}: {row.note} | | | | | | {_cell(n.get('TrainSeconds'), 1)} | | |"
            )
            continue
        painted = n.get("TrainingImagesPerClass", {})
        iou = (
            ", ".join(
                f"{name} {value:.3f}"
                + (f" ({painted[name]} in training)" if painted.get(name, 2) <= RARE_CLASS else "")
                for name, value in n.get("IoU", {}).items()
            )
            or "-"
        )
        lines.append(
            f"| {row.name} | {_cell(n.get('ROCAUC'))} | {_cell(n.get('F1Score'))} | {_cell(n.get('Precision'))} "
            f"| {_cell(n.get('Recall'))} | {_cell(n.get('TPConfidence'))} | {iou} "
            f"| {_cell(n.get('TrainSeconds'), 1)} | {_cell(n.get('DetectP50ms'), 1)} | {row.note or '-'} |"
        )
    return "\n".join(lines)


def short_commit(checkout: str | Path) -> str:
    """The checkout's commit, abbreviated; empty where it is no git checkout."""
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    parser.add_argument("--out", help="also write the table here, and all numbers to the .json beside it")
    parser.add_argument("--synthetic", help="folder for bench/synthetic.py's sets (made when missing); "
                        "default: a temporary folder")  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, help="bench/synthetic.py's seed for the synthetic rows"
    )
    parser.add_argument("--side", type=int, help="the synthetic rows' pictures reduced to this many px on "
                        "their longer side (bench/synthetic.py --side), as small inspection pictures come")  # fmt: skip
    parser.add_argument("--server", help="a checkout of this project whose server (and trainer) is measured "
                        "instead of this one's, e.g. an earlier commit's `git worktree`")  # fmt: skip
    args = parser.parse_args()
    wanted = [name.strip() for name in args.rows.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(ROWS))
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(unknown)} (rows: {', '.join(ROWS)})")
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="quality-"))
    synthetic_folder = Path(args.synthetic) if args.synthetic else work / "synthetic"
    notes, rows = [], {}
    bases = [
        name
        for name in ROWS
        if not name.endswith("-turned") and (name in wanted or f"{name}-turned" in wanted)
    ]

    moto, s3_url = start_moto()
    try:
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
        with EmulatorProcess(work / "emulator", env=env, checkout=args.server) as emulator:
            lfv = client(emulator.url)
            for name in bases:
                if name == "aliens":
                    data = aliens_data()
                elif name == "cookies":
                    data = cookies_data()
                else:
                    data = synthetic_data(name, synthetic_folder, args.seed, args.side)
                if data is None:
                    notes.append(
                        f"{name}: skipped, {SHARED / name} is missing (a fresh clone has no ../shared)"
                    )
                    print(notes[-1], flush=True)
                    continue
                turned = Row(f"{name}-turned") if f"{name}-turned" in wanted else None
                print(f"{name}: {len(data.train)} train, {len(data.test)} test images ...", flush=True)
                row = run_row(lfv, s3, emulator, name, data, turned)
                rows[name] = row
                if turned is not None:
                    if row.status != "ok":
                        turned.status, turned.note = row.status, f"see {name}"
                    rows[turned.name] = turned
                print(table([r for r in (row, turned) if r is not None]).split("\n", 2)[2], flush=True)
    finally:
        moto.terminate()

    ordered = [rows[name] for name in wanted if name in rows]
    wall = time.monotonic() - began
    text = table(ordered)
    print()
    print(text)
    for note in notes:
        print(f"\n{note}")
    print(f"\nwhole run: {wall:.0f} s")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        commit = short_commit(ROOT)
        if args.server:  # the server measured is another checkout's
            commit = f"{commit or '?'} (the server of {short_commit(args.server) or args.server})"
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        header = (
            f"# Model quality: `python bench/quality.py`\n\n"
            f"Measured {when} at commit {commit or '?'} on {platform.machine()} "
            f"({platform.python_version()}); whole run {wall:.0f} s; synthetic sets of seed {args.seed}"
            f"{f', pictures reduced to {args.side} px' if args.side else ''}. "
            f"See bench/quality.py for rows and columns.\n\n"
        )
        footer = "".join(f"\n{note}\n" for note in notes)
        out.write_text(header + text + "\n" + footer)
        numbers = {
            "when": when, "commit": commit, "wall_seconds": wall, "seed": args.seed, "side": args.side,
            "notes": notes,
            "rows": {row.name: {"status": row.status, "note": row.note, **row.numbers} for row in ordered},
        }  # fmt: skip
        out.with_suffix(".json").write_text(json.dumps(numbers, indent=1) + "\n")


if __name__ == "__main__":
    main()
