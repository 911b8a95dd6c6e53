"""Scripted DetectAnomalies answers, so tests of client code are deterministic without a real model."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from server.backend.scope import Scope

ANY_VERSION = "*"


@dataclass
class Script:
    answers: list[dict[str, Any]]  # DetectAnomalyResult values, or {"Error": {...}}
    repeat: bool
    served: int = field(default=0)


class ScriptedResults:
    def __init__(self) -> None:
        self._scripts: dict[tuple[str, str, str, str], Script] = {}
        self._lock = threading.Lock()

    def set(
        self, scope: Scope, project: str, version: str, answers: list[dict[str, Any]], repeat: bool
    ) -> None:
        with self._lock:
            self._scripts[(scope.account, scope.region, project, version)] = Script(list(answers), repeat)

    def take(self, scope: Scope, project: str, version: str) -> dict[str, Any] | None:
        """The next scripted answer for this model, or None to let the real model answer."""
        with self._lock:
            for key in ((scope.account, scope.region, project, version),
                        (scope.account, scope.region, project, ANY_VERSION)):  # fmt: skip
                script = self._scripts.get(key)
                if script is None:
                    continue
                if script.served < len(script.answers):
                    script.served += 1
                    return script.answers[script.served - 1]
                if script.repeat and script.answers:
                    return script.answers[-1]
        return None

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()
