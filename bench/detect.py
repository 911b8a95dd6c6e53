"""DetectAnomalies over HTTP (boto3 -> server) against the same work in-process, in one run.

    python bench/detect.py [--model trained|cnn|demo] [--bundle DIR] [--seconds 5] [--also CHECKOUT]

In-process baseline: decode the PNG, run the model, build the result with its mask PNG: exactly the
server's functions, without HTTP. HTTP: boto3 DetectAnomalies against `serve --in-memory` with the same
bundle. Prints p50/p95 latency per image size and their ratio, then the throughput of 4 concurrent
clients against 1 (model hosted with one inference unit per core).

Models: `trained` has the architecture CreateModel trains (EfficientNet-Lite0 features and a memory of
40,000 normal patches at a 320x224 input; here the memory holds patches of generated pictures), so it
costs what a trained model costs, and takes any image size; `cnn` is a small convolutional segmentation
network (about 2.4 GFLOP per image at 384x384), built here with onnx; `demo` is the shipped
segmentation demo (almost free to run: the ratio then shows HTTP's fixed cost against decoding and mask
encoding alone).

`--also CHECKOUT` serves the same bundle from another checkout of the emulator too (for example the
commit before a change, from `git archive`), with this environment's packages, and measures it in the
same interleaved rounds: before and after a change against one in-process baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from botocore.config import Config
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.timings import summary, timed  # noqa: E402
from bench.trained_model import SIZE, trained_bundle  # noqa: E402
from lookoutvision_emulator import EmulatorProcess, client  # noqa: E402
from server.backend.hosting import detection  # noqa: E402
from server.backend.model_imports import find_bundle_files  # noqa: E402
from server.inference.bundle import read_bundle  # noqa: E402
from server.inference.images import decode_image  # noqa: E402
from server.inference.runtime import ModelRunner  # noqa: E402
from tests.support.onnx_models import zip_folder  # noqa: E402

SIZES = ((550, 380), (1024, 1024))


def cnn_bundle(folder: Path, size: int = 384) -> Path:
    """Conv 3->48 (stride 2), 48->96 (stride 2), 96->96, then 1x1 to 3 class scores at 1/4 resolution:
    about 2.4 GFLOP, the serving cost of a small real model."""
    import json

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    layers = [(3, 48, 2), (48, 96, 2), (96, 96, 1)]
    nodes, weights, previous = [], [], "image"
    for index, (inputs, outputs, stride) in enumerate(layers):
        weights.append(
            numpy_helper.from_array(
                rng.normal(0, (2 / (inputs * 9)) ** 0.5, (outputs, inputs, 3, 3)).astype(np.float32),
                f"w{index}",
            )
        )
        nodes += [helper.make_node("Conv", [previous, f"w{index}"], [f"c{index}"], pads=[1, 1, 1, 1],
                                   strides=[stride, stride]),
                  helper.make_node("Relu", [f"c{index}"], [f"r{index}"])]  # fmt: skip
        previous = f"r{index}"
    weights.append(numpy_helper.from_array(rng.normal(0, 0.1, (3, 96, 1, 1)).astype(np.float32), "head"))
    weights.append(helper.make_tensor("one", TensorProto.INT64, [1], [1]))
    nodes += [
        helper.make_node("Conv", [previous, "head"], ["class_scores"]),
        helper.make_node("ReduceMax", ["class_scores"], ["peak"], keepdims=0),
        helper.make_node("Sigmoid", ["peak"], ["squashed"]),
        helper.make_node("Reshape", ["squashed", "one"], ["score"]),
    ]
    quarter = size // 4
    graph = helper.make_graph(
        nodes, "bench_cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, [1, 3, quarter, quarter])],
        initializer=weights,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, folder / "model.onnx")
    description = {"format": "lookoutvision-emulator-bundle/1", "task": "segmentation",
                   "input": {"name": "image", "width": size, "height": size, "mean": [0.485, 0.456, 0.406],
                             "std": [0.229, 0.224, 0.225]},
                   "outputs": {"score": "score", "class_map": "class_scores"}, "threshold": 0.5,
                   "classes": [{"name": "scratch", "color": "#D62728"},
                               {"name": "spot", "color": "#1F77B4"}]}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(description))
    return folder


def picture(width: int, height: int, seed: int) -> bytes:
    """A grey part with texture, a red scratch and a blue spot: a realistic PNG to decode."""
    rng = np.random.default_rng(seed)
    pixels = (rng.normal(128, 12, (height, width, 3))).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    draw.line(
        (width * 0.1, height * 0.2, width * 0.6, height * 0.3), fill=(220, 30, 30), width=max(3, width // 80)
    )
    draw.ellipse((width * 0.7, height * 0.6, width * 0.8, height * 0.75), fill=(30, 30, 220))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def throughput(call, clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def worker(index: int) -> None:
        while time.perf_counter() < stop:
            call()
            done[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


@contextlib.contextmanager
def other_checkout(checkout: Path):
    """`serve --in-memory` from another checkout (its own `server` package first on the path)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--in-memory"]
    process = subprocess.Popen(command, cwd=checkout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/_emulator/health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{checkout} did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def hosted_client(url: str, model: Path, units: int):
    """A boto3 client on `url`, where the bundle is imported as bench/1 and hosted with `units` units."""
    httpx.post(
        f"{url}/_emulator/projects/bench/models", content=zip_folder(model), timeout=120,
        headers={"Content-Type": "application/zip"},
    ).raise_for_status()  # fmt: skip
    lfv = client(
        url, config=Config(max_pool_connections=8, retries={"total_max_attempts": 1, "mode": "standard"})
    )
    lfv.start_model(ProjectName="bench", ModelVersion="1", MinInferenceUnits=units)
    while lfv.describe_model(ProjectName="bench", ModelVersion="1")["ModelDescription"]["Status"] != "HOSTED":
        time.sleep(0.02)
    return lfv


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["trained", "cnn", "demo"], default="trained")
    parser.add_argument("--bundle", help="a bundle folder of your own instead of --model")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--also", type=Path, metavar="CHECKOUT", help="another checkout to measure alongside")
    args = parser.parse_args()
    if args.bundle:
        bundle = Path(args.bundle)
    elif args.model == "demo":
        bundle = ROOT / "server" / "demo_models" / "segmentation"
    else:
        import tempfile

        folder = Path(tempfile.mkdtemp()) / args.model
        if args.model == "trained":
            bundle = trained_bundle(folder, lambda seed: Image.open(io.BytesIO(picture(*SIZE, seed))))
        else:
            bundle = cnn_bundle(folder)
    model, _, _ = find_bundle_files(bundle)
    description = read_bundle(model.parent)
    cores = os.cpu_count() or 1
    runner = ModelRunner(model.parent, description, "cpu", threads=cores)
    runner.warm_up()
    # A bundle that only takes its training images' size (a trained model) is measured at that size.
    sizes = [(description.image_width, description.image_height)] if description.image_width else SIZES
    images = {size: picture(*size, seed=i) for i, size in enumerate(sizes)}

    def in_process(body: bytes) -> None:
        detection(runner.predict(decode_image(body, "image/png")), description)

    print(f"bundle {bundle} ({description.task}); {cores} cores; {args.seconds:.0f} s per measurement")
    with contextlib.ExitStack() as stack:
        emulator = stack.enter_context(EmulatorProcess())
        lfv = hosted_client(emulator.url, model.parent, 1)
        other = None
        if args.also:
            other = hosted_client(stack.enter_context(other_checkout(args.also.resolve())), model.parent, 1)

        def over_http(body: bytes, client=lfv) -> None:
            client.detect_anomalies(ProjectName="bench", ModelVersion="1", Body=body, ContentType="image/png")

        also = f" | HTTP p50 / p95, {args.also} | its p50 ratio" if other else ""
        print(f"\n| image | in-process p50 / p95 | HTTP p50 / p95 | p50 ratio (target <= 1.10){also} |")
        print("|---|---|---|---|" + ("---|---|" if other else ""))
        for size, body in images.items():
            # Interleaved halves, so machine noise falls on both sides alike.
            local, remote, remote_also = [], [], []
            for _ in range(2):
                local += timed(lambda body=body: in_process(body), args.seconds / 2)
                remote += timed(lambda body=body: over_http(body), args.seconds / 2)
                if other:
                    remote_also += timed(lambda body=body: over_http(body, other), args.seconds / 2)
            ratio = statistics.median(remote) / statistics.median(local)
            row = f"| {size[0]}x{size[1]} PNG | {summary(local)} | {summary(remote)} | {ratio:.2f} |"
            if other:
                row += f" {summary(remote_also)} | {statistics.median(remote_also) / statistics.median(local):.2f} |"
            print(row)
        if other:  # its units would take cores from the throughput runs
            other.stop_model(ProjectName="bench", ModelVersion="1")

        lfv.stop_model(ProjectName="bench", ModelVersion="1")
        while (
            lfv.describe_model(ProjectName="bench", ModelVersion="1")["ModelDescription"]["Status"]
            != "TRAINED"
        ):
            time.sleep(0.02)
        lfv.start_model(ProjectName="bench", ModelVersion="1", MinInferenceUnits=cores)
        while (
            lfv.describe_model(ProjectName="bench", ModelVersion="1")["ModelDescription"]["Status"]
            != "HOSTED"
        ):
            time.sleep(0.02)
        print(f"\n| image | 1 client | 4 clients | ratio (target >= 1.8) |  ({cores} inference units)")
        print("|---|---|---|---|")
        for size, body in images.items():
            single = throughput(lambda body=body: over_http(body), 1, args.seconds)
            four = throughput(lambda body=body: over_http(body), 4, args.seconds)
            print(
                f"| {size[0]}x{size[1]} PNG | {single:.1f} req/s | {four:.1f} req/s | {four / single:.2f} |"
            )


if __name__ == "__main__":
    main()
