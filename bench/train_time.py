"""Training time of this checkout against another one, on the same images, alternately in one run.

    python bench/train_time.py --also CHECKOUT [--rows cookies,boards] [--rounds 2] [--synthetic DIR]
                               [--photos WIDTHxHEIGHT]

The trainer alone (server.training.trainer.train, in-process: no HTTP, no S3), on bench/quality.py's rows
and splits, each training in a fresh Python process that imports the server from its checkout; the two
checkouts take turns, round after round, so that a machine's slow spell falls on both. Prints, per row and
checkout, the median seconds of the whole training and of its phases (from the trainer's progress
messages), the ratio of this checkout's median to the other's, the median DetectAnomalies work on one
test photo with the trained model (decoding the file's bytes and ModelRunner.predict, on every core), and the
test metrics of each, which show whether the two trained the same model. `--photos` enlarges every picture
to a camera's size first (bicubic, saved as JPEG at quality 92; masks nearest-neighbour, as PNG).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The workers' environment as the bench was started with: importing this checkout's trainer here (for the
# jobs' descriptions) sets variables of its own (server/training/__init__.py), which the other checkout's
# workers must not inherit.
STARTED_WITH = dict(os.environ)

# the trainer's progress messages that open each phase, and the phase's short name
PHASES = (
    ("Extracting features", "features"),
    ("Model choice", "choice"),
    ("Learning the anomaly classes", "masks"),
    ("Choosing the decision threshold", "decision"),
    ("Exporting", "export"),
    ("Evaluating", "evaluation"),
)


def job_description(row: str, synthetic: Path, seed: int = 0, side: int | None = None) -> dict:
    """The row's train and test samples as plain data, for a worker of either checkout (`seed` and `side`:
    bench/quality.py's, for the synthetic rows)."""
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from bench import quality
    from server.datasets.manifest import parse_line

    data = (
        quality.aliens_data()
        if row == "aliens"
        else quality.cookies_data()
        if row == "cookies"
        else quality.synthetic_data(row, synthetic, seed, side)
    )
    if data is None:
        raise SystemExit(f"{row}: its shared dataset folder is missing")

    def sample(item) -> dict:
        colors = {}
        if item.line is not None:  # the dataset's own manifest names the mask's colours
            colors = parse_line(json.dumps(item.line), 1).classes
        elif item.mask is not None and data.classes:
            colors = {color.upper(): name for color, name in data.classes.items()}
        mask = str(item.mask) if item.mask else None
        return {"path": str(item.path), "label": item.label, "source_ref": str(item.path), "mask": mask,
                "colors": colors}  # fmt: skip

    with Image.open(data.train[0].path) as first:
        size = first.size
    return {"train": [sample(i) for i in data.train], "test": [sample(i) for i in data.test], "size": size}


def trainer_job(job: dict, output: str):
    """The trainer's Job for a job description (job_description's) writing to `output`, from the server
    package on the path (a worker's checkout)."""
    from server.training.samples import Sample
    from server.training.trainer import Job

    return Job(
        [Sample(**s) for s in job["train"]], [Sample(**s) for s in job["test"]], tuple(job["size"]), output
    )


def worker(checkout: Path, job_file: Path) -> None:
    """Trains the job with `checkout`'s trainer; prints one JSON line of seconds and metrics."""
    sys.path.insert(0, str(checkout))
    import server
    from server.training.trainer import train

    if not Path(server.__file__).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"{checkout} has no server package (it came from {Path(server.__file__).parent})")

    job = json.loads(job_file.read_text())
    marks: list[tuple[str, float]] = []
    start = time.perf_counter()

    def progress(message: str) -> None:
        for opening, phase in PHASES:
            if message.startswith(opening) and (not marks or marks[-1][0] != phase):
                marks.append((phase, time.perf_counter()))

    with tempfile.TemporaryDirectory() as output:
        result = train(trainer_job(job, output), progress)
        end = time.perf_counter()
        detect_ms = detect_time(Path(output), Path(job["test"][-1]["path"]))
    phases: dict[str, float] = {}  # a phase may come back (the masks learnt at a second working size)
    for (phase, at), following in zip(marks, [m[1] for m in marks[1:]] + [end], strict=True):
        phases[phase] = round(phases.get(phase, 0.0) + following - at, 2)
    ious = {e["ClassName"]: round(e["AIOU"], 3) for e in result.metrics.get("PixelAnomalyClassMetrics", [])}
    print(json.dumps({"seconds": round(end - start, 2), "phases": phases, "auroc": round(result.metrics["ROCAUC"], 4),
                      "f1": round(result.metrics["F1Score"], 4), "iou": ious, "detect_ms": detect_ms}))  # fmt: skip


DETECT_RUNS = 15


def detect_time(bundle: Path, photo: Path) -> float:
    """Median ms to decode `photo`'s bytes and run the trained model on it, as DetectAnomalies does."""
    from timings import median_ms  # bench/, the script's own folder

    from server.inference.bundle import read_bundle
    from server.inference.images import decode_image
    from server.inference.runtime import ModelRunner

    runner = ModelRunner(bundle, read_bundle(bundle), threads=os.cpu_count() or 1)
    body = photo.read_bytes()
    kind = "image/jpeg" if photo.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    return round(median_ms(lambda: runner.predict(decode_image(body, kind)), DETECT_RUNS), 1)


def photo_size(text: str) -> tuple[int, int]:
    """--photos' WIDTHxHEIGHT, each side 64..4096 (DetectAnomalies' limits)."""
    sides = text.lower().split("x")
    if len(sides) != 2 or not all(side.isdigit() and 64 <= int(side) <= 4096 for side in sides):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, each 64..4096, got {text!r}")
    return int(sides[0]), int(sides[1])


def camera_photos(job: dict, size: tuple[int, int], folder: Path) -> dict:
    """The job with every picture enlarged to `size` and saved as a JPEG (masks as PNGs) in `folder`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)

    def enlarged(sample: dict, index: int) -> dict:
        path = folder / f"{index}.jpg"
        with Image.open(sample["path"]) as picture:
            picture.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(path, quality=92)
        changed = {**sample, "path": str(path), "source_ref": str(path)}
        if sample.get("mask"):
            mask_path = folder / f"{index}-mask.png"
            with Image.open(sample["mask"]) as mask:
                mask.convert("RGB").resize(size, Image.Resampling.NEAREST).save(mask_path)
            changed["mask"] = str(mask_path)
        return changed

    samples = [enlarged(sample, index) for index, sample in enumerate(job["train"] + job["test"])]
    return {"train": samples[: len(job["train"])], "test": samples[len(job["train"]) :], "size": list(size)}


def timed_run(checkout: Path, job_file: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(checkout), str(job_file)]
    finished = subprocess.run(command, capture_output=True, text=True, env=STARTED_WITH)
    if finished.returncode != 0:
        raise SystemExit(f"training with {checkout} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--also", type=Path, metavar="CHECKOUT", help="the checkout to compare with")
    parser.add_argument("--rows", default="cookies,boards", help="bench/quality.py rows (no -turned ones)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--synthetic", type=Path, help="folder for bench/synthetic.py's sets (made when missing)"
    )
    parser.add_argument(
        "--photos", type=photo_size, metavar="WIDTHxHEIGHT", help="enlarge the pictures to a camera's size"
    )
    parser.add_argument("--worker", nargs=2, type=Path, metavar=("CHECKOUT", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.also is None or not (args.also / "server" / "training" / "trainer.py").is_file():
        parser.error("--also CHECKOUT is needed: a checkout of the emulator (its server/training/trainer.py)")
    checkouts = {"this": ROOT, "other": args.also.resolve()}
    with tempfile.TemporaryDirectory() as folder:
        synthetic = args.synthetic or Path(folder) / "synthetic"
        print("| row | checkout | train s, median | phases, median s | ratio this / other | detect ms, median | "
              "ratio | AUROC / F1 / IoU |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for row in args.rows.split(","):
            job_file = Path(folder) / f"{row}.json"
            job = job_description(row, synthetic)
            if args.photos:
                job = camera_photos(job, args.photos, Path(folder) / "photos" / row)
            job_file.write_text(json.dumps(job))
            runs: dict[str, list[dict]] = {name: [] for name in checkouts}
            for _ in range(args.rounds):
                for name, checkout in checkouts.items():
                    runs[name].append(timed_run(checkout, job_file))
            medians = {name: statistics.median(r["seconds"] for r in done) for name, done in runs.items()}
            detects = {name: statistics.median(r["detect_ms"] for r in done) for name, done in runs.items()}
            for name, done in runs.items():
                phases = ", ".join(
                    f"{phase} {statistics.median(r['phases'].get(phase, 0.0) for r in done):.1f}"
                    for _, phase in PHASES
                    if any(phase in r["phases"] for r in done)
                )
                last = done[-1]
                ratio = f"{medians['this'] / medians['other']:.2f}" if name == "this" else ""
                detect_ratio = f"{detects['this'] / detects['other']:.2f}" if name == "this" else ""
                label = "this" if name == "this" else str(checkouts["other"])
                print(f"| {row} | {label} | {medians[name]:.1f} | {phases} | {ratio} | {detects[name]:.1f} | "
                      f"{detect_ratio} | {last['auroc']:.3f} / {last['f1']:.3f} / {last['iou'] or '-'} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
