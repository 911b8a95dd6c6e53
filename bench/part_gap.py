"""What the gap map costs DetectAnomalies: server/inference/part_gap.py against the whole prediction.

    python bench/part_gap.py [--bundle FOLDER] [--runs 30]

Trains the cookies' segmentation model in-process (../shared/datasets/cookies, split as bench/quality.py
splits it; the trainer gives it a gap input and fills the gaps in its masks) unless --bundle names a trained
one, then times, alternately on the cookies' test pictures, the runtime's whole prediction
(ModelRunner.predict: the gap map, the tensors, the graph, the mask and its filled gaps), the same model's
prediction without the fill (fill_part_gaps off), and the gap map alone (given the picture the runtime
resized for the input). Prints the medians and their ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import quality  # noqa: E402

from server.inference.bundle import read_bundle  # noqa: E402
from server.inference.part_gap import part_gap  # noqa: E402
from server.inference.runtime import ModelRunner  # noqa: E402


def trained_cookies(folder: Path) -> Path:
    from server.training.samples import Sample
    from server.training.trainer import Job, train

    data = quality.cookies_data()
    colors = data.classes or {}

    def sample(item) -> Sample:
        mask = str(item.mask) if item.mask else None
        return Sample(str(item.path), item.label, str(item.path), mask, colors if mask else {})

    with Image.open(data.train[0].path) as image:
        size = image.size
    train(Job([sample(item) for item in data.train], [sample(item) for item in data.test], size, str(folder)))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="a trained bundle with a gap input (default: train one)")
    parser.add_argument("--runs", type=int, default=30)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = arguments.bundle or trained_cookies(Path(scratch) / "cookies")
        description = read_bundle(folder)
        if description.gap_input is None:
            sys.exit(f"{folder}: the model has no gap input")
        gap_size = (description.gap_input.width, description.gap_input.height)
        runner = ModelRunner(folder, description, threads=2)
        unfilled = ModelRunner(folder, replace(description, fill_part_gaps=False), threads=2)
        pictures = [Image.open(item.path).convert("RGB") for item in quality.cookies_data().test]
        whole, plain, gaps = [], [], []
        for run in range(arguments.runs):
            picture = pictures[run % len(pictures)]
            begin = time.perf_counter()
            runner.predict(picture)
            whole.append(time.perf_counter() - begin)
            begin = time.perf_counter()
            unfilled.predict(picture)
            plain.append(time.perf_counter() - begin)
            resized = picture.resize(gap_size, Image.Resampling.BILINEAR)  # the runtime has it for the input
            begin = time.perf_counter()
            part_gap(resized, gap_size)  # as the runtime's feeds call it
            gaps.append(time.perf_counter() - begin)
    whole_ms, plain_ms, gap_ms = (sorted(values)[len(values) // 2] * 1000 for values in (whole, plain, gaps))
    print(f"model {folder.name}: input {description.input.width}x{description.input.height}, gap {gap_size}")
    print(f"DetectAnomalies' prediction (with the gap map) median {whole_ms:.1f} ms")
    print(
        f"the gap map alone                          median {gap_ms:.1f} ms ({gap_ms / whole_ms:.2f} of it)"
    )
    if description.fill_part_gaps:
        print(
            f"the same without filling the masks' gaps   median {plain_ms:.1f} ms "
            f"(with the fill: {whole_ms / plain_ms:.2f} times as long)"
        )


if __name__ == "__main__":
    main()
