"""The console script, and the two ways clients meet it: the AWS CLI v1 and plain boto3 set up by environment."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import botocore.exceptions
import pytest

from server.spec import data_path
from server.store.database import DATABASE_FILE
from server.store.migrations import MIGRATIONS
from tests.support.aws_cli import fake_aws_env


@pytest.fixture
def png_image() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def test_data_path_prints_the_model_root():
    result = run([sys.executable, "-m", "server", "data-path"])
    assert result.returncode == 0
    printed = Path(result.stdout.strip())
    assert printed == data_path()
    assert (printed / "lookoutvision" / "2020-11-20" / "service-2.json").is_file()


def aws(args: list[str], env: dict[str, str]) -> dict:
    result = run([sys.executable, "-m", "awscli", *args, "--output", "json"], env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_aws_cli_v1_with_aws_data_path(emulator, http, tmp_path):
    env = fake_aws_env(tmp_path, AWS_DATA_PATH=str(data_path()))
    endpoint = ["--endpoint-url", emulator.url]
    created = aws(["lookoutvision", "create-project", "--project-name", "from-cli", *endpoint], env)
    assert created["ProjectMetadata"]["ProjectName"] == "from-cli"
    listed = aws(["lookoutvision", "list-projects", *endpoint], env)
    assert [p["ProjectName"] for p in listed["Projects"]] == ["from-cli"]
    described = aws(["lookoutvision", "describe-project", "--project-name", "from-cli", *endpoint], env)
    assert described["ProjectDescription"]["Datasets"] == []
    aws(["lookoutvision", "delete-project", "--project-name", "from-cli", *endpoint], env)
    failed = run([sys.executable, "-m", "awscli", "lookoutvision", "describe-project", "--project-name", "from-cli",
                  *endpoint], env)  # fmt: skip
    assert failed.returncode != 0
    assert "ResourceNotFoundException" in failed.stderr and "Project from-cli does not exist" in failed.stderr


def test_aws_cli_v1_with_add_model(emulator, http, tmp_path):
    env = fake_aws_env(tmp_path)
    model = data_path() / "lookoutvision" / "2020-11-20" / "service-2.json"
    result = run([sys.executable, "-m", "awscli", "configure", "add-model", "--service-model", f"file://{model}",
                  "--service-name", "lookoutvision"], env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".aws" / "models" / "lookoutvision" / "2020-11-20" / "service-2.json").is_file()
    created = aws(
        ["lookoutvision", "create-project", "--project-name", "added", "--endpoint-url", emulator.url], env
    )
    assert created["ProjectMetadata"]["ProjectArn"].endswith(":project/added")


def test_plain_boto3_with_endpoint_environment_variable(emulator, http, tmp_path):
    """What users' unchanged code does: boto3.client('lookoutvision') with only environment settings."""
    env = fake_aws_env(tmp_path, AWS_DATA_PATH=str(data_path()), AWS_ENDPOINT_URL_LOOKOUTVISION=emulator.url)
    script = (
        "import boto3; c = boto3.client('lookoutvision'); "
        "c.create_project(ProjectName='env-configured'); "
        "print(c.list_projects()['Projects'][0]['ProjectName'])"
    )
    result = run([sys.executable, "-c", script], env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "env-configured"


def test_serve_on_a_busy_port_fails_fast(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run(
            [sys.executable, "-m", "server", "serve", "--in-memory", "--port", str(port)], timeout=30
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_serve_rejects_bad_settings(tmp_path):
    env = {**os.environ, "LOOKOUTVISION_EMULATOR_PORT": "not-a-port"}
    result = run([sys.executable, "-m", "server", "serve", "--in-memory"], env=env, timeout=30)
    assert result.returncode == 2
    assert "LOOKOUTVISION_EMULATOR_PORT='not-a-port' is not a valid int" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "auth sigv4 needs at least one key: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        (["--credentials-file", "missing.txt"], "cannot read the credentials file missing.txt"),
    ],
)
def test_serve_with_auth_and_no_keys_fails_at_start_up(tmp_path, args, message):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "LOOKOUTVISION_"))}
    result = run([sys.executable, "-m", "server", "serve", "--in-memory", "--port", "0", "--auth", "sigv4", *args],
                 env={**env, "HOME": str(tmp_path)}, timeout=30)  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "ready on" not in result.stdout


def test_serve_refuses_a_data_dir_from_a_newer_version(tmp_path):
    with sqlite3.connect(tmp_path / DATABASE_FILE) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    result = run(
        [sys.executable, "-m", "server", "serve", "--port", "0", "--data-dir", str(tmp_path)], timeout=30
    )
    assert result.returncode == 1
    assert "upgrade lookoutvision-emulator" in result.stderr


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version(flag):
    result = run([sys.executable, "-m", "server", flag])
    assert result.returncode == 0 and "lookoutvision-emulator" in result.stdout


def test_aws_cli_v1_detect_anomalies_on_the_demo(tmp_path):
    from PIL import Image, ImageDraw

    from lookoutvision_emulator import EmulatorProcess

    part = Image.new("RGB", (300, 200), (128, 128, 128))
    ImageDraw.Draw(part).line((30, 40, 250, 60), fill=(220, 30, 30), width=8)
    part.save(tmp_path / "part.png")
    env = fake_aws_env(tmp_path, AWS_DATA_PATH=str(data_path()))
    with EmulatorProcess(extra_args=["--demo"]) as emulator:
        answer = aws(["lookoutvision", "detect-anomalies", "--project-name", "demo", "--model-version", "2",
                      "--content-type", "image/png", "--body", str(tmp_path / "part.png"),
                      "--endpoint-url", emulator.url], env)  # fmt: skip
    result = answer["DetectAnomalyResult"]
    assert result["IsAnomalous"] is True
    assert [entry["Name"] for entry in result["Anomalies"]] == ["background", "scratch"]


def _help(*command: str) -> str:
    result = run([sys.executable, "-m", "server", *command, "--help"])
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("command", ["serve", "data-path", "train", "import-model"])
def test_every_command_describes_itself(command):
    blocks = _help(command).split("\n\n")  # usage, description, options, ...
    assert blocks[0].startswith(f"usage: lookoutvision-emulator {command}")
    assert not blocks[1].startswith(("options:", "positional")) and len(blocks[1].split()) >= 10


def test_serve_help_lists_each_flag_with_its_variable_from_the_settings_table():
    from server.cli.main import _parser
    from server.settings import Settings

    text = _help("serve")
    entries = dict(
        re.findall(r"^  (--[a-z0-9-]+)(.*?)(?=^  --|^\S|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    )
    options = Settings.table()
    flags = {option.flag: option for option in options if option.flag}
    assert set(entries) - {"--help"} == set(flags)  # generated from the table: no flag without a setting
    for flag, option in flags.items():
        entry = " ".join(entries[flag].split())  # argparse wraps lines
        assert f"[{option.env}; default: {option.default}]" in entry, flag
    for option in options:  # the settings without a flag are listed with their variables too
        assert option.env in text
    serve = _parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    assert {action.dest for action in serve._actions} - {"help"} == {option.name for option in flags.values()}


@pytest.mark.parametrize("command", ["train", "import-model"])
def test_offline_commands_name_the_variables_of_their_settings(command):
    text = " ".join(_help(command).split())
    for variable in ("DATA_DIR", "REGION", "ACCOUNT"):
        assert f"LOOKOUTVISION_EMULATOR_{variable}" in text


def test_logs_use_our_names_and_the_access_log_names_the_operation(png_image):
    from lookoutvision_emulator import EmulatorProcess, RunningEmulator

    with EmulatorProcess(extra_args=["--access-log"]) as process:
        emulator = RunningEmulator(process.url)
        lfv = emulator.client()
        emulator.set_result("line", "1", {"IsAnomalous": True, "Confidence": 0.9})
        lfv.detect_anomalies(ProjectName="line", ModelVersion="1", Body=png_image, ContentType="image/png")
        with pytest.raises(lfv.exceptions.ResourceNotFoundException):
            lfv.describe_project(ProjectName="missing")
        with pytest.raises(botocore.exceptions.ClientError):  # invalid: refused before any handler runs
            lfv.create_project(ProjectName="not valid!")
        emulator.health()
        wanted = [r"DetectAnomalies 200 [\d.]+ ms", r"DescribeProject 404 [\d.]+ ms",
                  r"CreateProject 400 [\d.]+ ms", r"GET /_emulator/health 200 [\d.]+ ms"]  # fmt: skip
        deadline = time.monotonic() + 10
        while (
            not all(re.search(pattern, process.output()) for pattern in wanted)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        output = process.output()
    for pattern in wanted:
        assert re.search(r"INFO lookoutvision_emulator\.access: " + pattern, output), (pattern, output)
    assert "lookoutvision_emulator.http: Application startup complete" in output
    assert "uvicorn" not in output


def test_serve_demo_names_missing_bundles_not_the_data_directory(tmp_path):
    env = {**os.environ, "LOOKOUTVISION_EMULATOR_DEMO_DIR": str(tmp_path / "nothing-here")}
    result = run([sys.executable, "-m", "server", "serve", "--demo", "--in-memory", "--port", "0"], env=env)
    assert result.returncode == 1
    assert "demo bundles classification and segmentation are not in" in result.stderr
    assert "data directory" not in result.stderr and "Traceback" not in result.stderr
