"""Edge Agent DetectAnomalies (gRPC on a unix socket) against the same model run in-process, in one run.

    python bench/edge.py [--model trained|demo] [--bundle DIR] [--seconds 8] [--size 1024]

In-process baseline: the frame is a numpy array in this process; make the Pillow image and run the
server's ModelRunner (what an application embedding the model would do). Edge: `lookoutvision-emulator
edge serve` in its own process (as on a line PC), the same bundle, a generated client in this process:
by `byte_data` (the frame serialised into the message) and by shared memory (the frame already in a
POSIX segment, as a camera pipeline writes it; the request names the segment). Both sides use every
core for onnxruntime. Prints p50 / p95 latency and the p50 ratios against in-process.

Models: `trained` has the architecture CreateModel trains (EfficientNet-Lite0 features, a memory of
normal patches; any image size is resized to its input), the serving cost of a real model; `demo` is
the shipped classification demo (almost free to run: the ratios show the transport's fixed cost).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.timings import summary, timed  # noqa: E402
from bench.trained_model import SIZE, trained_bundle  # noqa: E402
from server.edge import edge_agent_pb2 as pb2  # noqa: E402
from server.edge import edge_agent_pb2_grpc as pb2_grpc  # noqa: E402
from server.inference.bundle import read_bundle  # noqa: E402
from server.inference.runtime import ModelRunner  # noqa: E402


def frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A grey textured part with a red scratch and a blue spot, as RGB888 pixels."""
    rng = np.random.default_rng(seed)
    pixels = rng.normal(128, 12, (height, width, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    draw.line(
        (width * 0.1, height * 0.2, width * 0.6, height * 0.3), fill=(220, 30, 30), width=max(3, width // 80)
    )
    draw.ellipse((width * 0.7, height * 0.6, width * 0.8, height * 0.75), fill=(30, 30, 220))
    return np.asarray(image)


def start_agent(models: Path, socket_path: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "edge", "serve", "--models", str(models), "--edge-socket",
             str(socket_path), "--log-level", "warning"],
            stdout=output, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while "edge agent ready on" not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the edge agent did not start:\n{log.read_text()}")
        time.sleep(0.05)
    return process


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["trained", "demo"], default="trained")
    parser.add_argument("--bundle", help="a bundle folder of your own instead of --model")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--size", type=int, default=1024, help="the frame's width and height")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="edge-bench-", dir="/tmp"))
    if args.bundle:
        bundle = Path(args.bundle)
    elif args.model == "demo":
        bundle = ROOT / "server" / "demo_models" / "classification"
    else:
        bundle = trained_bundle(scratch / "trained", lambda seed: Image.fromarray(frame(*SIZE, seed)))
    description = read_bundle(bundle)
    cores = os.cpu_count() or 1
    width, height = (description.image_width, description.image_height) if description.image_width else (
        args.size, args.size)  # fmt: skip
    pixels = frame(width, height)
    runner = ModelRunner(bundle, description, "cpu", threads=cores)
    runner.warm_up()

    models = scratch / "components"
    models.mkdir()
    (models / "bench").symlink_to(bundle.resolve())
    socket_path = scratch / "agent.sock"
    agent = start_agent(models, socket_path, scratch / "agent.log")
    segment = shared_memory.SharedMemory(create=True, size=pixels.nbytes)
    try:
        channel = grpc.insecure_channel(
            f"unix:{socket_path}", options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
        )
        stub = pb2_grpc.EdgeAgentStub(channel)
        stub.StartModel(pb2.StartModelRequest(model_component="bench"))
        while stub.DescribeModel(pb2.DescribeModelRequest(model_component="bench")).model_description.status \
                == pb2.STARTING:  # fmt: skip
            time.sleep(0.02)
        segment.buf[: pixels.nbytes] = pixels.tobytes()  # the camera pipeline's write
        handle = pb2.SharedMemoryHandle(name=segment.name, size=pixels.nbytes, offset=0)

        def in_process() -> None:
            runner.predict(Image.fromarray(pixels))

        def by_bytes() -> None:
            bitmap = pb2.Bitmap(width=width, height=height, byte_data=pixels.tobytes())
            stub.DetectAnomalies(pb2.DetectAnomaliesRequest(model_component="bench", bitmap=bitmap))

        def by_shared_memory() -> None:
            bitmap = pb2.Bitmap(width=width, height=height, shared_memory_handle=handle)
            stub.DetectAnomalies(pb2.DetectAnomaliesRequest(model_component="bench", bitmap=bitmap))

        expected = runner.predict(Image.fromarray(pixels))
        for bitmap in (pb2.Bitmap(width=width, height=height, byte_data=pixels.tobytes()),
                       pb2.Bitmap(width=width, height=height, shared_memory_handle=handle)):  # fmt: skip
            answer = stub.DetectAnomalies(pb2.DetectAnomaliesRequest(model_component="bench", bitmap=bitmap))
            assert abs(answer.detect_anomaly_result.confidence - expected.confidence) < 1e-6, (
                "not the same model"
            )

        print(f"bundle {bundle} ({description.task}); {width}x{height} RGB888 frame ({pixels.nbytes} bytes); "
              f"{cores} cores; {args.seconds:.0f} s per measurement")  # fmt: skip
        results: dict[str, list[float]] = {"in-process": [], "byte_data": [], "shared memory": []}
        calls = {"in-process": in_process, "byte_data": by_bytes, "shared memory": by_shared_memory}
        for _ in range(2):  # interleaved halves, so machine noise falls on every side alike
            for name, call in calls.items():
                results[name] += timed(call, args.seconds / 2)
        base = statistics.median(results["in-process"])
        print("\n| path | p50 / p95 | p50 ratio to in-process |")
        print("|---|---|---|")
        for name, times in results.items():
            print(f"| {name} | {summary(times)} | {statistics.median(times) / base:.3f} |")
        channel.close()
    finally:
        segment.close()
        segment.unlink()
        agent.terminate()
        agent.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
