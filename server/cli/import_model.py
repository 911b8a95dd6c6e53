"""`lookoutvision-emulator import-model`: into a data directory, or uploaded to a running server."""

from __future__ import annotations

import argparse
import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from server.backend.model_imports import ImportOptions, find_bundle_files, import_model
from server.backend.scope import Scope
from server.inference.bundle import BundleError, make_class
from server.settings import Settings
from server.spec.errors import ServiceError


def import_model_command(args: argparse.Namespace) -> int:
    try:
        files = _files(args)
        size = _image_size(args.image_size)
        make_class(args.class_name, args.class_color, "--class-")
        answer = _upload(args, files, size) if args.url else _write(args, files, size)
    except (BundleError, ValueError, OSError, ServiceError) as error:
        message = error.message if isinstance(error, ServiceError) else str(error)
        print(f"lookoutvision-emulator import-model: {message}", file=sys.stderr)
        return 1
    print(
        f"imported {answer['Source']} {answer['Task']} model as version {answer['ModelVersion']} "
        f"of project {answer['ProjectName']} ({answer['ModelArn']}); StartModel hosts it"
    )
    return 0


def _files(args: argparse.Namespace) -> tuple[Path, Path | None, Path | None]:
    if args.bundle:
        if args.metadata:
            raise ValueError("--metadata goes with --onnx; a bundle folder holds its own files")
        return find_bundle_files(Path(args.bundle))
    model = Path(args.onnx)
    if not model.is_file():
        raise ValueError(f"{model} is not a file")
    metadata = Path(args.metadata) if args.metadata else None
    if metadata is not None and not metadata.is_file():
        raise ValueError(f"{metadata} is not a file")
    return model, None, metadata


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--image-size must look like 550x380, not {text!r}") from None
    return width, height


def _write(
    args: argparse.Namespace, files: tuple[Path, Path | None, Path | None], size: tuple[int, int] | None
) -> dict[str, str]:
    from server.backend.arns import model_arn
    from server.emulator import open_backend
    from server.store.database import Database

    settings = Settings.load(data_dir=args.data_dir, region=args.region, account=args.account)
    if settings.storage_dir is None:
        raise ValueError("an in-memory server keeps no data directory: import with --url instead")
    # Only the store and the files: nothing is hosted from this process.
    database = Database(settings.storage_dir, settings.database_url)
    try:
        scope = Scope(settings.account, settings.region)
        options = ImportOptions(
            image_size=size,
            anomaly_class=make_class(args.class_name, args.class_color),
            description=args.description,
        )
        model, own, metadata = files
        record, description = import_model(
            open_backend(settings, database, settings.files_dir or settings.storage_dir),
            scope,
            args.project,
            model,
            own,
            metadata,
            options,
        )
    finally:
        database.close()
    version = str(record.key.version)
    return {
        "ProjectName": args.project,
        "ModelVersion": version,
        "ModelArn": model_arn(scope, args.project, version),
        "Task": description.task,
        "Source": description.source,
    }


def _upload(args: argparse.Namespace, files: tuple, size: tuple[int, int] | None) -> dict[str, str]:
    model, own, metadata = files
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in (model, own, metadata):
            if path is not None:
                name = "model.onnx" if path is model else path.name
                bundle.write(path, name)
    query = {"className": args.class_name, "classColor": args.class_color}
    for key, value in (("description", args.description), ("region", args.region), ("account", args.account)):
        if value:
            query[key] = value
    if size:
        query.update(imageWidth=str(size[0]), imageHeight=str(size[1]))
    project = urllib.parse.quote(args.project, safe="")
    url = f"{args.url.rstrip('/')}/_emulator/projects/{project}/models?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(
        url, data=archive.getvalue(), method="POST", headers={"Content-Type": "application/zip"}
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            message = json.loads(body)["Message"]
        except (ValueError, KeyError, TypeError):
            message = body.decode("utf-8", errors="replace")
        raise ValueError(message) from None
