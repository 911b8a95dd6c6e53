"""TagResource, UntagResource, ListTagsForResource (models are the only taggable resource)."""

from __future__ import annotations

from typing import Any

from server.backend.assembly import Backend
from server.backend.scope import Scope
from server.handlers.registry import operation
from server.protocol.context import RequestContext


@operation("TagResource")
def tag_resource(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    tags = {tag["Key"]: tag["Value"] for tag in params["Tags"]}
    backend.models.change_tags(Scope.of(context), params["ResourceArn"], add=tags, remove=[])
    return {}


@operation("UntagResource")
def untag_resource(backend: Backend, context: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    backend.models.change_tags(Scope.of(context), params["ResourceArn"], add={}, remove=params["TagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(
    backend: Backend, context: RequestContext, params: dict[str, Any]
) -> dict[str, Any]:
    tags = backend.models.tags(Scope.of(context), params["ResourceArn"])
    return {"Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}
