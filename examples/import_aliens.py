"""Import ../shared/datasets/aliens (or another folder with normal/ and anomaly/) as an L4V dataset.

    python examples/import_aliens.py [--images ../shared/datasets/aliens]

Starts moto's S3 server and the emulator on free loopback ports, uploads the images and a Ground Truth
manifest to S3, calls CreateDataset with boto3, waits for the import and prints the ImageStats
(for aliens: 118 images, 58 normal, 60 anomalous). The aliens images are CC BY-SA 4.0: see their README.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx

from lookoutvision_emulator import EmulatorProcess, client

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **CREDENTIALS})  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("moto's S3 server did not start (pip install 'moto[server]')")


def manifest_line(bucket: str, key: str, label: str) -> str:
    metadata = {"confidence": 1, "class-name": label, "human-annotated": "yes",
                "creation-date": "2023-01-01T00:00:00", "type": "groundtruth/image-classification"}  # fmt: skip
    return json.dumps({"source-ref": f"s3://{bucket}/{key}", "anomaly-label": int(label == "anomaly"),
                       "anomaly-label-metadata": metadata})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "datasets" / "aliens"))
    folder = Path(parser.parse_args().images)
    moto, s3_url = start_moto()
    try:
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket="aliens")
        lines = []
        for label in ("normal", "anomaly"):
            for path in sorted((folder / label).glob("*.png")):
                key = f"{label}/{path.name}"
                s3.put_object(Bucket="aliens", Key=key, Body=path.read_bytes())
                lines.append(manifest_line("aliens", key, label))
        s3.put_object(Bucket="aliens", Key="train.manifest", Body="\n".join(lines).encode())
        print(f"uploaded {len(lines)} images and a manifest to {s3_url}")

        with EmulatorProcess(env={**CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}) as emulator:
            lfv = client(emulator.url)
            lfv.create_project(ProjectName="aliens")
            started = time.monotonic()
            lfv.create_dataset(
                ProjectName="aliens", DatasetType="train",
                DatasetSource={"GroundTruthManifest": {"S3Object": {"Bucket": "aliens", "Key": "train.manifest"}}},
            )  # fmt: skip
            while True:
                description = lfv.describe_dataset(ProjectName="aliens", DatasetType="train")[
                    "DatasetDescription"
                ]
                if not description["Status"].endswith("IN_PROGRESS"):
                    break
                time.sleep(0.1)
            print(
                f"{description['Status']} in {time.monotonic() - started:.1f} s: {description['StatusMessage']}"
            )
            print("ImageStats:", description["ImageStats"])
    finally:
        moto.terminate()


if __name__ == "__main__":
    main()
