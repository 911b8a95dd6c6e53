"""Model versions: look up (with `latest`), list, delete, tag, and import bundles as new versions."""

from __future__ import annotations

from pathlib import Path

from server.backend.arns import MODEL_ARN, PROJECT_ARN
from server.backend.lifecycle import ModelLifecycle
from server.backend.projects import Projects
from server.backend.scope import Scope
from server.inference.bundle import ModelDescription, bundle_contents
from server.spec.errors import MODEL, PROJECT, conflict, not_found, quota_exceeded, validation_error
from server.store.files import ModelFiles
from server.store.models import ModelKey, ModelRecord, ModelTable, Performance

MAX_TAGS_PER_MODEL = 50  # undocumented for L4V; AWS's usual per-resource limit
MAX_VERSION_DIGITS = 10  # ModelVersion's length limit in the service model


class Models:
    def __init__(
        self, table: ModelTable, projects: Projects, files: ModelFiles, lifecycle: ModelLifecycle
    ) -> None:
        self.table = table  # read here; written only by the lifecycle
        self.projects = projects
        self.files = files
        self.lifecycle = lifecycle

    def get(self, scope: Scope, project: str, version: str) -> ModelRecord:
        """`version` is a number or `latest` (the highest version the project has)."""
        if version == "latest":
            record = self.table.latest(scope.account, scope.region, project)
        else:
            record = self.table.get(ModelKey(scope.account, scope.region, project, int(version)))
        if record is None:
            self.projects.get(scope, project)  # a missing project is reported as such
            raise not_found(MODEL, version, f"Model version {version} of project {project} does not exist")
        return record

    def list_after(self, scope: Scope, project: str, after: int | None, limit: int) -> list[ModelRecord]:
        self.projects.get(scope, project)
        return self.table.list_after(scope.account, scope.region, project, after, limit)

    def delete(self, scope: Scope, project: str, version: str) -> ModelRecord:
        record = self.get(scope, project, version)
        before, after = self.lifecycle.begin_deletion(record.key)
        if before is None:
            raise not_found(MODEL, version, f"Model version {version} of project {project} does not exist")
        if after is None:
            raise conflict(
                MODEL,
                version,
                f"Model version {version} is {before.status}; stop it or let training end first",
            )
        self.files.remove(record.key)
        self.lifecycle.remove(record.key)
        return record

    def finish_deletions(self, records: list[ModelRecord]) -> None:
        """A DeleteModel cut off by a crash left its model DELETING: finish the deletion."""
        for record in records:
            self.files.remove(record.key)
            self.lifecycle.remove(record.key)

    def add(
        self,
        scope: Scope,
        project: str,
        model: Path,
        description: ModelDescription,
        model_description: str | None,
        performance: Performance | None = None,
    ) -> ModelRecord:
        """A new version in TRAINED from a checked bundle: an import (no Performance: it was not evaluated
        here), or the `train` command's model with the scores it measured."""
        self.projects.get(scope, project)
        record = self.lifecycle.add_trained(
            scope, project, model_description, description.task, description.source, performance
        )
        if record is None:
            raise not_found(PROJECT, project, f"Project {project} does not exist")
        try:  # written before the version can start
            self.files.write(record.key, bundle_contents(model, description.to_json()))
        except BaseException:
            self.lifecycle.remove(record.key)
            raise
        return record

    # Tags

    def key_from_arn(self, scope: Scope, arn: str) -> ModelKey:
        found = MODEL_ARN.fullmatch(arn)
        if found is None:
            if PROJECT_ARN.fullmatch(arn):
                raise validation_error(f"Only models can be tagged; {arn} is a project")
            raise validation_error(f"{arn} is not a Lookout for Vision model ARN")
        region, account, project, version = found.groups()
        # ModelVersion has at most 10 digits, so a longer number names no model (and would overflow
        # SQLite's 64-bit integers).
        if len(version) > MAX_VERSION_DIGITS or (account, region) != (scope.account, scope.region):
            raise not_found(MODEL, arn, f"Model {arn} does not exist")
        key = ModelKey(account, region, project, int(version))
        if self.table.get(key) is None:
            raise not_found(MODEL, arn, f"Model {arn} does not exist")
        return key

    def tags(self, scope: Scope, arn: str) -> dict[str, str]:
        return self.table.tags(self.key_from_arn(scope, arn))

    def change_tags(self, scope: Scope, arn: str, add: dict[str, str], remove: list[str]) -> None:
        key = self.key_from_arn(scope, arn)
        changed = self.table.change_tags(key, add, remove, limit=MAX_TAGS_PER_MODEL)
        if changed is None:
            raise not_found(MODEL, arn, f"Model {arn} does not exist")
        if changed is False:
            raise quota_exceeded(
                "tags-per-model", f"A model can have at most {MAX_TAGS_PER_MODEL} tags", MODEL, arn
            )
