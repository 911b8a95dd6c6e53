"""Import a folder of images as a Lookout for Vision dataset, through the API, and print its ImageStats.

    python examples/import_dataset.py --images DIR [--project NAME]

DIR holds `normal/` and `anomaly/` folders of PNG or JPEG images of one size (the aliens or cookies sets
of the L4V examples have this layout). The script starts an emulator in memory on a free loopback port,
gives it a copy of the images as a local dataset folder (`serve --dataset-root`), writes a SageMaker
Ground Truth manifest for them, calls CreateProject and CreateDataset with boto3, and waits for the
import. It runs from any folder and needs only what `pip install lookoutvision-emulator` installs.

Exit status: 0 when the dataset is CREATE_COMPLETE, 1 when the import fails (the reason is printed),
2 when DIR is missing or holds no images.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from lookoutvision_emulator import EmulatorProcess, client

LABELS = ("normal", "anomaly")
SUFFIXES = (".png", ".jpg", ".jpeg")
LOCAL_BUCKET = "lookoutvision-local"  # the S3 bucket name that means "a file below --dataset-root"


def find_images(folder: Path) -> dict[str, list[Path]]:
    return {
        label: sorted(p for p in (folder / label).glob("*") if p.suffix.lower() in SUFFIXES)
        for label in LABELS
    }


def manifest_line(source_ref: str, label: str) -> str:
    """One Ground Truth classification line, as L4V's console wrote them."""
    metadata = {"confidence": 1, "class-name": label, "human-annotated": "yes",
                "creation-date": "2023-01-01T00:00:00", "type": "groundtruth/image-classification"}  # fmt: skip
    return json.dumps({"source-ref": source_ref, "anomaly-label": int(label == "anomaly"),
                       "anomaly-label-metadata": metadata})  # fmt: skip


def import_dataset(images: dict[str, list[Path]], project: str) -> int:
    with tempfile.TemporaryDirectory(prefix="lfv-example-") as root:
        lines = []
        for label, paths in images.items():
            (Path(root) / label).mkdir()
            for path in paths:  # a copy: the emulator reads only below its dataset root
                shutil.copyfile(path, Path(root) / label / path.name)
                lines.append(manifest_line(f"s3://{LOCAL_BUCKET}/{label}/{path.name}", label))
        (Path(root) / "train.manifest").write_text("\n".join(lines) + "\n", encoding="utf-8")

        with EmulatorProcess(extra_args=["--dataset-root", root]) as emulator:
            lfv = client(emulator.url)
            lfv.create_project(ProjectName=project)
            started = time.monotonic()
            manifest = {"S3Object": {"Bucket": LOCAL_BUCKET, "Key": "train.manifest"}}
            lfv.create_dataset(
                ProjectName=project, DatasetType="train", DatasetSource={"GroundTruthManifest": manifest}
            )
            while True:
                description = lfv.describe_dataset(ProjectName=project, DatasetType="train")[
                    "DatasetDescription"
                ]
                if not description["Status"].endswith("IN_PROGRESS"):
                    break
                time.sleep(0.1)
    elapsed = time.monotonic() - started
    print(f"{description['Status']} in {elapsed:.1f} s: {description['StatusMessage']}")
    if description["Status"] != "CREATE_COMPLETE":
        return 1
    print("ImageStats:", description["ImageStats"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", required=True, type=Path, help="a folder with normal/ and anomaly/ image folders"
    )
    parser.add_argument("--project", default="example", help="the project to create (default: example)")
    args = parser.parse_args(argv)
    images = find_images(args.images)
    if not any(images.values()):
        print(
            f"no PNG or JPEG images in {args.images / 'normal'} or {args.images / 'anomaly'}: "
            "pass --images DIR, a folder with normal/ and anomaly/ image folders",
            file=sys.stderr,
        )
        return 2
    print(f"importing {len(images['normal'])} normal and {len(images['anomaly'])} anomalous images")
    try:
        return import_dataset(images, args.project)
    except (ClientError, BotoCoreError, RuntimeError, TimeoutError, OSError) as error:
        print(f"the import failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
