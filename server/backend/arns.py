from __future__ import annotations

from server.backend.scope import Scope


def project_arn(scope: Scope, project: str) -> str:
    return f"arn:aws:lookoutvision:{scope.region}:{scope.account}:project/{project}"


def model_arn(scope: Scope, project: str, version: str) -> str:
    return f"arn:aws:lookoutvision:{scope.region}:{scope.account}:model/{project}/{version}"
