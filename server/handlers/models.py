"""DescribeModel, ListModels, DeleteModel."""

from __future__ import annotations

from typing import Any

from server.backend.arns import model_arn
from server.backend.scope import Scope
from server.backend.service import Backend
from server.handlers.paging import page
from server.handlers.registry import operation
from server.protocol.context import RequestContext
from server.store.models import ModelRecord


def model_metadata(scope: Scope, record: ModelRecord) -> dict[str, Any]:
    return {
        "CreationTimestamp": record.created,
        "ModelVersion": str(record.key.version),
        "ModelArn": model_arn(scope, record.key.project, str(record.key.version)),
        "Description": record.description,
        "Status": record.status,
        "StatusMessage": record.status_message,
        "Performance": record.details.get("performance"),
    }


def model_description(scope: Scope, record: ModelRecord) -> dict[str, Any]:
    details = record.details
    return {
        **model_metadata(scope, record),
        "OutputConfig": details.get("output_config"),
        "EvaluationManifest": details.get("evaluation_manifest"),
        "EvaluationResult": details.get("evaluation_result"),
        "EvaluationEndTimestamp": details.get("evaluation_end"),
        "KmsKeyId": details.get("kms_key_id"),
        "MinInferenceUnits": record.min_units,
        "MaxInferenceUnits": record.max_units,
    }


@operation("CreateModel")
def create_model(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    record = backend.training.create(scope, params["ProjectName"], params)
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
