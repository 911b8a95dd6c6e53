"""examples/ run from any folder with only the runtime dependencies, and their exit status tells the truth."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
RUNTIME = {"boto3", "botocore", "lookoutvision_emulator"}  # what `pip install lookoutvision-emulator` brings


def images(folder: Path, sizes: dict[str, list[tuple[int, int]]]) -> Path:
    for label, shapes in sizes.items():
        (folder / label).mkdir(parents=True)
        for number, size in enumerate(shapes):
            part = Image.new("RGB", size, (128, 128, 128))
            if label == "anomaly":
                ImageDraw.Draw(part).line((5, 5, 40, 20), fill=(220, 30, 30), width=4)
            part.save(folder / label / f"{number}.png")
    return folder


def example(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "examples" / "import_dataset.py"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_examples_need_only_the_runtime_dependencies(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module and node.level == 0}  # fmt: skip
    assert imported - set(sys.stdlib_module_names) - {"__future__"} <= RUNTIME


def test_import_dataset_from_another_folder(tmp_path):
    folder = images(tmp_path / "parts", {"normal": [(96, 64)] * 4, "anomaly": [(96, 64)] * 3})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = example("--images", str(folder), cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "CREATE_COMPLETE" in result.stdout
    assert "{'Total': 7, 'Labeled': 7, 'Normal': 4, 'Anomaly': 3}" in result.stdout
    assert not (folder / "train.manifest").exists()  # the user's folder is only read


def test_a_failed_import_exits_non_zero(tmp_path):
    folder = images(tmp_path / "mixed", {"normal": [(96, 64), (128, 64)], "anomaly": [(96, 64)]})
    result = example("--images", str(folder), cwd=tmp_path)
    assert result.returncode == 1
    assert "CREATE_FAILED" in result.stdout


@pytest.mark.parametrize("args", [[], ["--images", "no-such-folder"]])
def test_missing_images_say_what_to_pass(tmp_path, args):
    result = example(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "--images" in result.stderr and "Traceback" not in result.stderr
