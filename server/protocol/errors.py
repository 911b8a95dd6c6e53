"""The one exception type every layer raises for an error the client should see."""

from __future__ import annotations

from typing import Any


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


def serialization_error(message: str) -> ServiceError:
    # What AWS's JSON services answer for a body they cannot read; not a modeled shape.
    return ServiceError("SerializationException", message, status=400)
