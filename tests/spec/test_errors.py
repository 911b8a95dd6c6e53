"""The error vocabulary agrees with the service model: every constructor names a modeled error shape and fills
only that shape's members, with the model's status where it states one."""

from __future__ import annotations

import pytest

from server.spec import errors, service_model

MODEL = service_model()
MODELED = {shape.name: shape for shape in MODEL.error_shapes}

CONSTRUCTED = [
    errors.validation_error("bad"),
    errors.access_denied("no"),
    errors.not_found(errors.PROJECT, "p", "gone"),
    errors.conflict(errors.MODEL, "1", "busy"),
    errors.quota_exceeded("tags-per-model", "too many"),
    errors.quota_exceeded("inference-units-per-model", "too many", errors.MODEL, "1"),
    errors.throttled("slow down"),
    errors.throttled("slow down", retry_after_seconds=1),
    errors.internal_error("oops", RetryAfterSeconds=2),
]


@pytest.mark.parametrize("error", CONSTRUCTED, ids=lambda error: error.code)
def test_constructors_build_modeled_errors(error: errors.ServiceError) -> None:
    shape = MODELED[error.code]
    assert set(error.fields) <= set(shape.members) - {"Message"}
    status = shape.metadata.get("error", {}).get("httpStatusCode")
    assert error.status in (None, status)


def test_every_modeled_error_has_a_constructor() -> None:
    assert {error.code for error in CONSTRUCTED} == set(MODELED)


def test_resource_types_are_the_models_enum() -> None:
    enum = set(MODEL.shape_for("ResourceType").enum)
    assert {errors.PROJECT, errors.DATASET, errors.MODEL, errors.MODEL_PACKAGE_JOB} <= enum


def test_serialization_error_is_the_one_unmodeled_code() -> None:
    error = errors.serialization_error("not JSON")
    assert error.code not in MODELED and error.status == 400
