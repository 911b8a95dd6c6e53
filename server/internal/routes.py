from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import __version__
from server.backend.arns import model_arn
from server.backend.model_imports import ImportOptions, find_bundle_files, import_model, unpack_upload
from server.backend.scope import Scope
from server.datasets.checks import MAX_SIDE, MIN_SIDE
from server.emulator import Emulator
from server.inference.bundle import MODEL_FILE, BundleError, make_class
from server.inference.devices import execution_providers
from server.protocol.validation import validate_input
from server.spec.errors import ServiceError, validation_error

MAX_MODEL_BYTES = 2 * 1024**3


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


def health(request: Request) -> Response:
    emulator = _emulator(request)
    settings = emulator.settings
    return JSONResponse(
        {
            "ready": True,
            "version": __version__,
            "data_dir": None if settings.in_memory else str(settings.storage_dir),
            "in_memory": settings.in_memory,
            "device": settings.device,
            "execution_providers": emulator.backend.hosting.providers_in_use()
            or execution_providers(settings.device),
            "schema_version": emulator.database.schema_version,
        }
    )


def reset(request: Request) -> Response:
    started = time.perf_counter()
    _emulator(request).backend.reset()
    return JSONResponse({"reset": True, "seconds": round(time.perf_counter() - started, 6)})


def hosting(request: Request) -> Response:
    """Hosted models and their inference units in service now (DescribeModel only echoes min and max)."""
    return JSONResponse({"models": _emulator(request).backend.hosting.status()})


async def import_model_endpoint(request: Request) -> Response:
    """Import a model as the project's next version, in TRAINED.

    Body: a zip holding model.onnx with model.json (a bundle) or metadata.json (anomalib 1.x) or neither
    (anomalib 2.x); or the bare ONNX graph with any other Content-Type. Query: account, region,
    imageWidth/imageHeight, className/classColor, description.
    """
    emulator = _emulator(request)
    project = request.path_params["project"]
    try:
        options, scope = _import_query(emulator, project, dict(request.query_params))
        with tempfile.TemporaryDirectory(prefix="lookoutvision-import-") as scratch:
            folder = Path(scratch)
            upload = folder / "upload"
            await _save_body(request, upload, emulator.settings.body_timeout)
            zipped = request.headers.get("content-type", "").split(";")[0].strip() == "application/zip"
            if zipped:
                (folder / "bundle").mkdir()
                await run_in_threadpool(unpack_upload, upload, folder / "bundle", MAX_MODEL_BYTES)
                files = find_bundle_files(folder / "bundle")
            else:
                upload.rename(folder / MODEL_FILE)
                files = (folder / MODEL_FILE, None, None)
            record, description = await run_in_threadpool(
                import_model, emulator.backend, scope, project, *files, options
            )
    except BundleError as error:
        return _error(emulator, validation_error(f"The model cannot be imported: {error}"))
    except ServiceError as error:
        return _error(emulator, error)
    version = str(record.key.version)
    body = {
        "ProjectName": project,
        "ModelVersion": version,
        "ModelArn": model_arn(scope, project, version),
        "Status": record.status,
        "Task": description.task,
        "Source": description.source,
    }
    return JSONResponse(body)


def _import_query(emulator: Emulator, project: str, query: dict[str, str]) -> tuple[ImportOptions, Scope]:
    service = emulator.dispatcher.service
    validate_input(service.operation_model("CreateProject").input_shape, {"ProjectName": project})
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
        shape = service.operation_model("CreateModel").input_shape
        validate_input(
            shape,
            {
                "ProjectName": project,
                "OutputConfig": {"S3Location": {"Bucket": "bucket"}},
                "Description": options.description,
            },
        )
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


def _error(emulator: Emulator, error: ServiceError) -> Response:
    return emulator.error_response(error)


routes = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/hosting", hosting, methods=["GET"]),
    Route("/_emulator/projects/{project}/models", import_model_endpoint, methods=["POST"]),
]
