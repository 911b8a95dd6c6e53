"""Model packaging jobs: CREATED -> RUNNING -> SUCCEEDED | FAILED.

A job writes a Greengrass-style component to its S3 output location: the model bundle (model.onnx,
model.json) and recipe.json, under <Prefix><ComponentName>/<ComponentVersion>/. L4V registered the
component with Greengrass; the emulator has no Greengrass, so a component version counts as taken once
a job of this account and region has produced it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from server.backend import statuses
from server.backend.arns import component_arn, model_arn
from server.backend.models import Models
from server.backend.scope import Scope
from server.backend.timing import Settle, Timing
from server.inference.bundle import DESCRIPTION_FILE, MODEL_FILE
from server.s3.client import S3
from server.spec import jsontext
from server.spec.errors import MODEL, MODEL_PACKAGE_JOB, conflict, not_found, validation_error
from server.store.packaging import JobRecord, JobTable

CREATED, RUNNING, SUCCEEDED, FAILED = "CREATED", "RUNNING", "SUCCEEDED", "FAILED"
METHOD = "Greengrass"
RECIPE_FILE = "recipe.json"
_NOT_PACKAGEABLE = (statuses.TRAINING, statuses.TRAINING_FAILED, statuses.DELETING)
_ARCHITECTURES = {"ARM64": "aarch64", "X86_64": "amd64"}
_NVIDIA_OPTIONS = ("gpu-code", "trt-ver", "cuda-ver")


class Packaging:
    def __init__(
        self, table: JobTable, models: Models, timing: Timing, s3: S3, clock: Callable[[], float] = time.time
    ) -> None:
        self.table = table
        self.models = models
        self.timing = timing
        self.s3 = s3
        self.clock = clock

    def start(
        self,
        scope: Scope,
        project: str,
        model_version: str,
        greengrass: dict[str, Any] | None,
        job_name: str | None = None,
        description: str | None = None,
    ) -> str:
        """`greengrass` is the API's GreengrassConfiguration document: kept as given, and echoed back by
        DescribeModelPackagingJob with the component version it defaulted to."""
        if greengrass is None:
            raise validation_error("Configuration must name a Greengrass configuration")
        _check_target(greengrass)
        model = self.models.get(scope, project, model_version)
        if model.status in _NOT_PACKAGEABLE:
            raise conflict(
                MODEL, model_version, f"Model version {model.key.version} is {model.status}: only a "
                "successfully trained model can be packaged",
            )  # fmt: skip
        version = str(model.key.version)
        job_name = job_name or str(uuid.uuid4())
        used = {**greengrass, "ComponentVersion": greengrass.get("ComponentVersion") or f"{version}.0.0"}
        now = round(self.clock(), 3)
        record = JobRecord(
            account=scope.account,
            region=scope.region,
            project=project,
            job_name=job_name,
            model_version=model.key.version,
            method=METHOD,
            status=CREATED,
            created=now,
            updated=now,
            configuration={"Greengrass": used},
            description=description,
            status_message="The packaging job was created.",
        )
        if not self.table.insert(record):
            raise conflict(
                MODEL_PACKAGE_JOB, job_name, f"Project {project} already has a packaging job {job_name}"
            )
        self.timing.launch(
            "packaging",
            lambda settle: self._run(record, settle),
            lease=(record.account, record.region, record.project, record.job_name),
        )
        return job_name

    def get(self, scope: Scope, project: str, job_name: str) -> JobRecord:
        self.models.projects.get(scope, project)
        record = self.table.get(scope.account, scope.region, project, job_name)
        if record is None:
            raise not_found(
                MODEL_PACKAGE_JOB, job_name, f"Packaging job {job_name} does not exist in {project}"
            )
        return record

    def list_after(self, scope: Scope, project: str, after: int | None, limit: int) -> list[JobRecord]:
        self.models.projects.get(scope, project)
        return self.table.list_after(scope.account, scope.region, project, after, limit)

    def recover(self) -> None:
        """A job that was running when the server stopped failed; the client starts it again."""
        for record in self.table.with_status((CREATED, RUNNING)):
            self.table.update(
                record, FAILED, round(self.clock(), 3), "The server restarted while the job ran."
            )

    def lost(self, key: tuple[str, str, str, str], why: str) -> None:
        """The replica running this job is gone: the job fails; the client starts it again."""
        record = self.table.get(*key)
        if record is not None and record.status in (CREATED, RUNNING):
            self.table.update(record, FAILED, round(self.clock(), 3), f"{why} while the job ran.")

    def in_progress(self) -> set[tuple[str, str, str, str]]:
        return {
            (record.account, record.region, record.project, record.job_name)
            for record in self.table.with_status((CREATED, RUNNING))
        }

    def _run(self, record: JobRecord, settle: Settle) -> None:
        self.table.update(record, RUNNING, round(self.clock(), 3), "The model is being packaged.")
        greengrass = record.configuration["Greengrass"]
        name, version = greengrass["ComponentName"], greengrass["ComponentVersion"]
        try:
            if self.table.component_taken(
                record.account, record.region, name, version, besides=record.job_name
            ):
                raise RuntimeError(f"component {name} version {version} already exists")
            self._write_component(record, greengrass)
        except Exception as error:  # every failure ends the job, with its reason
            settle()
            self.table.update(record, FAILED, round(self.clock(), 3), f"Packaging failed: {error}"[:1000])
            return
        settle()
        arn = component_arn(Scope(record.account, record.region), name, version)
        output = {
            "Greengrass": {"ComponentVersionArn": arn, "ComponentName": name, "ComponentVersion": version}
        }
        self.table.update(record, SUCCEEDED, round(self.clock(), 3), "The model was packaged.", output)

    def _write_component(self, record: JobRecord, greengrass: dict[str, Any]) -> None:
        scope = Scope(record.account, record.region)
        model = self.models.get(scope, record.project, str(record.model_version))
        folder = self.models.files.folder(model.key)
        location = greengrass["S3OutputLocation"]
        bucket = location["Bucket"]
        prefix = location.get("Prefix") or ""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        base = f"{prefix}{greengrass['ComponentName']}/{greengrass['ComponentVersion']}/"
        uris = []
        for name, kind in ((MODEL_FILE, "application/octet-stream"), (DESCRIPTION_FILE, "application/json")):
            self.s3.put(record.region, bucket, base + name, (folder / name).read_bytes(), kind)
            uris.append(f"s3://{bucket}/{base}{name}")
        recipe = _recipe(
            record, greengrass, model_arn(scope, record.project, str(record.model_version)), uris
        )
        self.s3.put(
            record.region,
            bucket,
            base + RECIPE_FILE,
            json.dumps(recipe, indent=2).encode(),
            "application/json",
        )


def _check_target(greengrass: dict[str, Any]) -> None:
    device, platform = greengrass.get("TargetDevice"), greengrass.get("TargetPlatform")
    options = greengrass.get("CompilerOptions")
    if (device is None) == (platform is None):
        raise validation_error("Give exactly one of TargetDevice and TargetPlatform")
    if device is not None:
        if options is not None:
            raise validation_error("CompilerOptions go with TargetPlatform, not with TargetDevice")
        return
    parsed: Any = {}
    if options is not None:
        try:
            parsed = jsontext.loads(options)
        except ValueError:  # jsontext.JsonError (too deep) included
            raise validation_error(f"CompilerOptions must be a JSON object, not {options!r}") from None
        if not isinstance(parsed, dict):
            raise validation_error(f"CompilerOptions must be a JSON object, not {options!r}")
    if platform is not None and platform.get("Accelerator") == "NVIDIA":
        missing = [key for key in _NVIDIA_OPTIONS if key not in parsed]
        if missing:
            raise validation_error(
                f"An NVIDIA TargetPlatform needs CompilerOptions with {', '.join(_NVIDIA_OPTIONS)}; "
                f"missing: {', '.join(missing)}"
            )
    elif set(parsed) - {"mcpu", "mattr"}:
        raise validation_error(f"CPU CompilerOptions take mcpu and mattr only, not {sorted(set(parsed))}")


def _recipe(record: JobRecord, greengrass: dict[str, Any], arn: str, uris: list[str]) -> dict[str, Any]:
    platform = greengrass.get("TargetPlatform") or {}
    architecture = "aarch64" if greengrass.get("TargetDevice") else _ARCHITECTURES[platform["Arch"]]
    return {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": greengrass["ComponentName"],
        "ComponentVersion": greengrass["ComponentVersion"],
        "ComponentDescription": greengrass.get("ComponentDescription")
        or f"Lookout for Vision model {record.project}/{record.model_version}",
        "ComponentPublisher": "lookoutvision-emulator",
        "ComponentDependencies": {
            "aws.iot.lookoutvision.EdgeAgent": {"VersionRequirement": ">=1.0.0", "DependencyType": "HARD"}
        },
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                "ModelArn": arn,
                "ProjectName": record.project,
                "ModelVersion": str(record.model_version),
                "TargetDevice": greengrass.get("TargetDevice"),
                "TargetPlatform": platform or None,
                "CompilerOptions": greengrass.get("CompilerOptions"),
            }
        },
        "Manifests": [
            {
                "Platform": {"os": "linux", "architecture": architecture},
                "Artifacts": [{"Uri": uri, "Unarchive": "NONE"} for uri in uris],
                "Lifecycle": {},
            }
        ],
        "Tags": {tag["Key"]: tag["Value"] for tag in greengrass.get("Tags", [])},
    }
