"""The backend's rules, in-process: each test takes milliseconds (no server, no HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.backend.assembly import Backend
from server.backend.datasets import ManifestObject
from server.backend.lifecycle import OutputLocation
from server.backend.models import MAX_TAGS_PER_MODEL
from server.backend.scope import Scope
from server.inference.bundle import read_bundle
from server.spec.errors import ServiceError
from tests.backend.conftest import FakeClock
from tests.support.onnx_models import classifier_bundle


def error_of(call, *args, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_projects_are_unique_and_kept_apart_by_account_and_region(
    backend: Backend, scope: Scope, clock
) -> None:
    created = backend.projects.create(scope, "parts")
    assert created.created == round(clock.now, 3)
    assert error_of(backend.projects.create, scope, "parts").code == "ConflictException"
    other = Scope(scope.account, "eu-west-1")
    backend.projects.create(other, "parts")  # another region: another project
    assert [record.name for record in backend.projects.list_after(other, None, 10)] == ["parts"]
    missing = error_of(backend.projects.get, Scope("210987654321", scope.region), "parts")
    assert (missing.code, missing.fields["ResourceType"]) == ("ResourceNotFoundException", "PROJECT")


def test_a_project_with_a_dataset_cannot_be_deleted(backend: Backend, scope: Scope) -> None:
    backend.projects.create(scope, "parts")
    dataset = backend.datasets.create(scope, "parts", "train")  # no manifest: empty, at once
    assert dataset.status == "CREATE_COMPLETE" and backend.datasets.stats(dataset).total == 0
    refused = error_of(backend.projects.delete, scope, "parts")
    assert refused.code == "ConflictException" and "delete them first" in refused.message
    assert error_of(backend.datasets.create, scope, "parts", "train").code == "ConflictException"
    backend.datasets.delete(scope, "parts", "train")
    backend.projects.delete(scope, "parts")
    assert error_of(backend.projects.get, scope, "parts").code == "ResourceNotFoundException"


def test_a_manifest_from_a_missing_local_file_fails_the_dataset(backend: Backend, scope: Scope) -> None:
    backend.projects.create(scope, "parts")
    backend.datasets.create(
        scope, "parts", "train", ManifestObject("lookoutvision-local", "nowhere.manifest")
    )
    record = backend.datasets.get(scope, "parts", "train")  # fixture timing: the import ran at once
    assert record.status == "CREATE_FAILED" and record.status_message


def test_training_needs_labelled_images(backend: Backend, scope: Scope) -> None:
    backend.projects.create(scope, "parts")
    backend.datasets.create(scope, "parts", "train")
    refused = error_of(backend.training.create, scope, "parts", OutputLocation("out"))
    assert refused.code == "ValidationException" and "at least" in refused.message
    assert backend.models.list_after(scope, "parts", None, 10) == []  # nothing was created


def test_tags_and_their_quota(backend: Backend, scope: Scope, tmp_path: Path) -> None:
    backend.projects.create(scope, "parts")
    folder = classifier_bundle(tmp_path)
    record = backend.models.add(scope, "parts", folder / "model.onnx", read_bundle(folder), None)
    arn = f"arn:aws:lookoutvision:{scope.region}:{scope.account}:model/parts/{record.key.version}"
    backend.models.change_tags(scope, arn, {f"k{i}": "v" for i in range(MAX_TAGS_PER_MODEL)}, [])
    over = error_of(backend.models.change_tags, scope, arn, {"one-more": "v"}, [])
    assert (over.code, over.fields["QuotaCode"]) == ("ServiceQuotaExceededException", "tags-per-model")
    backend.models.change_tags(scope, arn, {"one-more": "v"}, ["k0"])  # a swap stays within the quota
    assert len(backend.models.tags(scope, arn)) == MAX_TAGS_PER_MODEL
    project_arn = f"arn:aws:lookoutvision:{scope.region}:{scope.account}:project/parts"
    assert error_of(backend.models.tags, scope, project_arn).code == "ValidationException"
    elsewhere = arn.replace(scope.region, "eu-west-1")
    assert error_of(backend.models.tags, scope, elsewhere).code == "ResourceNotFoundException"


def test_inference_units_are_checked_before_anything_starts(
    backend: Backend, scope: Scope, tmp_path: Path
) -> None:
    backend.projects.create(scope, "parts")
    folder = classifier_bundle(tmp_path)
    backend.models.add(scope, "parts", folder / "model.onnx", read_bundle(folder), None)
    assert error_of(backend.hosting.start, scope, "parts", "1", 3, 2).code == "ValidationException"
    too_many = backend.hosting.settings.max_units + 1
    quota = error_of(backend.hosting.start, scope, "parts", "1", too_many, None)
    assert quota.code == "ServiceQuotaExceededException"
    assert backend.models.get(scope, "parts", "1").status == "TRAINED"


def test_the_clock_stamps_what_the_backend_records(backend: Backend, scope: Scope, clock: FakeClock) -> None:
    backend.projects.create(scope, "parts")
    clock.advance(3600)
    dataset = backend.datasets.create(scope, "parts", "test")
    assert dataset.created == round(clock.now, 3)
    assert backend.projects.get(scope, "parts").created == round(clock.now - 3600, 3)
