"""The API's error vocabulary: the exception every layer raises for an error the client should see, and one
constructor per error shape the service model declares (tests/spec/test_errors.py checks them against it).

It lives with the spec, not with the protocol layer, so that the backend, the store and the inference code
can raise the API's errors without importing anything that knows about HTTP.
"""

from __future__ import annotations

from typing import Any

# The model's ResourceType values.
PROJECT = "PROJECT"
DATASET = "DATASET"
MODEL = "MODEL"
MODEL_PACKAGE_JOB = "MODEL_PACKAGE_JOB"

SERVICE_CODE = "lookoutvision"


class ServiceError(Exception):
    """An AWS error: `code` names the error shape, `fields` fill its modeled members.

    `status` is only needed for codes the service model does not declare (for example
    SerializationException); modeled errors take their status from the model.
    """

    def __init__(self, code: str, message: str, *, status: int | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r})"


def validation_error(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def access_denied(message: str) -> ServiceError:
    return ServiceError("AccessDeniedException", message, status=403)


def not_found(resource_type: str, resource_id: str, message: str) -> ServiceError:
    return ServiceError(
        "ResourceNotFoundException", message, ResourceId=resource_id, ResourceType=resource_type
    )


def conflict(resource_type: str, resource_id: str, message: str) -> ServiceError:
    return ServiceError("ConflictException", message, ResourceId=resource_id, ResourceType=resource_type)


def quota_exceeded(
    quota_code: str, message: str, resource_type: str | None = None, resource_id: str | None = None
) -> ServiceError:
    fields: dict[str, Any] = {"QuotaCode": quota_code, "ServiceCode": SERVICE_CODE}
    if resource_id is not None:
        fields.update(ResourceId=resource_id, ResourceType=resource_type)
    return ServiceError("ServiceQuotaExceededException", message, **fields)


def throttled(message: str, retry_after_seconds: int | None = None) -> ServiceError:
    fields = {} if retry_after_seconds is None else {"RetryAfterSeconds": retry_after_seconds}
    return ServiceError("ThrottlingException", message, **fields)


def internal_error(message: str, **fields: Any) -> ServiceError:
    return ServiceError("InternalServerException", message, **fields)


def serialization_error(message: str) -> ServiceError:
    # What AWS's JSON services answer for a body they cannot read; not a modeled shape.
    return ServiceError("SerializationException", message, status=400)
