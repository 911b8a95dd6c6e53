"""`lookoutvision-emulator train`: a model from folders of images, without S3 or a running server."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from server.backend import statuses
from server.backend.scope import Scope
from server.settings import Settings

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def train_command(args: argparse.Namespace) -> int:
    from server.backend.service import Backend
    from server.backend.training import SINGLE_DATASET_MINIMUM, enough, split_single
    from server.datasets.checks import check_image
    from server.datasets.manifest import ManifestError
    from server.inference.bundle import parse_description
    from server.store.database import Database
    from server.training.trainer import Job, Sample, train

    try:
        items = []
        for label, folder in (("normal", args.normal), ("anomaly", args.anomaly)):
            paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            for path in paths:
                width, height = check_image(path.read_bytes(), str(path))
                items.append({"path": str(path), "label": label, "source_ref": str(path), "width": width,
                              "height": height})  # fmt: skip
        sizes = {(item["width"], item["height"]) for item in items}
        if len(sizes) > 1:
            raise ValueError(f"all images must have one size; found {sorted(sizes)}")
        enough(items, SINGLE_DATASET_MINIMUM, "given")
        train_items, test_items = split_single(items)
        settings = Settings.load(data_dir=args.data_dir, region=args.region, account=args.account)
        if settings.storage_dir is None:
            raise ValueError("an in-memory server keeps no data directory")
        with tempfile.TemporaryDirectory(prefix="lfv-train-") as scratch:
            job = Job(
                [Sample(i["path"], i["label"], i["source_ref"]) for i in train_items],
                [Sample(i["path"], i["label"], i["source_ref"]) for i in test_items],
                sizes.pop(),
                scratch,
            )
            result = train(job, progress=lambda phase: print(phase, flush=True))
            database = Database(settings.storage_dir)
            try:
                backend = Backend(database, settings.storage_dir)
                scope = Scope(settings.account, settings.region)
                if backend.projects.table.get(scope.account, scope.region, args.project) is None:
                    backend.projects.create(scope, args.project)
                description = parse_description(json.loads((Path(scratch) / "model.json").read_text()))
                record = backend.models.add(scope, args.project, Path(scratch) / "model.onnx", description,
                                            args.description)  # fmt: skip
                performance = {name: result.metrics[name] for name in ("F1Score", "Recall", "Precision")}
                backend.models.table.transition(record.key, None, status=statuses.TRAINED,
                                                status_message=statuses.MESSAGES[statuses.TRAINED],
                                                details={**record.details, "performance": performance})  # fmt: skip
            finally:
                database.close()
    except (ValueError, OSError, ManifestError) as error:
        print(f"lookoutvision-emulator train: {error}", file=sys.stderr)
        return 1
    metrics = ", ".join(f"{name} {value:.3f}" for name, value in result.metrics.items())
    print(f"trained version {record.key.version} of project {args.project} "
          f"({len(train_items)} training and {len(test_items)} test images): {metrics}")  # fmt: skip
    return 0
