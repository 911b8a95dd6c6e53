"""The service model: the single source of truth for routing, parsing, validation and errors.

The folder holding this file is laid out as botocore's data path (`lookoutvision/2020-11-20/`), so
clients put it on `AWS_DATA_PATH` and the server reads the very same file.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.model import ServiceModel

SERVICE_NAME = "lookoutvision"
API_VERSION = "2020-11-20"


def data_path() -> Path:
    """The folder to put on AWS_DATA_PATH."""
    return Path(__file__).resolve().parent


def model_dir() -> Path:
    return data_path() / SERVICE_NAME / API_VERSION


@cache
def service_model() -> ServiceModel:
    from botocore.model import ServiceModel

    description = json.loads((model_dir() / "service-2.json").read_text(encoding="utf-8"))
    return ServiceModel(description, service_name=SERVICE_NAME)
