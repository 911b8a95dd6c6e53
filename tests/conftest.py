"""The real server on a free loopback port (one per xdist worker) and real boto3 clients with our model."""

from __future__ import annotations

import httpx
import pytest
from botocore.config import Config

from server.testing import EmulatorProcess, client

# Tests that provoke 429/5xx must not sit through botocore's retries.
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    with EmulatorProcess(tmp_path_factory.mktemp("data")) as process:
        yield process


@pytest.fixture
def http(emulator):
    with httpx.Client(base_url=emulator.url, timeout=30) as session:
        session.post("/_emulator/reset").raise_for_status()
        yield session


@pytest.fixture
def lfv(emulator, http):
    """A lookoutvision client on a freshly reset emulator."""
    return client(emulator.url, config=NO_RETRIES)


@pytest.fixture
def make_client(emulator, http):
    """Clients for other regions, accounts or settings: make_client(region_name=..., aws_access_key_id=...)."""

    def make(config: Config = NO_RETRIES, **kwargs):
        return client(emulator.url, config=config, **kwargs)

    return make
