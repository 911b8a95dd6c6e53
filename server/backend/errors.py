"""The service's modeled errors, with the fields each one carries."""

from __future__ import annotations

# The backend raises these; scope and new code take them from here rather than from the protocol layer.
from server.protocol.errors import ServiceError
from server.protocol.errors import validation_error as validation_error

PROJECT = "PROJECT"
DATASET = "DATASET"
MODEL = "MODEL"
MODEL_PACKAGE_JOB = "MODEL_PACKAGE_JOB"


def not_found(resource_type: str, resource_id: str, message: str) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException", message, ResourceId=resource_id, ResourceType=resource_type
    )


def conflict(resource_type: str, resource_id: str, message: str) -> ServiceError:
    return ServiceError("ConflictException", message, ResourceId=resource_id, ResourceType=resource_type)
