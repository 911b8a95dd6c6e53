"""DescribeModel, ListModels, DeleteModel."""

from __future__ import annotations

from typing import Any

from server.backend.arns import model_arn
from server.backend.assembly import Backend
from server.backend.lifecycle import OutputLocation
from server.backend.scope import Scope
from server.handlers.paging import page
from server.handlers.registry import operation
from server.protocol.context import RequestContext
from server.store.models import ModelRecord, Performance


def model_metadata(scope: Scope, record: ModelRecord) -> dict[str, Any]:
    return {
        "CreationTimestamp": record.created,
        "ModelVersion": str(record.key.version),
        "ModelArn": model_arn(scope, record.key.project, str(record.key.version)),
        "Description": record.description,
        "Status": record.status,
        "StatusMessage": record.status_message,
        "Performance": _performance(record.performance),
    }


def model_description(scope: Scope, record: ModelRecord) -> dict[str, Any]:
    bucket = record.output_bucket
    return {
        **model_metadata(scope, record),
        "OutputConfig": _output_config(bucket, record.output_prefix),
        "EvaluationManifest": _object(bucket, record.evaluation_manifest_key),
        "EvaluationResult": _object(bucket, record.evaluation_result_key),
        "EvaluationEndTimestamp": record.evaluation_end,
        "KmsKeyId": record.kms_key_id,
        "MinInferenceUnits": record.min_units,
        "MaxInferenceUnits": record.max_units,
    }


def _performance(performance: Performance | None) -> dict[str, float] | None:
    if performance is None:
        return None
    return {"F1Score": performance.f1_score, "Recall": performance.recall, "Precision": performance.precision}


def _output_config(bucket: str | None, prefix: str | None) -> dict[str, Any] | None:
    if bucket is None:
        return None
    return {"S3Location": {"Bucket": bucket, **({"Prefix": prefix} if prefix is not None else {})}}


def _object(bucket: str | None, key: str | None) -> dict[str, str] | None:
    return {"Bucket": bucket, "Key": key} if bucket is not None and key is not None else None


@operation("CreateModel")
def create_model(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    location = params["OutputConfig"]["S3Location"]
    record = backend.training.create(
        scope,
        params["ProjectName"],
        OutputLocation(location["Bucket"], location.get("Prefix")),
        description=params.get("Description"),
        kms_key_id=params.get("KmsKeyId"),
        tags={tag["Key"]: tag["Value"] for tag in params.get("Tags", [])},
    )
    return {"ModelMetadata": model_metadata(scope, record)}


@operation("DescribeModel")
def describe_model(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    record = backend.models.get(scope, params["ProjectName"], params["ModelVersion"])
    return {"ModelDescription": model_description(scope, record)}


@operation("ListModels")
def list_models(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    project = params["ProjectName"]
    records, next_token = page(
        backend,
        context,
        params,
        f"ListModels|{project}",
        lambda after, limit: backend.models.list_after(scope, project, after, limit),
        lambda record: record.key.version,
    )
    return {"Models": [model_metadata(scope, record) for record in records], "NextToken": next_token}


@operation("DeleteModel")
def delete_model(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    record = backend.models.delete(scope, params["ProjectName"], params["ModelVersion"])
    return {"ModelArn": model_arn(scope, record.key.project, str(record.key.version))}
