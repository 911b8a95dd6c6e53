"""Replicas on one PostgreSQL and one S3 against one process on SQLite, in one run.

    python bench/replicas.py [--model cnn|demo] [--seconds 5] [--calls 200] [--clients 6]

Needs PostgreSQL's server binaries (Debian: apt-get install postgresql) and moto's server; both are
started here on free loopback ports and removed afterwards.

1. Control calls: p50 latency of CreateProject + DescribeProject + ListProjects + DeleteProject against
   one process on SQLite (the default) and one on PostgreSQL: the cost of the shared database per call.
2. DetectAnomalies throughput, `--clients` threads sending round-robin, against 1 replica and against 3
   (on PostgreSQL and S3 storage, each with one inference unit of one thread, so that a small machine
   shows the shape),
   `cnn` (a stack of convolutions built here with onnx, tens of milliseconds per 256x256 image, so
   inference dominates) or `demo` (the shipped classification demo: almost free, so the numbers show the
   serving path alone).
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from PIL import Image  # noqa: E402

from bench.local_s3 import CREDENTIALS, start_moto  # noqa: E402
from lookoutvision_emulator import EmulatorProcess, RunningEmulator, client  # noqa: E402
from tests.support.postgres import ThrowawayPostgres, postgres_bin  # noqa: E402

DEMO_BUNDLE = ROOT / "server" / "demo_models" / "classification"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=32)


def control_p50_ms(url: str, calls: int) -> float:
    lfv = client(url, config=NO_RETRIES)
    timings = []
    for index in range(calls // 4):
        name = f"bench-{index}"
        started = time.perf_counter()
        lfv.create_project(ProjectName=name)
        lfv.describe_project(ProjectName=name)
        lfv.list_projects(MaxResults=20)
        lfv.delete_project(ProjectName=name)
        timings.append((time.perf_counter() - started) / 4)
    return statistics.median(timings) * 1000


def png(size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (120, 130, 140)).save(buffer, "PNG")
    return buffer.getvalue()


def cnn_bundle(folder: Path, size: int = 256, layers: int = 6, channels: int = 32) -> Path:
    """A classification bundle whose network costs real time: 3x3 convolutions, then the mean as score."""
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, previous, width = [], [], "image", 3
    for index in range(layers):
        kernel = rng.normal(0, 0.1, (channels, width, 3, 3)).astype(np.float32)
        weights.append(numpy_helper.from_array(kernel, f"w{index}"))
        nodes += [helper.make_node("Conv", [previous, f"w{index}"], [f"c{index}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{index}"], [f"r{index}"])]  # fmt: skip
        previous, width = f"r{index}", channels
    nodes += [helper.make_node("ReduceMean", [previous], ["mean"], keepdims=0),
              helper.make_node("Sigmoid", ["mean"], ["score"])]  # fmt: skip
    graph = helper.make_graph(
        nodes, "bench_replicas", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])], weights,
    )  # fmt: skip
    folder.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "model.onnx")
    description = json.loads((DEMO_BUNDLE / "model.json").read_text())
    description["input"].update(width=size, height=size)
    (folder / "model.json").write_text(json.dumps(description))
    return folder


def detect_per_second(urls: list[str], body: bytes, clients: int, seconds: float) -> float:
    lfvs = [client(url, config=NO_RETRIES) for url in urls]
    done, stop = [0] * clients, threading.Event()

    def run(slot: int) -> None:
        for lfv in itertools.cycle(lfvs[slot % len(lfvs) :] + lfvs[: slot % len(lfvs)]):
            if stop.is_set():
                return
            lfv.detect_anomalies(ProjectName="bench", ModelVersion="1", Body=body, ContentType="image/png")
            done[slot] += 1

    for lfv in lfvs:  # every replica loads the model before the clock starts
        lfv.detect_anomalies(ProjectName="bench", ModelVersion="1", Body=body, ContentType="image/png")
    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def host(url: str, bundle: Path) -> None:
    RunningEmulator(url).import_model("bench", bundle)
    lfv = client(url, config=NO_RETRIES)
    # One unit of one thread per replica: what a replica adds is then visible on a small machine.
    lfv.start_model(ProjectName="bench", ModelVersion="1", MinInferenceUnits=1, MaxInferenceUnits=1)
    while lfv.describe_model(ProjectName="bench", ModelVersion="1")["ModelDescription"]["Status"] != "HOSTED":
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["cnn", "demo"], default="cnn")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL's server binaries are missing (apt-get install postgresql)")
    # Other work on the machine decides how much a second and third replica can add: say how busy it is.
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} before the run")
    env = {**CREDENTIALS, "LOOKOUTVISION_EMULATOR_INFERENCE_THREADS": "1"}
    with ExitStack() as stack:
        postgres = ThrowawayPostgres(bin_dir).start()
        stack.callback(postgres.stop)
        moto, s3_url = start_moto()
        stack.callback(moto.kill)
        boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket="shared")  # fmt: skip
        tmp = Path(stack.enter_context(__import__("tempfile").TemporaryDirectory()))

        sqlite = stack.enter_context(EmulatorProcess(tmp / "sqlite", env=env))
        shared = ["--database-url", postgres.new_database(), "--storage-url", "s3://shared/bench",
                  "--s3-endpoint-url", s3_url]  # fmt: skip
        first = stack.enter_context(EmulatorProcess(tmp / "replica0", extra_args=shared, env=env))
        control_p50_ms(sqlite.url, 40), control_p50_ms(first.url, 40)  # warm-up
        on_sqlite, on_postgres = control_p50_ms(sqlite.url, args.calls), control_p50_ms(first.url, args.calls)
        print(f"control call p50: SQLite {on_sqlite:.2f} ms, PostgreSQL {on_postgres:.2f} ms, "
              f"ratio PostgreSQL/SQLite {on_postgres / on_sqlite:.2f}")  # fmt: skip
        sqlite.stop()

        if args.model == "cnn":
            bundle, body = cnn_bundle(tmp / "cnn"), png(256)
        else:
            bundle, body = DEMO_BUNDLE, png(128)
        host(first.url, bundle)
        one = detect_per_second([first.url], body, args.clients, args.seconds)
        more = [
            stack.enter_context(EmulatorProcess(tmp / f"replica{i}", extra_args=shared, env=env))
            for i in (1, 2)
        ]
        three = detect_per_second(
            [first.url, *(process.url for process in more)], body, args.clients, args.seconds
        )
        print(f"DetectAnomalies ({args.model}) with {args.clients} clients: 1 replica {one:.0f}/s, "
              f"3 replicas {three:.0f}/s, ratio 3/1 {three / one:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
