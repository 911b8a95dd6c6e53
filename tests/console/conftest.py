"""A server of its own for the console (it needs a dataset root), with a folder of generated parts."""

from __future__ import annotations

import httpx
import pytest

from lookoutvision_emulator import EmulatorProcess
from tests.console.parts import write_dataset
from tests.support.live import quiet_s3_env


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset-root")
    write_dataset(root, "plates", normal=6, anomalous=4)
    return root


@pytest.fixture(scope="module")
def console_server(tmp_path_factory, dataset_root):
    data = tmp_path_factory.mktemp("console-data")
    with EmulatorProcess(
        data, extra_args=["--dataset-root", str(dataset_root)], env=quiet_s3_env()
    ) as process:
        yield process


@pytest.fixture
def web(console_server):
    """An HTTP session like a browser's on the console: same-origin posts carry their Origin."""
    httpx.post(f"{console_server.url}/_emulator/reset", timeout=30).raise_for_status()
    headers = {"Origin": console_server.url}
    with httpx.Client(base_url=console_server.url, headers=headers, timeout=30) as session:
        yield session
