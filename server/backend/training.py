"""CreateModel: TRAINING -> TRAINED | TRAINING_FAILED, with the trainer in a separate process.

The process sends its phases back (they become the StatusMessage and one log line each) and finally the
result; if it dies or runs past the time limit the model fails with that reason, and the server lives on.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server.backend.arns import model_arn
from server.backend.datasets import BUSY, USABLE
from server.backend.lifecycle import Evaluation, OutputLocation
from server.backend.models import MAX_TAGS_PER_MODEL, Models
from server.backend.scope import Scope
from server.backend.timing import Settle, Timing
from server.datasets.manifest import parse_line
from server.inference.bundle import DESCRIPTION_FILE, MODEL_FILE, bundle_contents
from server.s3.client import S3
from server.spec.errors import (
    DATASET,
    PROJECT,
    conflict,
    not_found,
    quota_exceeded,
    validation_error,
)
from server.store.blobs import Blobs
from server.store.datasets import DatasetTable, EntryFilter
from server.store.models import ModelKey, ModelRecord, Performance

log = logging.getLogger(__name__)

# L4V's minimum labelled images: (normal, anomalous) in train, and in test when there is one.
SINGLE_DATASET_MINIMUM = (20, 10)
SEPARATE_TRAIN_MINIMUM = (10, 0)
SEPARATE_TEST_MINIMUM = (10, 10)
TEST_SHARE = 5  # a single dataset keeps every 5th image of each label (by source-ref) for testing


class Training:
    def __init__(
        self,
        models: Models,
        datasets: DatasetTable,
        blobs: Blobs,
        timing: Timing,
        s3: S3,
        time_limit: float,
        work_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.models = models
        self.datasets = datasets
        self.blobs = blobs
        self.timing = timing
        self.s3 = s3
        self.time_limit = time_limit
        # Inside the data directory, not the system's temp folder, so start-up can remove what a crash
        # left (a killed server's TemporaryDirectory is never cleaned up).
        self.work_dir = work_dir
        self.clock = clock

    def create(
        self,
        scope: Scope,
        project: str,
        output: OutputLocation,
        description: str | None = None,
        kms_key_id: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> ModelRecord:
        self.models.projects.get(scope, project)
        tags = tags or {}
        if len(tags) > MAX_TAGS_PER_MODEL:
            raise quota_exceeded("tags-per-model", f"A model can have at most {MAX_TAGS_PER_MODEL} tags")
        train, test = self._split(scope, project)
        record = self.models.lifecycle.begin_training(scope, project, description, output, kms_key_id)
        if record is None:
            raise not_found(PROJECT, project, f"Project {project} does not exist")
        if tags:
            self.models.table.change_tags(record.key, tags)
        size = (train[0]["width"], train[0]["height"])
        key = record.key
        self.timing.launch(
            "training",
            lambda settle: self._train(record, train, test, size, settle),
            lease=(key.account, key.region, key.project, str(key.version)),
        )
        return record

    # Which images train and which test

    def _split(self, scope: Scope, project: str) -> tuple[list[dict], list[dict]]:
        def usable(dataset_type: str) -> list[dict] | None:
            record = self.datasets.get((scope.account, scope.region, project, dataset_type))
            if record is None:
                return None
            if record.status in BUSY:
                raise conflict(
                    DATASET, dataset_type, f"The {dataset_type} dataset is {record.status}; wait for it"
                )
            if record.status not in USABLE:
                raise validation_error(f"The {dataset_type} dataset is {record.status}; create it again")
            entries = self.datasets.entries_after(record.key, None, 100_000, EntryFilter(labeled=True))
            return [{"path": str(self.blobs.path(e.image)), "label": e.label, "source_ref": e.source_ref,
                     "line": e.line, "width": e.width, "height": e.height,
                     "mask": str(self.blobs.path(e.mask)) if e.mask else None,
                     "colors": parse_line(e.line, 0).classes if e.mask else {}} for e in entries]  # fmt: skip

        train = usable("train")
        if train is None:
            raise validation_error(f"Project {project} has no train dataset: create one before training")
        test = usable("test")
        if test is None:
            enough(train, SINGLE_DATASET_MINIMUM, "train (the project has no test dataset)")
            train, test = split_single(train)
        else:
            enough(train, SEPARATE_TRAIN_MINIMUM, "train")
            enough(test, SEPARATE_TEST_MINIMUM, "test")
        return train, test

    # The training itself

    def _train(self, record: ModelRecord, train: list[dict], test: list[dict], size: tuple[int, int],
               settle: Settle) -> None:  # fmt: skip
        key = record.key
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix="lfv-training-", dir=self.work_dir) as scratch:
                result = self._run_worker(key, train, test, size, scratch)
                self._progress(key, "Writing the model and its evaluation.")
                description = json.loads((Path(scratch) / DESCRIPTION_FILE).read_text())
                self.models.files.write(key, bundle_contents(Path(scratch) / MODEL_FILE, description))
                evaluation = self._write_evaluation(record, result, test)
                if result.get("selection"):
                    log.info("model %s/%s chosen by cross-validation: %s", key.project, key.version,
                             json.dumps(result["selection"]["Chosen"]))  # fmt: skip
        except Exception as error:  # every failure ends the training, with its reason
            log.warning("training %s/%s failed: %s", key.project, key.version, error)
            settle()
            self.models.lifecycle.training_failed(key, f"Training failed: {error}")
            return
        settle()
        if self.models.lifecycle.training_succeeded(key, "trainer", evaluation) is None:
            self.models.files.remove(key)
        log.info("model %s/%s trained: %s; peak memory of the training process %.0f MB", key.project, key.version,
                 evaluation.performance, result.get("peak_memory_mb", 0.0))  # fmt: skip

    def _run_worker(self, key: ModelKey, train: list[dict], test: list[dict], size: tuple[int, int],
                    output: str) -> dict:  # fmt: skip
        from server.training.worker import run

        context = training_context()
        receiving, sending = context.Pipe(duplex=False)
        job = {"train": train, "test": test, "image_size": size, "output": output}
        process = context.Process(target=run, args=(job, sending), daemon=True, name="lfv-trainer")
        process.start()
        sending.close()
        deadline = time.monotonic() + self.time_limit
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"the training ran longer than {self.time_limit:g} s and was stopped")
                if receiving.poll(min(remaining, 0.5)):
                    try:
                        kind, payload = receiving.recv()
                    except EOFError:
                        raise RuntimeError(
                            f"the training process died (exit code {process.exitcode})"
                        ) from None
                    if kind == "progress":
                        self._progress(key, payload)
                    elif kind == "error":
                        raise RuntimeError(payload)
                    else:
                        return payload
                elif not process.is_alive():
                    process.join()
                    raise RuntimeError(f"the training process died (exit code {process.exitcode})")
        finally:
            if process.is_alive():
                process.kill()
            process.join(timeout=10)
            receiving.close()

    def _progress(self, key: ModelKey, phase: str) -> None:
        log.info("training %s/%s: %s", key.project, key.version, phase)
        self.models.lifecycle.training_progress(key, phase)

    def _write_evaluation(self, record: ModelRecord, result: dict, test: list[dict]) -> Evaluation:
        key = record.key
        project, version = key.project, str(key.version)
        assert record.output_bucket is not None  # begin_training always records one
        bucket, prefix = record.output_bucket, record.output_prefix or ""
        manifest_key = f"{prefix}EvaluationManifest-{project}-{version}.json"
        result_key = f"{prefix}EvaluationResult-{project}-{version}.json"
        now = self.clock()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        arn = model_arn(Scope(key.account, key.region), project, version)
        lines = {item["source_ref"]: item["line"] for item in test}
        manifest = []
        for prediction in result["predictions"]:
            line = json.loads(lines[prediction["source_ref"]])
            detected = "anomaly" if prediction["anomalous"] else "normal"
            confidence = prediction["score"] if prediction["anomalous"] else 1 - prediction["score"]
            line["anomaly-label-detected"] = int(prediction["anomalous"])
            line["anomaly-label-detected-metadata"] = {
                "class-name": detected, "confidence": round(confidence, 6), "type": "groundtruth/image-classification",
                "human-annotated": "no", "creation-date": stamp, "job-name": f"training-job/{project}-{version}",
                "model-arn": arn, "project-name": project, "model-version": version,
            }  # fmt: skip
            manifest.append(json.dumps(line, separators=(",", ":")))
        metrics = result["metrics"]
        document = {
            "Version": 1,
            "EvaluationDetails": {"ModelArn": arn, "EvaluationEndTimestamp": stamp,
                                  "NumberOfTrainingImages": result["train_images"],
                                  "NumberOfTestingImages": result["test_images"]},
            "AggregatedEvaluationResults": {"Metrics": {name: metrics[name] for name in
                                            ("ROCAUC", "AveragePrecision", "Precision", "Recall", "F1Score",
                                             "PixelAnomalyClassMetrics") if name in metrics}},
        }  # fmt: skip
        if result.get("selection"):
            # Not in L4V's files: how the trainer chose this model, by cross-validation on the training set.
            document["ModelSelection"] = result["selection"]
        self.s3.put(key.region, bucket, manifest_key, "\n".join(manifest).encode(), "application/json")
        self.s3.put(
            key.region, bucket, result_key, json.dumps(document, indent=2).encode(), "application/json"
        )
        return Evaluation(
            task="segmentation" if "PixelAnomalyClassMetrics" in metrics else "classification",
            performance=Performance(metrics["F1Score"], metrics["Recall"], metrics["Precision"]),
            manifest_key=manifest_key,
            result_key=result_key,
            ended=round(now, 3),
        )


def split_single(items: list[dict]) -> tuple[list[dict], list[dict]]:
    """A single dataset's split: per label, in source-ref order, every 5th image tests, the rest train."""
    ordered = sorted(items, key=lambda item: (item["label"], item["source_ref"]))
    by_label: dict[str, list[dict]] = {}
    for item in ordered:
        by_label.setdefault(item["label"], []).append(item)
    test = [
        item for group in by_label.values() for index, item in enumerate(group) if index % TEST_SHARE == 0
    ]
    chosen = {item["source_ref"] for item in test}
    return [item for item in ordered if item["source_ref"] not in chosen], test


def enough(items: list[dict], minimum: tuple[int, int], which: str) -> None:
    normal = sum(item["label"] == "normal" for item in items)
    anomalous = sum(item["label"] == "anomaly" for item in items)
    if normal < minimum[0] or anomalous < minimum[1]:
        raise validation_error(
            f"The {which} dataset has {normal} normal and {anomalous} anomalous labelled images; "
            f"training needs at least {minimum[0]} and {minimum[1]}"
        )


# The modules a training process needs, loaded once by the process that forks each training process
# (multiprocessing's "forkserver"): a training then starts in about 0.01 s instead of the 0.8 s a fresh
# interpreter takes to import them (the first training still does, starting that process). numpy is
# loaded there after the trainer's package, which sets OpenBLAS's variable (server/training/__init__.py).
PRELOADED = (
    "server.training",
    "numpy",
    "onnx",
    "onnxruntime",
    "PIL.Image",
    "server.training.trainer",
    "server.training.decision",
    "server.training.efficientnet",
    "server.training.graphs",
    "server.training.memory",
    "server.training.samples",
    "server.training.segmentation",
    "server.training.selection",
)


def training_context() -> multiprocessing.context.SpawnContext | multiprocessing.context.ForkServerContext:
    """How training processes start: on Linux, forked from a process with the trainer's modules loaded
    (PRELOADED); elsewhere a fresh interpreter each ("spawn": Windows has no fork, and on macOS a process
    that loaded system frameworks, as numpy's Accelerate build does, is not safe to fork). Never a fork of
    the server itself, whose threads (uvicorn's, onnxruntime's) a fork would copy mid-work."""
    if not sys.platform.startswith("linux") or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOADED))
    _fork_server_with_this_code()
    return context


_FORK_SERVER_START = threading.Lock()
# the folder this `server` package lies in: where the fork server must import it from
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def _fork_server_with_this_code() -> None:
    """Starts the fork server (unless it runs) with this server's own package first on its path. Python
    3.11's fork server is handed the server's sys.path but does not apply it, and would import whichever copy
    of this project a fresh interpreter finds: a server started from another checkout (bench/quality.py
    --server, EmulatorProcess(checkout=...)) trained with the installed one's trainer. A fresh interpreter
    reads the path from the environment, set for its start only."""
    from multiprocessing import forkserver

    with _FORK_SERVER_START:
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *([saved] if saved else [])])
        try:
            forkserver.ensure_running()
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
