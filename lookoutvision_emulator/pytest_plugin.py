"""pytest fixtures for code that calls Amazon Lookout for Vision.

Installed with lookoutvision-emulator and loaded by pytest on its own (entry point `pytest11`):

    def test_inspection(lfv_env):                 # plain boto3.client("lookoutvision") now reaches it
        lfv_env.set_result("p", "1", {"IsAnomalous": True, "Confidence": 0.97})
        assert my_app.inspect("part.png") == "reject"

    def test_with_client(lfv_client):             # a ready boto3 client
        lfv_client.create_project(ProjectName="p")

Fixtures: `lfv_server` (session; one emulator per xdist worker), `lfv_env`, `lfv_client`. Each test that
uses `lfv_env` or `lfv_client` starts from an empty emulator unless marked `lfv_keep_state` or the ini
option `lfv_reset = false` is set. ini options: `lfv_ready_timeout` (seconds, default 30),
`lfv_server_args` (extra `serve` arguments). `--lfv-url URL` uses an emulator that is already running (a
developer's own, perhaps with state they keep): it is never reset unless `--lfv-reset` is given too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from lookoutvision_emulator.clients import FAKE_KEY, data_path
from lookoutvision_emulator.control import RunningEmulator
from lookoutvision_emulator.process import EmulatorProcess

KEEP_STATE = "lfv_keep_state"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lookoutvision-emulator")
    group.addoption(
        "--lfv-url",
        default=None,
        help="use the Lookout for Vision emulator running at this URL (its state is kept: see --lfv-reset)",
    )
    group.addoption(
        "--lfv-reset",
        action="store_true",
        default=False,
        help="with --lfv-url: reset that emulator before each test, as the one the plugin starts is "
        "(this forgets everything it holds)",
    )
    parser.addini("lfv_reset", type="bool", default=True, help="reset the emulator before each test using it")
    parser.addini("lfv_ready_timeout", default="30", help="seconds to wait for the emulator to start")
    parser.addini("lfv_server_args", type="args", default=[], help="extra arguments for `serve`")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{KEEP_STATE}: keep the emulator's state from earlier tests")


@pytest.fixture(scope="session")
def lfv_server(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """The emulator for this test session (for this xdist worker): in memory, state changes immediate."""
    timeout = float(request.config.getini("lfv_ready_timeout"))
    url = request.config.getoption("--lfv-url")
    if url:
        _wait_healthy(url, timeout)
        yield RunningEmulator(url)
        return
    extra = ["--fixture-mode", *request.config.getini("lfv_server_args")]
    with EmulatorProcess(extra_args=extra, ready_timeout=timeout) as process:
        yield RunningEmulator(process.url)


@pytest.fixture
def _lfv_fresh(lfv_server: RunningEmulator, request: pytest.FixtureRequest) -> RunningEmulator:
    config = request.config
    # A server named by --lfv-url may hold someone's work: it is wiped only when asked to.
    ours = not config.getoption("--lfv-url") or config.getoption("--lfv-reset")
    if ours and config.getini("lfv_reset") and request.node.get_closest_marker(KEEP_STATE) is None:
        lfv_server.reset()
    return lfv_server


@pytest.fixture
def lfv_env(_lfv_fresh: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> RunningEmulator:
    """Environment for code that builds its own `boto3.client("lookoutvision")`."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LOOKOUTVISION", _lfv_fresh.url)
    monkeypatch.setenv("AWS_DATA_PATH", str(data_path()))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", _lfv_fresh.region)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return _lfv_fresh


@pytest.fixture
def lfv_client(_lfv_fresh: RunningEmulator):
    """A boto3 lookoutvision client on a fresh emulator."""
    return _lfv_fresh.client()


def _wait_healthy(url: str, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/_emulator/health", timeout=2) as response:
                if json.loads(response.read()).get("ready"):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise pytest.UsageError(f"no Lookout for Vision emulator answered at {url} within {timeout} s")
        time.sleep(0.05)
