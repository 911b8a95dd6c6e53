"""CreateDataset, DescribeDataset, DeleteDataset, ListDatasetEntries, UpdateDatasetEntries."""

from __future__ import annotations

from typing import Any

from server.backend.assembly import Backend
from server.backend.datasets import ManifestObject
from server.backend.scope import Scope
from server.handlers.paging import page
from server.handlers.registry import operation
from server.protocol.context import RequestContext
from server.store.datasets import DatasetRecord, EntryFilter, ImageCounts


def dataset_metadata(record: DatasetRecord) -> dict[str, Any]:
    return {
        "DatasetType": record.dataset_type,
        "CreationTimestamp": record.created,
        "Status": record.status,
        "StatusMessage": record.status_message,
    }


@operation("CreateDataset")
def create_dataset(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    found = ((params.get("DatasetSource") or {}).get("GroundTruthManifest") or {}).get("S3Object")
    manifest = ManifestObject(found["Bucket"], found["Key"], found.get("VersionId")) if found else None
    record = backend.datasets.create(
        Scope.of(context), params["ProjectName"], params["DatasetType"], manifest
    )
    return {"DatasetMetadata": dataset_metadata(record)}


@operation("DescribeDataset")
def describe_dataset(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    record = backend.datasets.get(Scope.of(context), params["ProjectName"], params["DatasetType"])
    return {
        "DatasetDescription": {
            "ProjectName": record.project,
            "DatasetType": record.dataset_type,
            "CreationTimestamp": record.created,
            "LastUpdatedTimestamp": record.updated,
            "Status": record.status,
            "StatusMessage": record.status_message,
            "ImageStats": _image_stats(backend.datasets.stats(record)),
        }
    }


@operation("DeleteDataset")
def delete_dataset(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    backend.datasets.delete(Scope.of(context), params["ProjectName"], params["DatasetType"])
    return {}


@operation("ListDatasetEntries")
def list_dataset_entries(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    project, dataset_type = params["ProjectName"], params["DatasetType"]
    where = EntryFilter(
        labeled=params.get("Labeled"),
        anomaly_class=params.get("AnomalyClass"),
        created_before=params.get("BeforeCreationDate"),
        created_after=params.get("AfterCreationDate"),
        source_ref_contains=params.get("SourceRefContains"),
    )
    entries, next_token = page(
        backend,
        context,
        params,
        f"ListDatasetEntries|{project}|{dataset_type}|{where}",
        lambda after, limit: backend.datasets.entries(scope, project, dataset_type, after, limit, where),
        lambda entry: entry.seq,
    )
    return {"DatasetEntries": [entry.line for entry in entries], "NextToken": next_token}


@operation("UpdateDatasetEntries")
def update_dataset_entries(
    backend: Backend, context: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    status = backend.datasets.update(
        Scope.of(context), params["ProjectName"], params["DatasetType"], params["Changes"]
    )
    return {"Status": status}


def _image_stats(counts: ImageCounts) -> dict[str, int]:
    return {
        "Total": counts.total,
        "Labeled": counts.normal + counts.anomaly,
        "Normal": counts.normal,
        "Anomaly": counts.anomaly,
    }
