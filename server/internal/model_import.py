"""POST /_emulator/projects/{project}/models: a model (a bundle or an anomalib export) in as a project's next
version, in TRAINED."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from server.backend.arns import model_arn
from server.backend.model_imports import ImportOptions, find_bundle_files, import_model, unpack_upload
from server.backend.scope import Scope
from server.emulator import Emulator
from server.inference.bundle import MODEL_FILE, BundleError, make_class
from server.internal.emulator_route import EmulatorRoute, emulator_of
from server.protocol.validation import validate_value
from server.spec.errors import ServiceError, validation_error
from server.spec.limits import IMAGE_MAX_SIDE as MAX_SIDE
from server.spec.limits import IMAGE_MIN_SIDE as MIN_SIDE

MAX_MODEL_BYTES = 2 * 1024**3
ZIP = "application/zip"


class ImportedModel(BaseModel):
    ProjectName: str
    ModelVersion: str
    ModelArn: str
    Status: str = Field(description="TRAINED")
    Task: str = Field(description="classification or segmentation")
    Source: str = Field(description="bundle, anomalib-1 or anomalib-2")


# The query is checked by `_import_query`, with the same checks as the API's (the service model's
# constraints), so the parameters arrive as the text they are.
def _text(description: str, alias: str | None = None) -> object:
    return Query(description=description, alias=alias)


async def import_model_endpoint(
    request: Request,
    emulator: Annotated[Emulator, Depends(emulator_of)],
    project: str,
    account: Annotated[str | None, _text("12 digits; default: the server's account")] = None,
    region: Annotated[str | None, _text("default: the server's region")] = None,
    image_width: Annotated[
        str | None,
        _text(
            f"the width of DetectAnomalies images, {MIN_SIDE} to {MAX_SIDE}, with imageHeight", "imageWidth"
        ),
    ] = None,
    image_height: Annotated[
        str | None, _text(f"{MIN_SIDE} to {MAX_SIDE}, with imageWidth", "imageHeight")
    ] = None,
    class_name: Annotated[
        str | None, _text("the anomaly class of a one-class segmentation model", "className")
    ] = None,
    class_color: Annotated[str | None, _text("its #RRGGBB colour in the mask", "classColor")] = None,
    description: Annotated[str | None, _text("the model version's Description")] = None,
) -> ImportedModel:
    """Body: a zip (`application/zip`) holding model.onnx with model.json (a bundle) or metadata.json
    (anomalib 1.x) or neither (anomalib 2.x); or the bare ONNX graph with any other Content-Type."""
    given = {
        "account": account,
        "region": region,
        "imageWidth": image_width,
        "imageHeight": image_height,
        "className": class_name,
        "classColor": class_color,
        "description": description,
    }
    query = {key: value for key, value in given.items() if value is not None}
    try:
        options, scope = _import_query(emulator, project, query)
        with tempfile.TemporaryDirectory(prefix="lookoutvision-import-") as scratch:
            folder = Path(scratch)
            upload = folder / "upload"
            await _save_body(request, upload, emulator.settings.body_timeout)
            zipped = request.headers.get("content-type", "").split(";")[0].strip() == ZIP
            if zipped:
                (folder / "bundle").mkdir()
                await run_in_threadpool(unpack_upload, upload, folder / "bundle", MAX_MODEL_BYTES)
                files = find_bundle_files(folder / "bundle")
            else:
                upload.rename(folder / MODEL_FILE)
                files = (folder / MODEL_FILE, None, None)
            record, bundle = await run_in_threadpool(
                import_model, emulator.backend, scope, project, *files, options
            )
    except BundleError as error:
        raise validation_error(f"The model cannot be imported: {error}") from None
    version = str(record.key.version)
    return ImportedModel(
        ProjectName=project,
        ModelVersion=version,
        ModelArn=model_arn(scope, project, version),
        Status=record.status,
        Task=bundle.task,
        Source=bundle.source,
    )


def _import_query(emulator: Emulator, project: str, query: dict[str, str]) -> tuple[ImportOptions, Scope]:
    service = emulator.dispatcher.service
    # The API's own constraints on a project name and a model description (CreateModel's members).
    members = service.operation_model("CreateModel").input_shape.members
    validate_value(members["ProjectName"], project, "projectName")
    scope = Scope(
        query.get("account", emulator.settings.account), query.get("region", emulator.settings.region)
    )
    if not scope.account.isdigit() or len(scope.account) != 12:
        raise validation_error("account must be 12 digits")
    image_size = None
    if "imageWidth" in query or "imageHeight" in query:
        try:
            image_size = (int(query["imageWidth"]), int(query["imageHeight"]))
        except (KeyError, ValueError):
            raise validation_error("imageWidth and imageHeight must both be integers") from None
        # The sides DetectAnomalies accepts: a model for any other size could never be called.
        if not all(MIN_SIDE <= side <= MAX_SIDE for side in image_size):
            raise validation_error(f"imageWidth and imageHeight must be {MIN_SIDE} to {MAX_SIDE}")
    default = ImportOptions().anomaly_class
    try:
        anomaly_class = make_class(
            query.get("className", default.name), query.get("classColor", default.color)
        )
    except BundleError as error:
        raise validation_error(f"class {error}") from None
    options = ImportOptions(
        image_size=image_size, anomaly_class=anomaly_class, description=query.get("description")
    )
    if options.description is not None:
        validate_value(members["Description"], options.description, "description")
    return options, scope


async def _save_body(request: Request, path: Path, timeout: float) -> None:
    size = 0
    chunks = request.stream()
    with open(path, "wb") as target:
        while True:
            try:  # the API's deadline for a stalled body (protocol/asgi.py), here too
                chunk = await asyncio.wait_for(anext(chunks), timeout)
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError:
                raise ServiceError(
                    "RequestTimeoutException", f"No part of the upload came for {timeout:g} s", status=408
                ) from None
            size += len(chunk)
            if size > MAX_MODEL_BYTES:
                raise validation_error(f"The upload is larger than {MAX_MODEL_BYTES} bytes")
            target.write(chunk)
    if size == 0:
        raise validation_error("The upload is empty: send a zip of a bundle or an ONNX graph")


_BINARY = {"schema": {"type": "string", "format": "binary"}}

routes = [
    EmulatorRoute(
        "/_emulator/projects/{project}/models",
        import_model_endpoint,
        methods=["POST"],
        response_model=ImportedModel,
        summary="Import a model",
        raw_body=True,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {ZIP: _BINARY, "application/octet-stream": _BINARY},
                "description": "a zipped bundle or anomalib export, or a bare ONNX graph (up to 2 GiB)",
            }
        },
    ),
]
