"""kill -9 in the middle of a random mix of writes, then the checks a restart must pass.

Shared by tests/store/test_recovery.py (a couple of rounds in CI) and bench/crash.py (many rounds).
A round starts the server on a fresh data directory, sends a seeded random sequence of writes from one
client while a timer kills the server at a random moment, restarts it on the same directory and checks:
every acknowledged write is there, nothing stays in a transitional state once recovery has settled,
and no staging or work file is left. The one call in flight when the kill landed may or may not have
taken effect, so the resources it touched are left out of the ledger's checks.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import botocore.exceptions
import httpx
from botocore.config import Config

from lookoutvision_emulator import EmulatorProcess, client
from server.store.database import DATABASE_FILE
from server.store.files import STAGING_PREFIX
from tests.support.live import quiet_s3_env
from tests.support.manifests import classification_line, part
from tests.support.onnx_models import zip_folder

# One attempt, and a read timeout long enough for a slow shared machine: a retry would blur which
# call was acknowledged.
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60)
MODEL_TRANSITIONAL = {"STARTING_HOSTING", "STOPPING_HOSTING", "TRAINING", "DELETING"}
DATASET_IN_PROGRESS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS"}
JOB_UNFINISHED = {"CREATED", "RUNNING"}
GREENGRASS = {
    "S3OutputLocation": {"Bucket": "out"},
    "TargetPlatform": {"Os": "LINUX", "Arch": "X86_64"},
}
TRAIN_SOURCE = {
    "GroundTruthManifest": {"S3Object": {"Bucket": "lookoutvision-local", "Key": "train.manifest"}}
}


def set_status(data_dir: Path, table: str, status: str) -> None:
    """What a kill leaves when it lands after a call committed `status`, before its work was done."""
    with sqlite3.connect(data_dir / DATABASE_FILE) as connection:
        assert connection.execute(f"UPDATE {table} SET status = ?", (status,)).rowcount >= 1


def leftovers(data_dir: Path) -> list[Path]:
    """Half-written files: bundle staging folders, blob staging files, training work folders."""
    found = list((data_dir / "models").glob(f"**/{STAGING_PREFIX}*"))
    found += list((data_dir / "blobs").glob("*/.*"))
    found += list((data_dir / "work").glob("*"))
    return found


def transitional_on_disk(data_dir: Path) -> int:
    """Models, datasets and packaging jobs the database holds in a transitional state (what a kill left)."""
    busy = sorted(MODEL_TRANSITIONAL | DATASET_IN_PROGRESS | JOB_UNFINISHED)
    marks = ",".join("?" * len(busy))
    with sqlite3.connect(data_dir / DATABASE_FILE) as connection:
        return sum(
            connection.execute(f"SELECT COUNT(*) FROM {table} WHERE status IN ({marks})", busy).fetchone()[0]
            for table in ("models", "datasets", "packaging_jobs")
        )


def dataset_root(folder: Path) -> Path:
    """Images and manifests that datasets read from disk (bucket `lookoutvision-local`): enough to train."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(30):
        label = "normal" if index < 20 else "anomaly"
        (folder / f"{index:02d}.png").write_bytes(part(64, 64, seed=index))
        lines.append(classification_line(f"{index:02d}.png", label))
    (folder / "train.manifest").write_text("\n".join(lines) + "\n")
    return folder


@dataclass
class Ledger:
    """The state that acknowledged writes promise, resource by resource."""

    projects: set[str] = field(default_factory=set)
    deleted_projects: set[str] = field(default_factory=set)
    models: dict[tuple[str, str], dict] = field(default_factory=dict)  # {"hosted": bool | None, "tags"}
    deleted_models: set[tuple[str, str]] = field(default_factory=set)
    datasets: set[tuple[str, str]] = field(default_factory=set)
    jobs: set[tuple[str, str]] = field(default_factory=set)
    acknowledged: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # acknowledged writes by kind
    uncertain: set[tuple] = field(default_factory=set)  # touched by the call the kill cut off

    def forget_project(self, project: str) -> None:
        self.projects.discard(project)
        self.deleted_projects.add(project)
        for table in (self.models, self.datasets, self.jobs):
            for key in [key for key in table if key[0] == project]:
                table.pop(key) if isinstance(table, dict) else table.discard(key)


class ServerGone(Exception):
    """The connection failed: the kill has landed."""


class Workload:
    """One client sending a seeded random mix of writes until the server dies."""

    def __init__(self, url: str, rng: random.Random, bundle: Path) -> None:
        self.lfv = client(url, config=ONE_ATTEMPT)
        self.http = httpx.Client(base_url=url, timeout=60)
        self.rng = rng
        self.bundle = bundle
        self.ledger = Ledger()
        self.rejected = 0
        self.server_errors: list[str] = []
        self.in_flight = ""
        self._names = 0
        self._trainings = 0
        self.kind = ""

    def run(self) -> None:
        try:
            while True:
                self.step()
        except ServerGone:
            pass
        finally:
            self.http.close()

    def step(self) -> None:
        ledger, rng = self.ledger, self.rng
        projects = sorted(ledger.projects)
        models = sorted(ledger.models)
        choices = [self.create_project] * (4 if len(projects) < 3 else 1)
        if projects:
            choices += [self.import_model] * 3 + [self.create_dataset] * 2 + [self.delete_project]
            choices += [self.update_dataset] if ledger.datasets else []
            trainable = [key for key in ledger.datasets if key[1] == "train"]
            choices += [self.create_model] if trainable and self._trainings < 1 else []
        if models:
            choices += [self.start_model] * 3 + [self.stop_model] * 2 + [self.delete_model] * 2
            choices += [self.tag_model] * 2 + [self.untag_model] + [self.package_model]
        write = rng.choice(choices)
        self.kind = write.__name__
        write()

    def call(self, touches: tuple, send) -> dict | None:
        """The answer of an acknowledged write; None when it was refused (a 4xx has no effect)."""
        self.in_flight = repr(touches)
        self.ledger.uncertain = {touches}
        try:
            answer = send()
        except botocore.exceptions.ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            if status >= 500:
                self.server_errors.append(f"{touches}: {status} {error}")
            answer = None
        except (botocore.exceptions.HTTPClientError, httpx.TransportError) as error:
            raise ServerGone from error
        self.ledger.uncertain = set()
        if answer is None:
            self.rejected += 1
            return None
        self.ledger.acknowledged += 1
        self.ledger.kinds[self.kind] += 1
        return answer

    def fresh_name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def pick_model(self) -> tuple[str, str]:
        return self.rng.choice(sorted(self.ledger.models))

    # The writes

    def create_project(self) -> None:
        name = self.fresh_name("p")
        if self.call(("project", name), lambda: self.lfv.create_project(ProjectName=name)) is not None:
            self.ledger.projects.add(name)

    def delete_project(self) -> None:
        name = self.rng.choice(sorted(self.ledger.projects))
        if self.call(("project", name), lambda: self.lfv.delete_project(ProjectName=name)) is not None:
            self.ledger.forget_project(name)

    def import_model(self) -> None:
        project = self.rng.choice(sorted(self.ledger.projects))

        def send() -> dict | None:
            response = self.http.post(
                f"/_emulator/projects/{project}/models",
                content=_zipped(self.bundle),
                headers={"Content-Type": "application/zip"},
            )
            if response.status_code >= 500:
                self.server_errors.append(f"import into {project}: {response.status_code} {response.text}")
            return response.json() if response.status_code == 200 else None

        answer = self.call(("project", project), send)
        if answer is not None:
            self.ledger.projects.add(project)  # (made again if a deletion raced it)
            self.ledger.models[(project, answer["ModelVersion"])] = {"hosted": False, "tags": {}}

    def create_dataset(self) -> None:
        project = self.rng.choice(sorted(self.ledger.projects))
        kind = self.rng.choice(["train", "test"])
        source = {"DatasetSource": TRAIN_SOURCE} if kind == "train" else {}
        send = lambda: self.lfv.create_dataset(ProjectName=project, DatasetType=kind, **source)  # noqa: E731
        if self.call(("dataset", project, kind), send) is not None:
            self.ledger.datasets.add((project, kind))

    def update_dataset(self) -> None:
        project, kind = self.rng.choice(sorted(self.ledger.datasets))
        index = self.rng.randrange(30)
        changes = classification_line(f"{index:02d}.png", self.rng.choice(["normal", "anomaly"])).encode()
        send = lambda: self.lfv.update_dataset_entries(ProjectName=project, DatasetType=kind, Changes=changes)  # noqa: E731
        self.call(("dataset", project, kind), send)

    def create_model(self) -> None:
        project = self.rng.choice(sorted(key[0] for key in self.ledger.datasets if key[1] == "train"))
        output = {"S3Location": {"Bucket": "out", "Prefix": "models/"}}
        answer = self.call(
            ("project", project), lambda: self.lfv.create_model(ProjectName=project, OutputConfig=output)
        )
        if answer is not None:
            self._trainings += 1
            version = answer["ModelMetadata"]["ModelVersion"]
            self.ledger.models[(project, version)] = {"hosted": None, "tags": {}}  # trains, or fails

    def start_model(self) -> None:
        project, version = self.pick_model()
        send = lambda: self.lfv.start_model(ProjectName=project, ModelVersion=version, MinInferenceUnits=1)  # noqa: E731
        if self.call(("model", project, version), send) is not None:
            self.ledger.models[(project, version)]["hosted"] = True

    def stop_model(self) -> None:
        project, version = self.pick_model()
        send = lambda: self.lfv.stop_model(ProjectName=project, ModelVersion=version)  # noqa: E731
        if self.call(("model", project, version), send) is not None:
            self.ledger.models[(project, version)]["hosted"] = False

    def delete_model(self) -> None:
        project, version = self.pick_model()
        send = lambda: self.lfv.delete_model(ProjectName=project, ModelVersion=version)  # noqa: E731
        if self.call(("model", project, version), send) is not None:
            self.ledger.models.pop((project, version))
            self.ledger.deleted_models.add((project, version))

    def tag_model(self) -> None:
        project, version = self.pick_model()
        key, value = self.rng.choice("abc"), self.fresh_name("v")
        arn = f"arn:aws:lookoutvision:us-east-1:123456789012:model/{project}/{version}"
        send = lambda: self.lfv.tag_resource(ResourceArn=arn, Tags=[{"Key": key, "Value": value}])  # noqa: E731
        if self.call(("model", project, version), send) is not None:
            self.ledger.models[(project, version)]["tags"][key] = value

    def untag_model(self) -> None:
        project, version = self.pick_model()
        key = self.rng.choice("abc")
        arn = f"arn:aws:lookoutvision:us-east-1:123456789012:model/{project}/{version}"
        send = lambda: self.lfv.untag_resource(ResourceArn=arn, TagKeys=[key])  # noqa: E731
        if self.call(("model", project, version), send) is not None:
            self.ledger.models[(project, version)]["tags"].pop(key, None)

    def package_model(self) -> None:
        project, version = self.pick_model()
        job = self.fresh_name("job")
        config = {"Greengrass": {**GREENGRASS, "ComponentName": f"com.example.{job}"}}
        send = lambda: self.lfv.start_model_packaging_job(  # noqa: E731
            ProjectName=project, ModelVersion=version, JobName=job, Configuration=config
        )
        if self.call(("job", project, job), send) is not None:
            self.ledger.jobs.add((project, job))


_ZIPS: dict[Path, bytes] = {}


def _zipped(bundle: Path) -> bytes:
    if bundle not in _ZIPS:
        _ZIPS[bundle] = zip_folder(bundle)
    return _ZIPS[bundle]


@dataclass
class RoundResult:
    seed: int
    acknowledged: int
    rejected: int
    checked: int
    in_flight: str
    killed_after: float
    failures: list[str]
    kinds: Counter[str]
    transitional_at_kill: int


def crash_round(
    folder: Path, seed: int, bundle: Path, images: Path, settle_timeout: float = 120
) -> RoundResult:
    """One round in a fresh `folder`: writes, kill -9 at a random moment, restart, check."""
    rng = random.Random(seed)
    data = folder / "data"
    env = {**quiet_s3_env(), "LOOKOUTVISION_EMULATOR_DATASET_ROOT": str(images)}
    for name in ("HOSTING", "STOPPING", "TRAINING", "DATASET_IMPORT", "PACKAGING"):
        env[f"LOOKOUTVISION_EMULATOR_DELAY_{name}"] = f"{rng.uniform(0, 1):.2f}"  # transitions stay open
    killed_after = rng.uniform(0.2, 3.0)
    with EmulatorProcess(data, env=env) as first:
        workload = Workload(first.url, rng, bundle)
        timer = threading.Timer(killed_after, first.stop, kwargs={"kill": True})
        timer.start()
        workload.run()
        timer.join()
    failures = list(workload.server_errors)
    transitional = transitional_on_disk(data)
    with EmulatorProcess(data, env=env) as second:
        checked = check_recovered(
            client(second.url, config=ONE_ATTEMPT), workload.ledger, failures, settle_timeout
        )
        failures += [f"left over after start-up: {path.relative_to(data)}" for path in leftovers(data)]
    return RoundResult(seed, workload.ledger.acknowledged, workload.rejected, checked, workload.in_flight,
                       killed_after, failures, workload.ledger.kinds, transitional)  # fmt: skip


def check_recovered(lfv, ledger: Ledger, failures: list[str], settle_timeout: float) -> int:
    """Wait for recovery to settle, then check the ledger; returns how many promises were checked."""
    deadline = time.monotonic() + settle_timeout
    while True:
        state = _everything(lfv)
        unsettled = [f"{what} is {status}" for what, status in state["statuses"].items()
                     if status in MODEL_TRANSITIONAL | DATASET_IN_PROGRESS | JOB_UNFINISHED]  # fmt: skip
        if not unsettled:
            break
        if time.monotonic() > deadline:
            failures += [f"{line} {settle_timeout:g} s after the restart" for line in unsettled]
            break
        time.sleep(0.1)
    checked = 0

    def expect(ok: bool, message: str) -> None:
        nonlocal checked
        checked += 1
        if not ok:
            failures.append(message)

    skip = ledger.uncertain
    for project in ledger.projects:
        if ("project", project) not in skip:
            expect(project in state["projects"], f"acknowledged project {project} is missing")
    for project in ledger.deleted_projects:
        if ("project", project) not in skip:
            expect(project not in state["projects"], f"deleted project {project} is back")
    for (project, version), promise in ledger.models.items():
        if ("model", project, version) in skip or ("project", project) in skip:
            continue
        status = state["statuses"].get(f"model {project}/{version}")
        expect(status is not None, f"acknowledged model {project}/{version} is missing")
        if status is None:
            continue
        if promise["hosted"] is not None:
            wanted = "HOSTED" if promise["hosted"] else "TRAINED"
            expect(
                status == wanted,
                f"model {project}/{version} is {status}, acknowledged calls left it {wanted}",
            )
        tags = state["tags"].get((project, version), {})
        expect(
            promise["tags"].items() <= tags.items(),
            f"model {project}/{version} tags {tags} lack {promise['tags']}",
        )
    for project, version in ledger.deleted_models:
        if ("model", project, version) not in skip:
            expect(
                f"model {project}/{version}" not in state["statuses"],
                f"deleted model {project}/{version} is back",
            )
    for project, kind in ledger.datasets:
        if ("project", project) not in skip:
            expect(
                f"dataset {project}/{kind}" in state["statuses"],
                f"acknowledged dataset {project}/{kind} is missing",
            )
    for project, job in ledger.jobs:
        if ("project", project) not in skip:
            expect(
                f"job {project}/{job}" in state["statuses"],
                f"acknowledged packaging job {project}/{job} is missing",
            )
    return checked


def _everything(lfv) -> dict:
    """Every project, and the status of its models, datasets and packaging jobs, and the model tags."""
    statuses: dict[str, str] = {}
    tags: dict[tuple[str, str], dict[str, str]] = {}
    projects = [p["ProjectName"] for p in lfv.list_projects()["Projects"]]
    for project in projects:
        description = lfv.describe_project(ProjectName=project)["ProjectDescription"]
        for dataset in description["Datasets"]:
            statuses[f"dataset {project}/{dataset['DatasetType']}"] = dataset["Status"]
        for model in lfv.list_models(ProjectName=project)["Models"]:
            statuses[f"model {project}/{model['ModelVersion']}"] = model["Status"]
            listed = lfv.list_tags_for_resource(ResourceArn=model["ModelArn"])["Tags"]
            tags[(project, model["ModelVersion"])] = {tag["Key"]: tag["Value"] for tag in listed}
        for job in lfv.list_model_packaging_jobs(ProjectName=project)["ModelPackagingJobs"]:
            statuses[f"job {project}/{job['JobName']}"] = job["Status"]
    return {"projects": set(projects), "statuses": statuses, "tags": tags}
