"""Helpers for tests that drive models through the live server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tests.support.onnx_models import zip_folder

TRANSITIONAL = {"STARTING_HOSTING", "STOPPING_HOSTING", "TRAINING", "DELETING"}


def import_model(http: httpx.Client, project: str, source: Path | bytes, expect: int = 200, **query) -> dict:
    """Upload a bundle folder (zipped here) or bare ONNX bytes through /_emulator/."""
    if isinstance(source, Path):
        content, kind = zip_folder(source), "application/zip"
    else:
        content, kind = source, "application/octet-stream"
    response = http.post(
        f"/_emulator/projects/{project}/models", content=content, headers={"Content-Type": kind}, params=query
    )
    assert response.status_code == expect, response.text
    return response.json()


def wait_for(lfv, project: str, version: str, timeout: float = 30.0) -> dict:
    """Poll DescribeModel until the model leaves its transitional state, as client code does."""
    deadline = time.monotonic() + timeout
    while True:
        description = lfv.describe_model(ProjectName=project, ModelVersion=version)["ModelDescription"]
        if description["Status"] not in TRANSITIONAL or time.monotonic() > deadline:
            return description
        time.sleep(0.02)


def host(lfv, project: str, version: str, units: int = 1, max_units: int | None = None) -> dict:
    extra = {"MaxInferenceUnits": max_units} if max_units else {}
    started = lfv.start_model(ProjectName=project, ModelVersion=version, MinInferenceUnits=units, **extra)
    assert started["Status"] == "STARTING_HOSTING"
    description = wait_for(lfv, project, version)
    assert description["Status"] == "HOSTED", description
    return description


def quiet_s3_env() -> dict[str, str]:
    """S3 at a loopback port where nothing listens: imports and outputs fail at once, never leave the machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LOOKOUTVISION_EMULATOR_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }
