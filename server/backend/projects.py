"""Projects: create, describe, list, delete."""

from __future__ import annotations

import time
from collections.abc import Callable

from server.backend.scope import Scope
from server.spec.errors import PROJECT, conflict, not_found
from server.store.projects import ProjectRecord, ProjectTable


class Projects:
    def __init__(self, table: ProjectTable, clock: Callable[[], float] = time.time) -> None:
        self.table = table
        self.clock = clock

    def create(self, scope: Scope, name: str) -> ProjectRecord:
        record = ProjectRecord(scope.account, scope.region, name, round(self.clock(), 3))
        if not self.table.insert(record):
            raise conflict(PROJECT, name, f"Project {name} already exists")
        return record

    def get(self, scope: Scope, name: str) -> ProjectRecord:
        record = self.table.get(scope.account, scope.region, name)
        if record is None:
            raise not_found(PROJECT, name, f"Project {name} does not exist")
        return record

    def delete(self, scope: Scope, name: str) -> ProjectRecord:
        record = self.get(scope, name)
        # The service makes clients delete model versions and datasets first.
        deleted, left = self.table.delete(scope.account, scope.region, name)
        if left:
            message = f"Project {name} still has {left} model version(s) or dataset(s); delete them first"
            raise conflict(PROJECT, name, message)
        if not deleted:
            raise not_found(PROJECT, name, f"Project {name} does not exist")
        return record

    def list_after(self, scope: Scope, after: str | None, limit: int) -> list[ProjectRecord]:
        return self.table.list_after(scope.account, scope.region, after, limit)
