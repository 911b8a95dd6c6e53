"""StartModelPackagingJob, DescribeModelPackagingJob, ListModelPackagingJobs."""

from __future__ import annotations

from typing import Any

from server.backend.assembly import Backend
from server.backend.scope import Scope
from server.handlers.paging import page
from server.handlers.registry import operation
from server.protocol.context import RequestContext
from server.store.packaging import JobRecord


def job_metadata(record: JobRecord) -> dict[str, Any]:
    return {
        "JobName": record.job_name,
        "ProjectName": record.project,
        "ModelVersion": str(record.model_version),
        "ModelPackagingJobDescription": record.description,
        "ModelPackagingMethod": record.method,
        "Status": record.status,
        "StatusMessage": record.status_message,
        "CreationTimestamp": record.created,
        "LastUpdatedTimestamp": record.updated,
    }


@operation("StartModelPackagingJob")
def start_model_packaging_job(
    backend: Backend, context: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    job_name = backend.packaging.start(
        Scope.of(context),
        params["ProjectName"],
        params["ModelVersion"],
        params["Configuration"].get("Greengrass"),
        job_name=params.get("JobName"),
        description=params.get("Description"),
    )
    return {"JobName": job_name}


@operation("DescribeModelPackagingJob")
def describe_model_packaging_job(
    backend: Backend, context: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    record = backend.packaging.get(Scope.of(context), params["ProjectName"], params["JobName"])
    return {
        "ModelPackagingDescription": {
            **job_metadata(record),
            "ModelPackagingConfiguration": record.configuration,
            "ModelPackagingOutputDetails": record.output,
        }
    }


@operation("ListModelPackagingJobs")
def list_model_packaging_jobs(
    backend: Backend, context: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    scope = Scope.of(context)
    project = params["ProjectName"]
    records, next_token = page(
        backend,
        context,
        params,
        f"ListModelPackagingJobs|{project}",
        lambda after, limit: backend.packaging.list_after(scope, project, after, limit),
        lambda record: record.seq,
    )
    return {"ModelPackagingJobs": [job_metadata(record) for record in records], "NextToken": next_token}
