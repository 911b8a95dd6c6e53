"""Match a method and a raw path to an operation by the requestUri templates of the service model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from botocore.model import OperationModel, ServiceModel

from server.spec.errors import ServiceError

_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]  # label names in group order
    required_query: tuple[str, ...]  # literal query keys some services put in requestUri
    literal_length: int  # more literal text wins when two templates match

    def bind(self, match: re.Match[str]) -> dict[str, str]:
        return {name: unquote(value) for name, value in zip(self.labels, match.groups(), strict=True)}


def compile_route(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path_template, _, query_template = uri.partition("?")
    labels: list[str] = []
    pattern = ""
    position = 0
    for label in _LABEL.finditer(path_template):
        pattern += re.escape(path_template[position : label.start()])
        name = label.group(1)
        greedy = name.endswith("+")
        labels.append(name.rstrip("+"))
        # The path is matched before percent-decoding, so an ARN's encoded '/' stays inside its label.
        pattern += "(.+)" if greedy else "([^/]+)"
        position = label.end()
    pattern += re.escape(path_template[position:])
    literal = len(_LABEL.sub("", path_template))
    required_query = tuple(key for key, _ in parse_qsl(query_template, keep_blank_values=True))
    return Route(
        operation=operation,
        method=operation.http["method"].upper(),
        path=re.compile(pattern),
        labels=tuple(labels),
        required_query=required_query,
        literal_length=literal,
    )


class Router:
    def __init__(self, service: ServiceModel) -> None:
        self.routes = [compile_route(service.operation_model(name)) for name in service.operation_names]

    def match(
        self, method: str, raw_path: str, query_keys: set[str]
    ) -> tuple[OperationModel, dict[str, str]]:
        candidates = []
        for route in self.routes:
            found = route.path.fullmatch(raw_path)
            if found and all(key in query_keys for key in route.required_query):
                candidates.append((route, found))
        if not candidates:
            raise ServiceError(
                "UnknownOperationException", f"No operation is served at {method} {raw_path}", status=404
            )
        allowed = [(route, found) for route, found in candidates if route.method == method.upper()]
        if not allowed:
            methods = ", ".join(sorted({route.method for route, _ in candidates}))
            raise ServiceError(
                "MethodNotAllowedException",
                f"{method} is not allowed on {raw_path}; allowed: {methods}",
                status=405,
            )
        route, found = max(allowed, key=lambda pair: (pair[0].literal_length, len(pair[0].required_query)))
        return route.operation, route.bind(found)
