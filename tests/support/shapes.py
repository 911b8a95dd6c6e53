"""Valid example inputs for any operation, built from the service model's shapes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from botocore.model import OperationModel, Shape

# Strings whose shape has a pattern get an example that matches it.
EXAMPLES: dict[str, Any] = {
    "ProjectName": "my-project_1",
    "DatasetType": "train",
    "ModelVersion": "1",
    "ModelVersionNoLatest": "2",
    "ClientToken": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "ModelDescriptionMessage": "first.model-v1",
    "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/abcd",
    "S3BucketName": "my-bucket",
    "S3KeyPrefix": "out/models/",
    "S3ObjectKey": "manifests/train.manifest",
    "S3ObjectVersion": "v 1",
    "PaginationToken": "abc+/=",
    "QueryString": "IMG 17",
    "AnomalyClassFilter": "anomaly",
    "ContentType": "image/png",
    "TagArn": "arn:aws:lookoutvision:us-east-1:123456789012:model/my-project/1",
    "TagKey": "team name",
    "TagValue": "vision/ünï",
    "ModelPackagingJobName": "job-1",
    "ModelPackagingJobDescription": "a job (v1): ok?",
    "ComponentName": "com.example.model_1",
    "ComponentVersion": "1.0.0",
    "ComponentDescription": "the component",
    "CompilerOptions": '{"mcpu": "core-avx2"}',
    "TargetDevice": "jetson_xavier",
    "TargetPlatformOs": "LINUX",
    "TargetPlatformArch": "X86_64",
    "TargetPlatformAccelerator": "NVIDIA",
    "Stream": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
    "DatasetChanges": b'{"source-ref": "s3://b/k.png"}\n',
}


def example(shape: Shape, depth: int = 0) -> Any:
    if shape.name in EXAMPLES:
        return EXAMPLES[shape.name]
    kind = shape.type_name
    if kind == "structure":
        return {name: example(member, depth + 1) for name, member in shape.members.items() if depth < 6}
    if kind == "list":
        return [example(shape.member, depth + 1)]
    if kind == "map":
        return {example(shape.key, depth + 1): example(shape.value, depth + 1)}
    if kind in ("integer", "long"):
        return max(shape.metadata.get("min", 1), 3)
    if kind in ("float", "double"):
        return 0.5
    if kind == "boolean":
        return True
    if kind == "timestamp":
        return datetime(2020, 6, 23, 1, 2, 3, 250000, tzinfo=timezone.utc)
    if kind == "blob":
        return b"blob-bytes"
    if "enum" in shape.metadata:
        return shape.metadata["enum"][0]
    assert "pattern" not in shape.metadata or shape.metadata["pattern"] == ".*", (
        f"add an example for {shape.name}"
    )
    return "example"


def example_input(operation: OperationModel) -> dict[str, Any]:
    shape = operation.input_shape
    return example(shape) if shape is not None else {}


def normalised(value: Any) -> Any:
    """Inputs as the server sees them: timestamps as epoch seconds."""
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value
