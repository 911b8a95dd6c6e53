"""Every benchmark script still imports and parses its arguments: renames in server/ must not break them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(path for path in BENCH.glob("*.py") if "__main__" in path.read_text(encoding="utf-8"))


def test_there_are_scripts() -> None:
    assert {"detect.py", "quality.py", "startup.py", "edge.py"} <= {path.name for path in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_help(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


def test_the_quality_table_marks_classes_no_training_mask_teaches(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    import quality

    def mask(name: str, painted: dict[tuple[int, int], tuple[int, int, int, int]]) -> Path:
        pixels = np.full((8, 8, 4), 255, np.uint8)
        for (y, x), rgba in painted.items():
            pixels[y, x] = rgba
        Image.fromarray(pixels, "RGBA").save(tmp_path / name)
        return tmp_path / name

    # the fray's pixel transparent: it paints no class
    copper, hole, fray = (160, 0, 160, 255), (0, 160, 160, 255), (0, 160, 0, 0)
    train = [
        quality.Item(tmp_path / "a.png", "anomaly", mask("a.png", {(1, 1): copper})),
        quality.Item(
            tmp_path / "b.png", "anomaly", mask("b.png", {(2, 2): copper, (3, 3): hole, (4, 4): fray})
        ),
        quality.Item(tmp_path / "c.png", "normal"),
    ]
    data = quality.Data(train, [], {"#A000A0": "spurious copper", "#00A0A0": "pin-hole", "#00A000": "fray"})
    counts = quality.training_images_per_class(data)
    assert counts == {"spuriouscopper": 2, "pinhole": 1, "fray": 0}

    row = quality.Row("scans", numbers={"IoU": {"spuriouscopper": 0.9, "pinhole": 0.4, "fray": 0.0},
                                        "TrainingImagesPerClass": counts})  # fmt: skip
    line = quality.table([row]).splitlines()[-1]
    assert "spuriouscopper 0.900, pinhole 0.400 (1 in training), fray 0.000 (0 in training)" in line


def test_each_ablation_switch_takes_its_capability_out(tmp_path: Path) -> None:
    """bench/ablation.py's workers on a small project of plates on a plain background, 128 px: the whole
    trainer tries learnt rules and chooses enlarged pictures with turned copies; each switch leaves out what
    it names."""
    sys.path.insert(0, str(BENCH))
    import synthetic

    folder = synthetic.generate("large_parts", tmp_path, count=12, side=128)

    def samples(indices: range) -> list[dict]:
        return [
            {"path": str(path), "label": label, "source_ref": str(path), "mask": None, "colors": {}}
            for label, sub in (("normal", "normal"), ("anomaly", "anomaly"))
            for path in (folder / sub / f"{index:03d}.png" for index in indices)
        ]

    job = tmp_path / "job.json"
    job.write_text(
        json.dumps({"train": samples(range(8)), "test": samples(range(8, 12)), "size": [128, 128]})
    )

    def run(variant: str) -> dict:
        command = [sys.executable, str(BENCH / "ablation.py"), "--worker", variant, str(job)]
        finished = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert finished.returncode == 0, finished.stderr[-2000:]
        return json.loads(finished.stdout.strip().splitlines()[-1])

    full = run("full")
    assert "supervised" in full["rules_tried"]
    assert "enlarged" in full["candidate"] and "turned" in full["candidate"]
    assert full["candidate"] != full["first"]

    assert run("learnt")["rules_tried"] == ["memory"]
    fixed = run("choice")
    assert fixed["candidate"] == fixed["first"] == full["first"]
    still = run("pose")["candidate"]
    assert not any(word in still for word in ("aligned", "turned", "local"))
    small = run("resolution")["candidate"]
    assert small.startswith("128 px") and "enlarged" not in small and "tone" not in small


def test_the_ablation_table_counts_what_each_capability_moves() -> None:
    sys.path.insert(0, str(BENCH))
    import ablation

    def numbers(auroc: float, f1: float, turned: dict | None = None) -> dict:
        return {"auroc": auroc, "f1": f1, "turned": turned}

    runs = {
        "plates": {
            "full": numbers(1.0, 1.0, turned=numbers(0.9, 0.8)),
            "pose": numbers(0.7, 0.6, turned=numbers(0.5, 0.6)),  # worse, and worse turned
            "learnt": numbers(1.0, 0.9, turned=numbers(0.9, 0.8)),  # worse, the same turned
        },
        "cells": {
            "full": numbers(0.8, 0.7),
            "pose": numbers(0.9, 0.6),  # mixed
            "learnt": numbers(0.8002, 0.9),  # better (AUROC the same to three digits)
        },
    }
    names = [name for name, _, _ in ablation.lines(runs, ["pose", "learnt"])]
    assert names == ["plates", "plates-turned", "cells"]
    assert ablation.cell(runs["cells"]["learnt"], runs["cells"]["full"]) == "0.800 / 0.900"
    assert ablation.cell(runs["plates"]["full"]["turned"], runs["plates"]["full"]["turned"]) == "="
    pose, learnt = ablation.summary(runs, ["pose", "learnt"])
    assert pose.startswith("without pose: worse 2, better 0, mixed 1, the same 0 of 3 rows")
    assert learnt.startswith("without learnt: worse 1, better 1, mixed 0, the same 1 of 3 rows")
    assert pose.endswith(f"{(-0.4 - 0.2 - 0.1) / 3:+.3f}")
