"""Import a model that was not trained here: a bundle, or an anomalib export, as the project's next version."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from server.backend.assembly import Backend
from server.backend.scope import Scope
from server.inference.anomalib_exports import DEFAULT_CLASS, describe_onnx, read_metadata
from server.inference.bundle import (
    DESCRIPTION_FILE,
    MODEL_FILE,
    AnomalyClass,
    BundleError,
    ModelDescription,
    check_against_graph,
    read_bundle,
)
from server.inference.graph import read_signature
from server.spec.errors import PROJECT, ServiceError
from server.store.models import ModelRecord

METADATA_FILE = "metadata.json"  # anomalib 1.x
_KNOWN_FILES = (MODEL_FILE, DESCRIPTION_FILE, METADATA_FILE)


@dataclass(frozen=True)
class ImportOptions:
    image_size: tuple[int, int] | None = None  # the size DetectAnomalies images must have
    anomaly_class: AnomalyClass = DEFAULT_CLASS  # for single-class (anomalib) segmentation
    description: str | None = None  # the model version's Description


def find_bundle_files(folder: Path) -> tuple[Path, Path | None, Path | None]:
    """(model.onnx, model.json or None, metadata.json or None) in a bundle folder or an anomalib export root."""
    for candidate in (folder, folder / "weights" / "onnx"):
        model = candidate / MODEL_FILE
        if model.is_file():
            own = candidate / DESCRIPTION_FILE
            metadata = next(
                (p for p in (candidate / METADATA_FILE, folder / METADATA_FILE) if p.is_file()), None
            )
            return model, own if own.is_file() else None, metadata
    raise BundleError(f"{folder}: no {MODEL_FILE} (looked in the folder and in weights/onnx/)")


def describe(
    model: Path, own: Path | None, metadata: Path | None, options: ImportOptions
) -> ModelDescription:
    signature = read_signature(model)
    if own is not None:
        description = read_bundle(own.parent) if own.parent == model.parent else None
        if description is None:
            raise BundleError(f"{DESCRIPTION_FILE} must sit beside {MODEL_FILE}")
        check_against_graph(description, signature.inputs, signature.outputs)
        return description
    return describe_onnx(
        signature,
        read_metadata(metadata) if metadata is not None else None,
        image_size=options.image_size,
        anomaly_class=options.anomaly_class,
    )


def import_model(
    backend: Backend,
    scope: Scope,
    project: str,
    model: Path,
    own: Path | None = None,
    metadata: Path | None = None,
    options: ImportOptions | None = None,
    create_project: bool = True,
) -> tuple[ModelRecord, ModelDescription]:
    options = options or ImportOptions()
    description = describe(model, own, metadata, options)
    if create_project:
        try:
            backend.projects.create(scope, project)
        except ServiceError as error:
            if error.fields.get("ResourceType") != PROJECT or error.code != "ConflictException":
                raise
    return backend.models.add(scope, project, model, description, options.description), description


def unpack_upload(archive: Path, folder: Path, max_bytes: int) -> None:
    """Take model.onnx, model.json and metadata.json from a zip, wherever they sit in it; nothing else is
    written, so names in the archive can never reach outside `folder`."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            entries: dict[str, zipfile.ZipInfo] = {}
            for info in bundle.infolist():
                name = Path(info.filename).name
                if info.is_dir() or name not in _KNOWN_FILES:
                    continue
                if name in entries:
                    raise BundleError(f"the archive holds more than one {name}")
                entries[name] = info
            if MODEL_FILE not in entries:
                raise BundleError(f"the archive holds no {MODEL_FILE}")
            if sum(info.file_size for info in entries.values()) > max_bytes:
                raise BundleError(f"the archive's files add up to more than {max_bytes} bytes")
            for name, info in entries.items():
                with bundle.open(info) as source, open(folder / name, "wb") as target:
                    written = 0
                    while chunk := source.read(1 << 20):
                        written += len(chunk)
                        if written > max_bytes:  # a header that lies about the size
                            raise BundleError(f"{name} is larger than {max_bytes} bytes")
                        target.write(chunk)
    except zipfile.BadZipFile as error:
        raise BundleError(f"the upload is not a valid zip archive: {error}") from None
