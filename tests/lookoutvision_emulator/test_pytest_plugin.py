"""The pytest plugin, used the way a user's project uses it: a separate pytest run in a folder that has
its own `server.py`, plain boto3 in the code under test, and pytest-xdist."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from lookoutvision_emulator import client

APP = '''
import boto3


def inspect(image: bytes) -> str:
    """Code under test: it builds its own client, as production code does."""
    lfv = boto3.client("lookoutvision")
    result = lfv.detect_anomalies(ProjectName="line", ModelVersion="1", Body=image, ContentType="image/png")
    verdict = result["DetectAnomalyResult"]
    return "reject" if verdict["IsAnomalous"] and verdict["Confidence"] >= 0.8 else "accept"
'''

TESTS = """
import io

import pytest
from PIL import Image

import app
import server


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_our_own_server_module_is_untouched():
    assert server.WHO == "the user's own server module"


@pytest.mark.parametrize("anomalous, confidence, verdict", [(True, 0.95, "reject"), (True, 0.6, "accept"),
                                                            (False, 0.99, "accept")])
def test_inspect(lfv_env, anomalous, confidence, verdict):
    lfv_env.set_result("line", "1", {"IsAnomalous": anomalous, "Confidence": confidence})
    assert app.inspect(png()) == verdict


def test_an_error_reaches_the_code_under_test(lfv_env):
    lfv_env.set_error("line", "1", "ThrottlingException", "slow down")
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        app.inspect(png())


@pytest.mark.parametrize("name", ["a", "b", "c", "d"])
def test_every_test_starts_empty(lfv_client, name):
    assert lfv_client.list_projects()["Projects"] == []
    lfv_client.create_project(ProjectName=name)


def test_state_can_be_kept_part_1(lfv_client):
    lfv_client.create_project(ProjectName="kept")


@pytest.mark.lfv_keep_state
def test_state_can_be_kept_part_2(lfv_client):
    assert [p["ProjectName"] for p in lfv_client.list_projects()["Projects"]] == ["kept"]
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "server.py").write_text('WHO = "the user\'s own server module"\n')
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "test_app.py").write_text(textwrap.dedent(TESTS))
    return tmp_path


def run_pytest(folder, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "AWS_"))}
    # `python -m pytest` puts the folder first on sys.path, so its server.py shadows any other `server`.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def test_a_users_project_passes_with_the_plugin(project):
    result = run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "11 passed" in result.stdout


def test_the_plugin_under_xdist(project):
    # Keep-state tests rely on order within one worker; run them in one group.
    result = run_pytest(project, "-n", "2", "-k", "not kept")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout


def test_a_broken_emulator_fails_loudly_instead_of_hanging(project):
    (project / "pytest.ini").write_text(
        "[pytest]\nlfv_server_args = --device nonsense\nlfv_ready_timeout = 20\n"
    )
    result = run_pytest(project, "-k", "every_test")
    assert result.returncode != 0
    assert "the emulator exited with" in result.stdout and "invalid choice" in result.stdout


def test_lfv_url_uses_a_running_emulator_and_keeps_its_state(project, emulator, http):
    """A developer's own server may hold work: --lfv-url alone never resets it."""
    mine = client(emulator.url)
    mine.create_project(ProjectName="precious")
    result = run_pytest(project, "--lfv-url", emulator.url, "-k", "inspect or part_1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert sorted(p["ProjectName"] for p in mine.list_projects()["Projects"]) == ["kept", "precious"]


def test_lfv_url_with_lfv_reset_resets_before_each_test(project, emulator, http):
    client(emulator.url).create_project(ProjectName="precious")
    result = run_pytest(project, "--lfv-url", emulator.url, "--lfv-reset", "-k", "every_test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert [p["ProjectName"] for p in client(emulator.url).list_projects()["Projects"]] == ["d"]


def test_importing_the_plugin_is_cheap_and_leaves_server_alone():
    script = (
        "import sys, lookoutvision_emulator.pytest_plugin; "
        "print(sorted(m for m in ('server', 'onnxruntime', 'numpy', 'PIL', 'boto3', 'botocore') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_ready_line_the_launcher_waits_for_is_the_one_the_server_prints():
    from lookoutvision_emulator.process import _READY_PREFIX
    from server.cli import READY_LINE

    assert READY_LINE.format(url="") == _READY_PREFIX
