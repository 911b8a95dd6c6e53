"""Our service model: complete, prose-free, and loadable by botocore and boto3 exactly as clients load it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel

from server.protocol.routing import Router
from server.spec import data_path, model_dir, service_model

OPERATIONS = {
    "CreateDataset", "CreateModel", "CreateProject", "DeleteDataset", "DeleteModel", "DeleteProject",
    "DescribeDataset", "DescribeModel", "DescribeModelPackagingJob", "DescribeProject", "DetectAnomalies",
    "ListDatasetEntries", "ListModelPackagingJobs", "ListModels", "ListProjects", "ListTagsForResource",
    "StartModel", "StartModelPackagingJob", "StopModel", "TagResource", "UntagResource", "UpdateDatasetEntries",
}  # fmt: skip


def test_botocore_loads_all_22_operations_from_the_data_path():
    loader = Loader(extra_search_paths=[str(data_path())], include_default_search_paths=False)
    description = loader.load_service_model("lookoutvision", "service-2", api_version="2020-11-20")
    model = ServiceModel(description, service_name="lookoutvision")
    assert set(model.operation_names) == OPERATIONS
    assert model.metadata["protocol"] == "rest-json"
    assert model.api_version == "2020-11-20"
    assert model.signing_name == "lookoutvision"


def test_model_has_no_documentation_prose():
    text = (model_dir() / "service-2.json").read_text()
    assert '"documentation"' not in text
    assert "documentation" not in json.loads(text)


def test_status_codes_and_tokens_match_the_service():
    model = service_model()
    accepted = {"CreateDataset", "CreateModel", "DeleteDataset", "DeleteModel", "StartModel", "StopModel",
                "UpdateDatasetEntries"}  # fmt: skip
    for name in OPERATIONS:
        status = model.operation_model(name).http.get("responseCode", 200)
        assert status == (202 if name in accepted else 200), name
    with_token = {
        name
        for name in OPERATIONS
        if any(
            m.metadata.get("idempotencyToken")
            for m in model.operation_model(name).input_shape.members.values()
        )
    }
    assert with_token == {
        "CreateProject", "DeleteProject", "CreateDataset", "DeleteDataset", "UpdateDatasetEntries",
        "CreateModel", "DeleteModel", "StartModel", "StopModel", "StartModelPackagingJob",
    }  # fmt: skip


def test_paginators_cover_every_list_operation():
    paginators = json.loads((model_dir() / "paginators-1.json").read_text())["pagination"]
    assert set(paginators) == {"ListProjects", "ListModels", "ListDatasetEntries", "ListModelPackagingJobs"}
    for config in paginators.values():
        assert config["input_token"] == config["output_token"] == "NextToken"
        assert config["limit_key"] == "MaxResults"


def test_every_operation_has_a_route():
    routes = Router(service_model()).routes
    assert {route.operation.name for route in routes} == OPERATIONS


@pytest.mark.parametrize("variable", ["AWS_DATA_PATH"])
def test_newest_boto3_builds_a_client_with_aws_data_path(variable, tmp_path):
    """In a fresh interpreter, as a user would: the env var alone makes the service known."""
    script = (
        "import boto3, botocore; "
        "c = boto3.client('lookoutvision', region_name='us-east-1', endpoint_url='http://127.0.0.1:9'); "
        "print(botocore.__version__, len(c.meta.service_model.operation_names))"
    )
    env = {**os.environ, variable: str(data_path()), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "22"
