"""moto's S3 server on a free loopback port and Ground Truth manifest lines, for the benchmarks that import
datasets through S3 (moto comes with the test extra: pip install -e '.[test]')."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx

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
