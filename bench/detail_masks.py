"""What drawing masks at the images' own size costs and gives: one set trained twice in one run.

    python bench/detail_masks.py [--sets thin_cracks,tiles] [--synthetic DIR] [--runs 30]

Each of bench/synthetic.py's sets (seed 0; even index train, odd test per class, as bench/quality.py) is
trained in-process as CreateModel trains it, and again with the masks drawn at the working size
(trainer.DETAIL_GAIN out of reach; the rest of the training, the refinement's refit included, the same).
Prints, per set and way: training seconds, per-class mask IoU on the test images, and DetectAnomalies'
runner (ModelRunner.predict on 2 threads, the work of the served call without HTTP) at p50 on an
anomalous test picture, the two models called alternately; then the ratio of the p50s, own size / working
size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import synthetic  # noqa: E402
from train import split  # noqa: E402

from bench.timings import median_ms  # noqa: E402
from server.inference.bundle import read_bundle  # noqa: E402
from server.inference.runtime import ModelRunner  # noqa: E402
from server.training import trainer  # noqa: E402
from server.training.samples import Sample  # noqa: E402


def samples(root: Path, classes: dict[str, str]) -> tuple[list[Sample], list[Sample]]:
    parts = split(root)

    def sample(path: Path, label: str) -> Sample:
        mask = root / "masks" / path.name if label == "anomaly" else None
        return Sample(str(path), label, str(path), str(mask) if mask else None, classes if mask else {})

    train, test = ([sample(path, label) for path, label in parts[part]] for part in ("train", "test"))
    return train, test


def trained(train: list[Sample], test: list[Sample], folder: Path, gain: float) -> tuple[float, dict, Path]:
    """Seconds, IoU per class and the bundle of one training with trainer.DETAIL_GAIN at `gain`."""
    saved, trainer.DETAIL_GAIN = trainer.DETAIL_GAIN, gain
    try:
        with Image.open(train[0].path) as image:
            size = image.size
        started = time.perf_counter()
        result = trainer.train(trainer.Job(train, test, size, str(folder)))
        seconds = time.perf_counter() - started
    finally:
        trainer.DETAIL_GAIN = saved
    ious = {
        entry["ClassName"]: round(entry["AIOU"], 3) for entry in result.metrics["PixelAnomalyClassMetrics"]
    }
    return seconds, ious, folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="thin_cracks,tiles,texture")
    parser.add_argument("--synthetic", help="folder of bench/synthetic.py's sets (made when missing)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="detail-masks-"))
    folder = Path(args.synthetic) if args.synthetic else work / "synthetic"
    for name in args.sets.split(","):
        root = folder / name
        if not (root / "anomaly" / "029.png").exists():
            synthetic.generate(name, folder)
        classes = json.loads((root / "classes.json").read_text())
        train, test = samples(root, classes)
        ways = {
            "own size": trained(train, test, work / f"{name}-own", trainer.DETAIL_GAIN),
            "working size": trained(train, test, work / f"{name}-working", float("inf")),
        }
        picture = next(Image.open(s.path).convert("RGB") for s in test if s.label == "anomaly")
        runners = {
            way: ModelRunner(bundle, read_bundle(bundle), threads=2) for way, (_, _, bundle) in ways.items()
        }
        timings: dict[str, list[float]] = {way: [] for way in runners}
        for _ in range(3):  # alternately, so that a busier spell of the machine falls on both
            for way, runner in runners.items():
                timings[way].append(median_ms(partial(runner.predict, picture), args.runs // 3))
        p50 = {way: statistics.median(values) for way, values in timings.items()}
        for way, (seconds, ious, bundle) in ways.items():
            detail = read_bundle(bundle).detail_input
            drawn = f"{detail.width}x{detail.height}" if detail else "the working size"
            print(
                f"{name:12s} {way:12s} masks at {drawn:17s} train {seconds:5.1f} s  p50 {p50[way]:6.1f} ms  IoU {ious}"
            )
        print(f"{name:12s} p50 own size / working size: {p50['own size'] / p50['working size']:.2f}")


if __name__ == "__main__":
    main()
