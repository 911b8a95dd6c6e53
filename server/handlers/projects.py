"""CreateProject, DescribeProject, ListProjects, DeleteProject."""

from __future__ import annotations

from typing import Any

from server.backend.arns import project_arn
from server.backend.assembly import Backend
from server.backend.scope import Scope
from server.handlers.datasets import dataset_metadata
from server.handlers.paging import page
from server.handlers.registry import operation
from server.protocol.context import RequestContext
from server.store.projects import ProjectRecord


def project_metadata(scope: Scope, project: ProjectRecord) -> dict[str, Any]:
    return {
        "ProjectArn": project_arn(scope, project.name),
        "ProjectName": project.name,
        "CreationTimestamp": project.created,
    }


@operation("CreateProject")
def create_project(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    project = backend.projects.create(scope, params["ProjectName"])
    return {"ProjectMetadata": project_metadata(scope, project)}


@operation("DescribeProject")
def describe_project(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    project = backend.projects.get(scope, params["ProjectName"])
    datasets = [dataset_metadata(record) for record in backend.datasets.for_project(scope, project.name)]
    return {"ProjectDescription": {**project_metadata(scope, project), "Datasets": datasets}}


@operation("ListProjects")
def list_projects(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    projects, next_token = page(
        backend,
        context,
        params,
        "ListProjects",
        lambda after, limit: backend.projects.list_after(scope, after, limit),
        lambda project: project.name,
    )
    return {"Projects": [project_metadata(scope, project) for project in projects], "NextToken": next_token}


@operation("DeleteProject")
def delete_project(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    scope = Scope.of(context)
    project = backend.projects.delete(scope, params["ProjectName"])
    return {"ProjectArn": project_arn(scope, project.name)}
