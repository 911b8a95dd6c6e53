"""Run the real AWS CLI v1 (`python -m awscli`, installed by the test extra) as a user with no AWS setup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from server.spec import data_path


def fake_aws_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user with no AWS config of their own: fake keys, a region, an empty home."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
    )
    env.update(extra)
    return env


def aws_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`aws ARGS --output json`, with our service model found through AWS_DATA_PATH."""
    env = {"AWS_DATA_PATH": str(data_path()), **env}
    command = [sys.executable, "-m", "awscli", *args, "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
