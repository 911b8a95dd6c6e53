"""/openapi.json and /docs: the L4V API (from the service model) and the emulator's own endpoints (from
their FastAPI routes) in one OpenAPI document, shown by Swagger UI served from a Python package (no CDN:
the docs work offline)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from botocore.model import ServiceModel
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from server import __version__
from server.internal.emulator_route import EmulatorRoute
from server.spec.errors import ServiceError

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
ASSETS = "/docs/assets"
TITLE = "Lookout for Vision emulator"
DESCRIPTION = (
    "The Amazon Lookout for Vision API (rest-json, described from the service model the server parses "
    "and validates with) and the emulator's own endpoints under /_emulator/. Calls from this page are "
    "unsigned: they act in the default account and region. DetectAnomalies takes the image itself as "
    "the body: choose image/png or image/jpeg and a file."
)


def build_document(app: FastAPI, service: ServiceModel) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    from server.inference.images import CONTENT_TYPES
    from server.protocol.openapi import openapi_document as service_document

    document = service_document(
        service,
        title=TITLE,
        version=__version__,
        payload_media_types={"DetectAnomalies": list(CONTENT_TYPES)},
    )
    document["info"]["description"] = DESCRIPTION
    own = get_openapi(
        title=TITLE,
        version=__version__,
        openapi_version=document["openapi"],
        routes=[route for route in app.routes if isinstance(route, EmulatorRoute)],
    )
    schemas = document["components"]["schemas"]
    for name, schema in own.get("components", {}).get("schemas", {}).items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue  # FastAPI's 422 body, which this server never sends (see below)
        if name in schemas:
            raise ValueError(f"the emulator's model {name} has the name of a service shape")
        schemas[name] = schema
    for path, item in own.get("paths", {}).items():
        item.pop("head", None)  # HEAD is served with GET; one entry is enough
        for operation in item.values():
            responses = operation["responses"]
            if responses.pop("422", None) is not None:  # sent as the API's ValidationException instead
                responses["400"] = {
                    "description": "ValidationException",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ValidationException"}}
                    },
                }
        document["paths"][path] = item
    document["tags"] = [
        {
            "name": service.metadata.get("serviceId", "API"),
            "description": "the L4V API, from the service model",
        },
        {
            "name": "emulator",
            "description": "the emulator's own endpoints: health, reset, imports, scripting",
        },
    ]
    return document


def openapi_json(request: Request) -> Response:
    return JSONResponse(request.app.openapi())  # built on the first request, then kept


def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{TITLE}: API docs",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        # No badge from Swagger's online validator: the page must not reach beyond this server.
        swagger_ui_parameters={"validatorUrl": None},
    )


@cache
def _assets() -> dict[str, Path]:
    from swagger_ui_bundle import swagger_ui_path

    folder = Path(str(swagger_ui_path))
    return {path.name: path for path in folder.iterdir() if path.is_file()}


def asset(name: str) -> FileResponse:
    path = _assets().get(name)  # only the package's own files, by exact name
    if path is None:  # as for any path nothing is served at
        raise ServiceError(
            "UnknownOperationException", f"No operation is served at GET {ASSETS}/{name}", status=404
        )
    return FileResponse(path)


routes = [
    EmulatorRoute(OPENAPI_URL, openapi_json, methods=["GET"], include_in_schema=False, open_when_locked=True),
    EmulatorRoute(DOCS_URL, docs, methods=["GET"], include_in_schema=False, open_when_locked=True),
    EmulatorRoute(ASSETS + "/{name}", asset, methods=["GET"], include_in_schema=False, open_when_locked=True),
]
