"""The service's ARNs: how they are written and read back."""

from __future__ import annotations

import re

from server.backend.scope import Scope

# region, account, project, version
MODEL_ARN = re.compile(r"arn:aws:lookoutvision:([^:]+):([^:]+):model/([^/]+)/([1-9][0-9]*)")
PROJECT_ARN = re.compile(r"arn:aws:lookoutvision:[^:]+:[^:]+:project/[^/]+")


def project_arn(scope: Scope, project: str) -> str:
    return f"arn:aws:lookoutvision:{scope.region}:{scope.account}:project/{project}"


def model_arn(scope: Scope, project: str, version: str) -> str:
    return f"arn:aws:lookoutvision:{scope.region}:{scope.account}:model/{project}/{version}"


def component_arn(scope: Scope, name: str, version: str) -> str:
    """A Greengrass component version, as a packaging job reports it."""
    return f"arn:aws:greengrass:{scope.region}:{scope.account}:components:{name}:versions:{version}"
