"""The console's pages: server-rendered, each one a few L4V operations called by name (see calls.py)."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import time
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from server.console.calls import Calls
from server.console.entries import LABELS, Entry, parse_entry, relabelled
from server.console.media import Media, MediaError, image_type, overlay
from server.datasets.sources import MAX_OBJECT_BYTES
from server.spec.errors import DATASET, ServiceError, not_found

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
GRID_PAGE = 100  # entries per dataset page (ListDatasetEntries allows 100)
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # one form post, all files together
MAX_UPLOAD_FILES = 50
MAX_EVALUATION_BYTES = 16 * 1024 * 1024
THUMB_SIDE = 256
TRANSITIONAL_MODEL = {"TRAINING", "STARTING_HOSTING", "STOPPING_HOSTING", "DELETING"}


def _percent(value: Any) -> str:
    return f"{float(value) * 100:.1f}%" if isinstance(value, (int, float)) else "-"


def _color(value: Any) -> str:
    """Only #RRGGBB reaches a style attribute."""
    text = str(value)
    return text if re.fullmatch(r"#[0-9A-Fa-f]{6}", text) else "transparent"


def _when(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(value)))


class Console:
    def __init__(self, calls: Calls, media: Media) -> None:
        self.calls = calls
        self.media = media
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
        )
        self.templates.filters.update(
            percent=_percent, when=_when, color=_color, q=lambda text: quote(str(text), safe="")
        )

    # Calls: the operations (and file reads) block, so they run in the thread pool, off the event loop

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        return await run_in_threadpool(self.calls, operation, **params)

    async def describe_model(self, project: str, version: str) -> dict[str, Any]:
        return (await self.call("DescribeModel", ProjectName=project, ModelVersion=version))[
            "ModelDescription"
        ]

    async def listing(self, operation: str, key: str, limit: int, **params: Any) -> list[Any]:
        return await run_in_threadpool(lambda: list(self.calls.pages(operation, key, limit, **params)))

    async def read(self, reference: str, limit: int = MAX_OBJECT_BYTES) -> bytes:
        return await run_in_threadpool(self.media.read, self.calls.region, reference, limit)

    # Rendering and answers

    def page(self, request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("refresh", None)
        html = self.templates.get_template(template).render(
            base=request.scope.get("root_path", ""),
            notice=request.query_params.get("notice"),
            problem=request.query_params.get("problem"),
            **values,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def failure(self, request: Request, error: ServiceError | MediaError, status: int = 400) -> HTMLResponse:
        code = error.code if isinstance(error, ServiceError) else "Error"
        message = error.message if isinstance(error, ServiceError) else str(error)
        if isinstance(error, ServiceError):
            status = error.status or (404 if code == "ResourceNotFoundException" else 400)
        return self.page(request, "error.html", status=status, code=code, message=message)

    @staticmethod
    def back(request: Request, path: str, **message: str) -> RedirectResponse:
        """Post/redirect/get: the next page shows `notice` or `problem`."""
        query = f"?{urlencode(message)}" if message else ""
        return RedirectResponse(f"{request.scope.get('root_path', '')}{path}{query}", status_code=303)

    @staticmethod
    def said(error: ServiceError | MediaError) -> str:
        if isinstance(error, ServiceError):
            return f"{error.code}: {error.message}"
        return str(error)

    async def form(self, request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
            raise MediaError(f"the upload is {int(declared)} bytes; at most {MAX_UPLOAD_BYTES} per form")
        return await request.form(max_files=MAX_UPLOAD_FILES, max_part_size=1024 * 1024)

    # Projects

    async def projects(self, request: Request) -> Response:
        try:
            projects = await self.listing("ListProjects", "Projects", 1000)
        except ServiceError as error:
            return self.failure(request, error)
        return self.page(request, "projects.html", projects=projects)

    async def create_project(self, request: Request) -> Response:
        name = str((await self.form(request)).get("name", "")).strip()
        try:
            await self.call("CreateProject", ProjectName=name)
        except ServiceError as error:
            return self.back(request, "/", problem=self.said(error))
        return self.back(request, f"/projects/{quote(name, safe='')}", notice=f"Project {name} created")

    async def delete_project(self, request: Request) -> Response:
        name = request.path_params["project"]
        try:
            await self.call("DeleteProject", ProjectName=name)
        except ServiceError as error:
            return self.back(request, "/", problem=self.said(error))
        return self.back(request, "/", notice=f"Project {name} deleted")

    async def project(self, request: Request) -> Response:
        name = request.path_params["project"]
        try:
            described = (await self.call("DescribeProject", ProjectName=name))["ProjectDescription"]
            models = await self.listing("ListModels", "Models", 1000, ProjectName=name)
            datasets = []
            for item in described.get("Datasets", []):
                detail = await self.call("DescribeDataset", ProjectName=name, DatasetType=item["DatasetType"])
                datasets.append(detail["DatasetDescription"])
        except ServiceError as error:
            return self.failure(request, error)
        busy = any(item.get("Status", "").endswith("IN_PROGRESS") for item in datasets) or any(
            item.get("Status") in TRANSITIONAL_MODEL for item in models
        )
        return self.page(
            request,
            "project.html",
            project=described,
            datasets=datasets,
            models=models,
            local_bucket=self.media.local_bucket,
            refresh=3 if busy else None,
        )

    # Datasets

    async def create_dataset(self, request: Request) -> Response:
        name = request.path_params["project"]
        form = await self.form(request)
        kind = str(form.get("type", "train"))
        manifest = str(form.get("manifest", "")).strip()
        params: dict[str, Any] = {"ProjectName": name, "DatasetType": kind}
        if manifest:
            bucket, _, key = manifest.removeprefix("s3://").partition("/")
            if not manifest.startswith("s3://") or not bucket or not key:
                return self.back(
                    request,
                    f"/projects/{quote(name, safe='')}",
                    problem=f"{manifest}: give the manifest as s3://bucket/key",
                )
            params["DatasetSource"] = {"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Key": key}}}
        try:
            await self.call("CreateDataset", **params)
        except ServiceError as error:
            return self.back(request, f"/projects/{quote(name, safe='')}", problem=self.said(error))
        return self.back(
            request,
            f"/projects/{quote(name, safe='')}/datasets/{quote(kind, safe='')}",
            notice=f"The {kind} dataset is being created",
        )

    async def import_folder(self, request: Request) -> Response:
        """Images of a folder below the dataset root into a dataset (created empty if need be), through
        UpdateDatasetEntries: the import rules are the API's."""
        name = request.path_params["project"]
        form = await self.form(request)
        kind, folder = str(form.get("type", "train")), str(form.get("folder", ""))
        project_page = f"/projects/{quote(name, safe='')}"
        try:
            lines = await run_in_threadpool(self.media.folder_lines, folder)
            try:
                await self.call("DescribeDataset", ProjectName=name, DatasetType=kind)
            except ServiceError as error:
                if error.code != "ResourceNotFoundException":
                    raise
                await self.call("CreateDataset", ProjectName=name, DatasetType=kind)
            await self.call(
                "UpdateDatasetEntries", ProjectName=name, DatasetType=kind, Changes="\n".join(lines).encode()
            )
        except (ServiceError, MediaError) as error:
            return self.back(request, project_page, problem=self.said(error))
        notice = f"{len(lines)} image(s) of {folder} are being added"
        return self.back(request, f"{project_page}/datasets/{quote(kind, safe='')}", notice=notice)

    async def delete_dataset(self, request: Request) -> Response:
        name, kind = request.path_params["project"], request.path_params["dataset"]
        try:
            await self.call("DeleteDataset", ProjectName=name, DatasetType=kind)
        except ServiceError as error:
            return self.back(request, f"/projects/{quote(name, safe='')}", problem=self.said(error))
        return self.back(
            request, f"/projects/{quote(name, safe='')}", notice=f"The {kind} dataset was deleted"
        )

    async def dataset(self, request: Request) -> Response:
        name, kind = request.path_params["project"], request.path_params["dataset"]
        show = request.query_params.get("show", "all")
        wanted_class = request.query_params.get("class", "")
        token = request.query_params.get("token") or None
        filters: dict[str, Any] = {}
        if show in LABELS:
            filters["AnomalyClass"] = show
        elif show == "unlabeled":
            filters["Labeled"] = False
        try:
            described = (await self.call("DescribeDataset", ProjectName=name, DatasetType=kind))[
                "DatasetDescription"
            ]
            answer = await self.call(
                "ListDatasetEntries",
                ProjectName=name,
                DatasetType=kind,
                MaxResults=GRID_PAGE,
                NextToken=token,
                **filters,
            )
        except ServiceError as error:
            return self.failure(request, error)
        entries = [parse_entry(line) for line in answer.get("DatasetEntries", [])]
        known_classes = sorted({item for entry in entries for item, _ in entry.classes})
        if wanted_class:
            entries = [entry for entry in entries if any(item == wanted_class for item, _ in entry.classes)]
        busy = described.get("Status", "").endswith("IN_PROGRESS")
        return self.page(
            request,
            "dataset.html",
            project=name,
            kind=kind,
            dataset=described,
            entries=entries,
            show=show,
            wanted_class=wanted_class,
            classes=known_classes,
            next_token=answer.get("NextToken"),
            refresh=2 if busy else None,
        )

    async def upload(self, request: Request) -> Response:
        name, kind = request.path_params["project"], request.path_params["dataset"]
        here = f"/projects/{quote(name, safe='')}/datasets/{quote(kind, safe='')}"
        try:
            form = await self.form(request)
        except MediaError as error:
            return self.back(request, here, problem=str(error))
        label = str(form.get("label", ""))
        files = [item for item in form.getlist("images") if isinstance(item, UploadFile) and item.filename]
        if not files:
            return self.back(request, here, problem="Choose one or more PNG or JPEG images to upload")
        lines, refused = [], []
        for upload in files:
            content = await upload.read()
            try:
                ref = await run_in_threadpool(
                    self.media.save_upload, name, kind, upload.filename or "image", content
                )
            except MediaError as error:
                refused.append(f"{upload.filename}: {error}")
                continue
            line = json.dumps({"source-ref": ref}, separators=(",", ":"))
            lines.append(relabelled(line, label) if label in LABELS else line)
        if lines:
            try:
                await self.call(
                    "UpdateDatasetEntries",
                    ProjectName=name,
                    DatasetType=kind,
                    Changes="\n".join(lines).encode(),
                )
            except ServiceError as error:
                refused.append(self.said(error))
                lines = []
        if refused:
            return self.back(request, here, problem=f"{len(lines)} added; refused: " + "; ".join(refused))
        return self.back(request, here, notice=f"{len(lines)} image(s) added")

    async def label(self, request: Request) -> Response:
        name, kind = request.path_params["project"], request.path_params["dataset"]
        form = await self.form(request)
        here = f"/projects/{quote(name, safe='')}/datasets/{quote(kind, safe='')}"
        back_query = {key: str(form[key]) for key in ("show", "class") if form.get(key)}
        ref, label = str(form.get("ref", "")), str(form.get("label", ""))
        if label not in LABELS:
            return self.back(request, here, problem="The label must be normal or anomaly", **back_query)
        try:
            entry = await self._entry(name, kind, ref)
            if entry is None:
                raise not_found(DATASET, kind, f"{ref} is not in the {kind} dataset")
            await self.call(
                "UpdateDatasetEntries",
                ProjectName=name,
                DatasetType=kind,
                Changes=relabelled(entry.line, label).encode(),
            )
        except ServiceError as error:
            return self.back(request, here, problem=self.said(error), **back_query)
        return self.back(request, here, notice=f"{entry.name} is now labelled {label}", **back_query)

    async def _entry(self, project: str, kind: str, ref: str) -> Entry | None:
        """The entry whose source-ref is exactly `ref`, or None."""
        if not ref:
            return None
        lines = await self.listing(
            "ListDatasetEntries",
            "DatasetEntries",
            100_000,
            ProjectName=project,
            DatasetType=kind,
            SourceRefContains=ref[-2048:],
        )
        for line in lines:
            entry = parse_entry(line)
            if entry.source_ref == ref:
                return entry
        return None

    async def media_file(self, request: Request) -> Response:
        """An entry's image or mask overlay; only refs that a dataset of the project holds are served."""
        name = request.path_params["project"]
        ref, kind = request.query_params.get("ref", ""), request.query_params.get("kind", "image")
        thumb = request.query_params.get("thumb") == "1"
        entry = None
        for dataset in ("train", "test"):
            try:
                entry = await self._entry(name, dataset, ref)
            except ServiceError as error:
                if error.code != "ResourceNotFoundException":
                    return self.failure(request, error)
            if entry is not None:
                break
        if entry is None or (kind == "mask" and not entry.mask_ref):
            return self.failure(request, MediaError(f"{ref} is not an entry of project {name}"), status=404)
        try:
            if kind == "mask":
                content = overlay(await self.read(entry.mask_ref or ""), set())
                media_type = "image/png"
            else:
                content = await self.read(entry.source_ref)
                media_type = image_type(content)
            if thumb:
                content, media_type = _thumbnail(content, sharp=kind == "mask"), "image/png"
        except MediaError as error:
            return self.failure(request, error, status=404)
        return Response(content, media_type=media_type, headers={"Cache-Control": "no-cache"})

    # Models

    async def create_model(self, request: Request) -> Response:
        name = request.path_params["project"]
        form = await self.form(request)
        bucket, prefix = str(form.get("bucket", "")).strip(), str(form.get("prefix", "")).strip()
        output: dict[str, Any] = {"S3Location": {"Bucket": bucket, **({"Prefix": prefix} if prefix else {})}}
        params = {
            "ProjectName": name,
            "OutputConfig": output,
            "Description": str(form.get("description", "")),
        }
        try:
            answer = await self.call(
                "CreateModel", **{key: value for key, value in params.items() if value != ""}
            )
        except ServiceError as error:
            return self.back(request, f"/projects/{quote(name, safe='')}", problem=self.said(error))
        version = answer["ModelMetadata"]["ModelVersion"]
        return self.back(
            request, f"/projects/{quote(name, safe='')}/models/{version}", notice="Training started"
        )

    async def model(self, request: Request) -> Response:
        name, version = request.path_params["project"], request.path_params["version"]
        try:
            model = await self.describe_model(name, version)
        except ServiceError as error:
            return self.failure(request, error)
        evaluation, note = await self._evaluation(model)
        return self.page(
            request,
            "model.html",
            project=name,
            model=model,
            evaluation=evaluation,
            evaluation_note=note,
            refresh=2 if model.get("Status") in TRANSITIONAL_MODEL else None,
        )

    async def _evaluation(self, model: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """The test set image by image, from the EvaluationManifest the trainer wrote."""
        location = model.get("EvaluationManifest")
        if not location:
            return [], "This model has no evaluation: it was imported, or it has not finished training."
        try:
            text = await self.read(f"s3://{location['Bucket']}/{location['Key']}", MAX_EVALUATION_BYTES)
        except MediaError as error:
            return [], f"The evaluation manifest cannot be read: {error}"
        rows = []
        for line in text.decode("utf-8", errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                entry = parse_entry(line)
                detected = json.loads(line).get("anomaly-label-detected-metadata") or {}
            except ValueError:
                continue
            predicted = detected.get("class-name")
            confidence = detected.get("confidence")
            score = None
            if isinstance(confidence, (int, float)):
                score = confidence if predicted == "anomaly" else 1 - confidence
            rows.append(
                {
                    "entry": entry,
                    "predicted": predicted,
                    "confidence": confidence,
                    "score": score,
                    "right": predicted == entry.label,
                }
            )
        return rows, None

    async def start_model(self, request: Request) -> Response:
        name, version = request.path_params["project"], request.path_params["version"]
        form = await self.form(request)
        here = f"/projects/{quote(name, safe='')}/models/{quote(version, safe='')}"
        try:
            units = int(str(form.get("min_units", "1")))
            most = str(form.get("max_units", "")).strip()
            extra = {"MaxInferenceUnits": int(most)} if most else {}
        except ValueError:
            return self.back(request, here, problem="Inference units must be whole numbers")
        try:
            await self.call(
                "StartModel", ProjectName=name, ModelVersion=version, MinInferenceUnits=units, **extra
            )
        except ServiceError as error:
            return self.back(request, here, problem=self.said(error))
        return self.back(request, here, notice="Hosting is starting")

    async def stop_model(self, request: Request) -> Response:
        name, version = request.path_params["project"], request.path_params["version"]
        here = f"/projects/{quote(name, safe='')}/models/{quote(version, safe='')}"
        try:
            await self.call("StopModel", ProjectName=name, ModelVersion=version)
        except ServiceError as error:
            return self.back(request, here, problem=self.said(error))
        return self.back(request, here, notice="Hosting is stopping")

    async def try_image(self, request: Request) -> Response:
        name, version = request.path_params["project"], request.path_params["version"]
        try:
            model = await self.describe_model(name, version)
        except ServiceError as error:
            return self.failure(request, error)
        values: dict[str, Any] = {"project": name, "model": model, "result": None}
        if request.method == "POST":
            try:
                values.update(await self._detect(request, name, version))
            except (ServiceError, MediaError) as error:
                values["problem_now"] = self.said(error)
        return self.page(request, "try.html", status=400 if values.get("problem_now") else 200, **values)

    async def _detect(self, request: Request, name: str, version: str) -> dict[str, Any]:
        form = await self.form(request)
        upload = form.get("image")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise MediaError("Choose a PNG or JPEG image first")
        content = await upload.read()
        # The content type comes from the bytes, as a careful client's would; the API judges the rest.
        try:
            content_type = image_type(content)
        except MediaError:
            content_type = upload.content_type or "application/octet-stream"
        answer = await self.call(
            "DetectAnomalies", ProjectName=name, ModelVersion=version, Body=content, ContentType=content_type
        )
        result = answer["DetectAnomalyResult"]
        mask = result.get("AnomalyMask")
        anomalies = result.get("Anomalies") or []
        background = {
            item["PixelAnomaly"]["Color"].upper() for item in anomalies[:1] if item.get("PixelAnomaly")
        }
        shown = dict(result)
        if mask:
            shown["AnomalyMask"] = base64.b64encode(mask).decode()
        return {
            "result": result,
            "filename": upload.filename,
            "image_url": f"data:{content_type};base64,{base64.b64encode(content).decode()}",
            "mask_url": f"data:image/png;base64,{base64.b64encode(overlay(mask, background)).decode()}"
            if mask
            else None,
            "anomalies": anomalies,
            "raw": json.dumps({"DetectAnomalyResult": _abbreviated(shown)}, indent=2),
        }


def _abbreviated(result: dict[str, Any]) -> dict[str, Any]:
    mask = result.get("AnomalyMask")
    if isinstance(mask, str) and len(mask) > 120:
        return {**result, "AnomalyMask": f"{mask[:120]}... ({len(mask)} base64 characters)"}
    return result


def _thumbnail(content: bytes, sharp: bool) -> bytes:
    """A smaller PNG for the grid; masks keep their exact colours (no blending between classes)."""
    with Image.open(io.BytesIO(content)) as image:
        method = Image.Resampling.NEAREST if sharp else Image.Resampling.LANCZOS
        image.thumbnail((THUMB_SIDE, THUMB_SIDE), method)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def build(calls: Calls, media: Media) -> ASGIApp:
    console = Console(calls, media)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        status = exc.status_code
        return console.page(
            request, "error.html", status=status, code=f"HTTP {status}", message=str(exc.detail)
        )

    async def unreadable(request: Request, exc: Exception) -> Response:
        return console.page(request, "error.html", status=400, code="BadRequest", message=str(exc))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("console page %s failed", request.url.path, exc_info=exc)
        return console.page(
            request,
            "error.html",
            status=500,
            code="InternalError",
            message="The console failed to show this page; the server log has the details",
        )

    project = "/projects/{project}"
    routes = [
        Route("/", console.projects),
        Route("/projects", console.create_project, methods=["POST"]),
        Route(f"{project}", console.project),
        Route(f"{project}/delete", console.delete_project, methods=["POST"]),
        Route(f"{project}/media", console.media_file),
        Route(f"{project}/datasets", console.create_dataset, methods=["POST"]),
        Route(f"{project}/folders", console.import_folder, methods=["POST"]),
        Route(f"{project}/datasets/{{dataset}}", console.dataset),
        Route(f"{project}/datasets/{{dataset}}/delete", console.delete_dataset, methods=["POST"]),
        Route(f"{project}/datasets/{{dataset}}/upload", console.upload, methods=["POST"]),
        Route(f"{project}/datasets/{{dataset}}/label", console.label, methods=["POST"]),
        Route(f"{project}/models", console.create_model, methods=["POST"]),
        Route(f"{project}/models/{{version}}", console.model),
        Route(f"{project}/models/{{version}}/start", console.start_model, methods=["POST"]),
        Route(f"{project}/models/{{version}}/stop", console.stop_model, methods=["POST"]),
        Route(f"{project}/models/{{version}}/try", console.try_image, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return SameOrigin(
        Starlette(
            routes=routes,
            exception_handlers={HTTPException: not_found, MediaError: unreadable, Exception: unexpected},
        )
    )


class SameOrigin:
    """The console's forms change state with simple-type posts, which any web page could send cross-site:
    a post must carry the Origin header of this very page (browsers always send it on a POST)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD"):
            headers = {
                key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]
            }
            origin, host = headers.get("origin", ""), headers.get("host", "")
            if not host or urlsplit(origin).netloc != host:
                html = (
                    f"<!doctype html><title>Refused</title><p>A console form must come from this console "
                    f"(Origin {escape(origin[:200]) or 'missing'}, host {escape(host[:200])}).</p>"
                )
                await HTMLResponse(html, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
