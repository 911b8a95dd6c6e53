"""Where the agent's models come from: Greengrass-style component folders (what StartModelPackagingJob
writes, on disk or in S3), the shipped demo bundles, or the server's own models (`serve --edge`).

A component is a model bundle (model.onnx + model.json) named by its component name. On a Greengrass
core one version of a component is deployed at a time: with several versions in a folder the highest
wins.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from server.backend.packaging import RECIPE_FILE  # the component layout our packaging jobs write
from server.inference.bundle import DESCRIPTION_FILE, MODEL_FILE

if TYPE_CHECKING:
    from server.backend.assembly import Backend
    from server.backend.scope import Scope

log = logging.getLogger(__name__)

# Greengrass component names: letters, digits and . _ - + (AWS allows up to 128 characters).
COMPONENT_NAME = re.compile(r"[A-Za-z0-9._+:-]{1,128}")
_MAX_DEPTH = 4  # how deep below --models a component folder may sit


@dataclass(frozen=True)
class Component:
    name: str
    folder: Path  # holds model.onnx and model.json
    model_arn: str = ""
    version: str = ""


Catalog = Callable[[], list[Component]]  # called on every ListModels, so new models show up


def folder_catalog(root: Path) -> Catalog:
    """Components below `root`, read again on every call (a new component folder shows up at once)."""

    def catalog() -> list[Component]:
        return read_folder(root)

    return catalog


def read_folder(root: Path) -> list[Component]:
    """Every folder below `root` with a bundle: named by its recipe's ComponentName, or by the folder's
    own name when there is no recipe (a plain bundle folder)."""
    found: dict[str, Component] = {}
    for folder in _bundle_folders(root, 0):
        component = _component(folder)
        if component is None:
            continue
        current = found.get(component.name)
        if current is None or _version_key(component.version) > _version_key(current.version):
            found[component.name] = component
    return sorted(found.values(), key=lambda item: item.name)


def _bundle_folders(folder: Path, depth: int) -> Iterator[Path]:
    if (folder / MODEL_FILE).is_file() and (folder / DESCRIPTION_FILE).is_file():
        yield folder
        return
    if depth >= _MAX_DEPTH:
        return
    try:
        children = sorted(child for child in folder.iterdir() if child.is_dir())
    except OSError:
        return
    for child in children:
        yield from _bundle_folders(child, depth + 1)


def _component(folder: Path) -> Component | None:
    recipe_path = folder / RECIPE_FILE
    if not recipe_path.is_file():
        if COMPONENT_NAME.fullmatch(folder.name):
            return Component(folder.name, folder.resolve())
        return None
    try:
        recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
        name = str(recipe["ComponentName"])
        version = str(recipe.get("ComponentVersion", ""))
        configuration = recipe.get("ComponentConfiguration", {}).get("DefaultConfiguration", {})
        arn = str(configuration.get("ModelArn") or "")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("skipping %s: its %s is unreadable: %s", folder, RECIPE_FILE, error)
        return None
    if not COMPONENT_NAME.fullmatch(name):
        log.warning("skipping %s: %r is not a component name", folder, name)
        return None
    return Component(name, folder.resolve(), arn, version)


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    """1.10.0 after 1.9.0: numeric parts compare as numbers."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[.-]", version))


def download_s3(url: str, s3_client: object, into: Path) -> Path:
    """Copy every object below s3://bucket/prefix into `into` (same relative paths) and return it."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{url} names no bucket: expected s3://BUCKET/PREFIX")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    paginator = s3_client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    count = 0
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            target = (into / relative).resolve()
            if relative.endswith("/") or not target.is_relative_to(into.resolve()):
                continue  # folder markers, and keys that would escape the folder (..)
            target.parent.mkdir(parents=True, exist_ok=True)
            s3_client.download_file(bucket, item["Key"], str(target))  # type: ignore[attr-defined]
            count += 1
    if count == 0:
        raise ValueError(f"nothing found under {url}")
    return into


def s3_catalog(url: str, s3_client: object) -> tuple[Catalog, tempfile.TemporaryDirectory]:
    """The components under an S3 URL, downloaded once at start-up into a scratch folder (kept until the
    returned TemporaryDirectory is cleaned up)."""
    scratch = tempfile.TemporaryDirectory(prefix="lookoutvision-edge-")
    download_s3(url, s3_client, Path(scratch.name))
    return folder_catalog(Path(scratch.name)), scratch


def server_component_name(project: str, version: int | str) -> str:
    """The name a server model goes by at the edge: project `demo` version 1 is `demo-1`."""
    return f"{project}-{version}"


def demo_catalog(folder: Path, scope: Scope) -> Catalog:
    """`edge serve --demo`: the shipped demo bundles under the names (and model ARNs) that
    `serve --demo --edge` gives them."""
    from server.backend.arns import model_arn
    from server.demo import BUNDLES, PROJECT

    components = [
        Component(
            server_component_name(PROJECT, number),
            (folder / name).resolve(),
            model_arn(scope, PROJECT, str(number)),
            f"{number}.0.0",
        )
        for number, name in enumerate(BUNDLES, start=1)
    ]
    return lambda: list(components)


def backend_catalog(backend: Backend, scope: Scope) -> Catalog:
    """`serve --edge`: every model of the server's default account and region that has a bundle (trained,
    imported or demo, hosted in the cloud API or not), as `<project>-<version>`; and the components its
    packaging jobs produced, by their ComponentName (the highest ComponentVersion)."""
    from server.backend import statuses
    from server.backend.arns import model_arn

    without_bundle = (statuses.TRAINING, statuses.TRAINING_FAILED, statuses.DELETING)

    def catalog() -> list[Component]:
        components = []
        after: str | None = None
        while True:
            projects = backend.projects.list_after(scope, after, 100)
            for project in projects:
                version_after: int | None = None
                while True:
                    records = backend.models.table.list_after(
                        scope.account, scope.region, project.name, version_after, 100
                    )
                    for record in records:
                        if record.status in without_bundle:
                            continue
                        version = str(record.key.version)
                        components.append(
                            Component(
                                server_component_name(project.name, version),
                                backend.files.folder(record.key),
                                model_arn(scope, project.name, version),
                                f"{version}.0.0",
                            )
                        )
                    if len(records) < 100:
                        break
                    version_after = records[-1].key.version
            if len(projects) < 100:
                break
            after = projects[-1].name
        return components + packaged(components)

    def packaged(models: list[Component]) -> list[Component]:
        """Components that packaging jobs produced, by their ComponentName, running the job's model."""
        from server.backend.packaging import SUCCEEDED

        folders = {component.model_arn: component.folder for component in models}
        found: dict[str, Component] = {}
        for job in backend.packaging.table.with_status((SUCCEEDED,)):
            if (job.account, job.region) != (scope.account, scope.region):
                continue
            greengrass = job.configuration.get("Greengrass", {})
            name, version = (
                str(greengrass.get("ComponentName", "")),
                str(greengrass.get("ComponentVersion", "")),
            )
            arn = model_arn(scope, job.project, str(job.model_version))
            if arn not in folders or not COMPONENT_NAME.fullmatch(name):
                continue  # its model was deleted since
            current = found.get(name)
            if current is None or _version_key(version) > _version_key(current.version):
                found[name] = Component(name, folders[arn], arn, version)
        return sorted(found.values(), key=lambda item: item.name)

    return catalog
