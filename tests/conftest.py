"""The real server on a free loopback port (one per xdist worker) and real boto3 clients with our model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import boto3
import httpx
import pytest
from botocore.config import Config

from lookoutvision_emulator import EmulatorProcess, client
from tests.support.postgres import ThrowawayPostgres, postgres_bin

# Tests that provoke 429/5xx must not sit through botocore's retries.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_url(tmp_path_factory):
    """moto's standalone server on a free loopback port: the real S3 endpoint of the tests."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **FAKE_CREDENTIALS},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/moto-api/", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"moto's server did not start:\n{log.read_text()}")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture
def s3(s3_url):
    """An S3 client for moto, emptied of buckets first."""
    s3 = boto3.client(
        "s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )  # fmt: skip
    httpx.post(f"{s3_url}/moto-api/reset").raise_for_status()
    return s3


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster for the session (Debian's `postgresql` package; .ci/run installs it)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql): .ci/run installs it")
    cluster = ThrowawayPostgres(bin_dir).start()
    yield cluster
    cluster.stop()


# The real-client API tests that run twice: on the embedded SQLite and on a real PostgreSQL server.
BOTH_DATABASES = (
    "tests/handlers/",  # projects, datasets, models, training, hosting, detect, tags, packaging, tokens
    "tests/protocol/test_pagination.py",
    "tests/internal/test_routes.py",  # health and reset
)


def pytest_generate_tests(metafunc):
    if "emulator" in metafunc.fixturenames and "database" in metafunc.fixturenames:
        path = metafunc.definition.path.as_posix()
        if any(f"/{part}" in path for part in BOTH_DATABASES):
            metafunc.parametrize("database", ["sqlite", "postgresql"], indirect=True, scope="session")


@pytest.fixture(scope="session")
def database(request) -> str:
    """Which database the session's emulator keeps its state in (see BOTH_DATABASES)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def emulator(tmp_path_factory, s3_url, database, request):
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_url}
    args = []
    if database == "postgresql":
        args = ["--database-url", request.getfixturevalue("postgres").new_database()]
    with EmulatorProcess(tmp_path_factory.mktemp("data"), env=env, extra_args=args) as process:
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
