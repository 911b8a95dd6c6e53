"""boto3 clients that know the lookoutvision model, without touching the environment.

botocore 1.40.61 and later dropped the model; these helpers put ours on the loader's search path of
a private botocore session, so nothing global changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAKE_KEY = "testing"


def data_path() -> Path:
    """The folder to put on AWS_DATA_PATH: the server package's spec folder, installed beside this one."""
    folder = Path(__file__).resolve().parent.parent / "server" / "spec"
    if not (folder / "lookoutvision" / "2020-11-20" / "service-2.json").is_file():
        raise FileNotFoundError(
            f"the lookoutvision service model is not in {folder}; reinstall lookoutvision-emulator"
        )
    return folder


def session(
    region_name: str = "us-east-1",
    aws_access_key_id: str = FAKE_KEY,
    aws_secret_access_key: str = FAKE_KEY,
    aws_session_token: str | None = None,
):
    """A boto3 Session whose loader finds our service model first."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.get_component("data_loader").search_paths.insert(0, str(data_path()))
    return boto3.session.Session(
        botocore_session=core,
        region_name=region_name,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        aws_session_token=aws_session_token,
    )


def client(endpoint_url: str, region_name: str = "us-east-1", **kwargs: Any):
    """A lookoutvision client for the emulator at `endpoint_url`.

    Extra keyword arguments go to `Session.client` (for example `config=`), except the credential
    ones, which go to the session.
    """
    credentials = {
        key: kwargs.pop(key)
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        if key in kwargs
    }
    return session(region_name=region_name, **credentials).client(
        "lookoutvision", endpoint_url=endpoint_url, **kwargs
    )
