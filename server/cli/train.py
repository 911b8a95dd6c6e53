"""`lookoutvision-emulator train`: a model from folders of images, without S3 or a running server."""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from server.backend.scope import Scope
from server.settings import Settings
from server.spec.limits import IMAGE_SUFFIXES


def train_command(args: argparse.Namespace) -> int:
    from server.backend.training import SINGLE_DATASET_MINIMUM, enough, split_single
    from server.cli.signals import signals_for_the_main_thread
    from server.datasets.checks import check_image
    from server.datasets.manifest import ManifestError
    from server.emulator import open_backend
    from server.inference.bundle import DESCRIPTION_FILE, MODEL_FILE, parse_description
    from server.store.database import Database
    from server.store.models import Performance

    with signals_for_the_main_thread():
        from server.training.trainer import Job, train  # numpy, and its threads

    try:
        items: list[dict[str, Any]] = []
        for label, folder in (("normal", args.normal), ("anomaly", args.anomaly)):
            paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for path in paths:
                width, height = check_image(path.read_bytes(), str(path))
                items.append({"path": str(path), "label": label, "source_ref": str(path), "width": width,
                              "height": height})  # fmt: skip
        sizes = {(item["width"], item["height"]) for item in items}
        if len(sizes) > 1:
            raise ValueError(f"all images must have one size; found {sorted(sizes)}")
        if args.masks:
            add_masks(items, Path(args.masks), class_colors(args.classes))
        elif args.classes:
            raise ValueError("--class names mask colours: it needs --masks")
        enough(items, SINGLE_DATASET_MINIMUM, "given")
        train_items, test_items = split_single(items)
        settings = Settings.load(data_dir=args.data_dir, region=args.region, account=args.account)
        if settings.storage_dir is None:
            raise ValueError("an in-memory server keeps no data directory")
        with tempfile.TemporaryDirectory(prefix="lfv-train-") as scratch:
            job = Job(
                [_sample(i) for i in train_items], [_sample(i) for i in test_items], sizes.pop(), scratch
            )
            result = train(job, progress=lambda phase: print(phase, flush=True))
            database = Database(settings.storage_dir, settings.database_url)
            try:
                backend = open_backend(settings, database, settings.files_dir or settings.storage_dir)
                scope = Scope(settings.account, settings.region)
                if backend.projects.table.get(scope.account, scope.region, args.project) is None:
                    backend.projects.create(scope, args.project)
                description = parse_description(json.loads((Path(scratch) / DESCRIPTION_FILE).read_text()))
                metrics = result.metrics
                performance = Performance(metrics["F1Score"], metrics["Recall"], metrics["Precision"])
                record = backend.models.add(scope, args.project, Path(scratch) / MODEL_FILE, description,
                                            args.description, performance)  # fmt: skip
            finally:
                database.close()
    except (ValueError, OSError, ManifestError) as error:
        print(f"lookoutvision-emulator train: {error}", file=sys.stderr)
        return 1
    summary = ", ".join(
        f"{name} {value:.3f}" for name, value in result.metrics.items() if isinstance(value, float)
    )
    for entry in result.metrics.get("PixelAnomalyClassMetrics", []):
        summary += f"; {entry['ClassName']}: pixel IoU {entry['AIOU']:.3f}"
    print(f"trained version {record.key.version} of project {args.project} "
          f"({len(train_items)} training and {len(test_items)} test images): {summary}")  # fmt: skip
    return 0


def class_colors(specs: list[str]) -> dict[str, str]:
    """`NAME=#RRGGBB` arguments as {#RRGGBB: name}."""
    colors: dict[str, str] = {}
    for spec in specs:
        name, _, color = spec.partition("=")
        color = color.strip().upper()
        if not name.strip() or not re.fullmatch(r"#[0-9A-F]{6}", color):
            raise ValueError(f"--class {spec!r}: give NAME=#RRGGBB, for example scratch=#FF0000")
        if color in colors:
            raise ValueError(f"--class: {color} is named twice")
        colors[color] = name.strip()
    return colors


def add_masks(items: list[dict], folder: Path, names: dict[str, str]) -> None:
    """Finds each anomalous image's mask (same name, any image suffix) and checks it: the image's size,
    and no colour without a class name. White is the background; transparent pixels are ignored."""
    import numpy as np
    from PIL import Image

    masks = {path.stem: path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
    for item in items:
        if item["label"] != "anomaly":
            continue
        stem = Path(item["path"]).stem
        if stem not in masks:
            raise ValueError(f"no mask for {item['path']} in {folder} (looked for {stem}.png and the like)")
        with Image.open(masks[stem]) as mask:
            if mask.size != (item["width"], item["height"]):
                raise ValueError(f"mask {masks[stem]} is {mask.size[0]}x{mask.size[1]}; its image is "
                                 f"{item['width']}x{item['height']}")  # fmt: skip
            rgba = np.asarray(mask.convert("RGBA")).reshape(-1, 4)
        found = {
            "#{:02X}{:02X}{:02X}".format(*pixel[:3]) for pixel in np.unique(rgba[rgba[:, 3] > 0], axis=0)
        }
        unnamed = sorted(found - set(names) - {"#FFFFFF"})
        if unnamed:
            shown = ", ".join(unnamed[:5]) + (f" and {len(unnamed) - 5} more" if len(unnamed) > 5 else "")
            hint = (
                " (a lossy format such as JPEG blurs mask colours; save masks as PNG)"
                if len(unnamed) > 5
                else ""
            )
            raise ValueError(f"mask {masks[stem]} has colours no --class names: {shown}{hint}")
        item["mask"] = str(masks[stem])
        item["colors"] = {"#FFFFFF": "BACKGROUND", **names}


def _sample(item: dict):
    from server.training.samples import Sample

    return Sample(item["path"], item["label"], item["source_ref"], item.get("mask"), item.get("colors", {}))
