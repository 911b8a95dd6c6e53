"""A trained model on the GPU against the CPU: which execution provider runs each node, and the time.

    python bench/gpu.py [--bundle DIR] [--runs 40]

For a machine with onnxruntime-gpu and a CUDA device (`pip install -e '.[gpu]'`, see the README). The
model is the stand-in of a trained model (bench/trained_model.py: the trainer's graph, its global memory
searched in integers) or a bundle of your own (`--bundle`, e.g. a CreateModel'd model's folder). Per
device, the bundle is loaded as the server loads it (ModelRunner: on CUDA a trained model's integer search
in floats), one session is profiled to see where its nodes ran, and predictions of a 768x576 picture are
timed (p50 of the model in-process, decode excluded). Prints one table and the GPU's p50 over the CPU's.
Without a CUDA provider it says so and measures the CPU alone.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def picture(seed: int, size: tuple[int, int] = (768, 576)) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = rng.normal(128, 20, (size[1], size[0], 3)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def placement(folder: Path, device: str, threads: int) -> tuple[Counter, Counter]:
    """Microseconds of node time per execution provider over a few profiled runs, and the op types the CPU
    ran, for the graph the runner loads on `device`."""
    import onnxruntime

    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner, resolve_providers, session_model, session_options

    providers = resolve_providers(device)
    model, _ = session_model(folder, read_bundle(folder), providers)
    options = session_options(threads)
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "gpu")
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=providers)
    runner = ModelRunner(folder, read_bundle(folder), device, threads)
    feeds = runner.feeds(picture(1))
    for _ in range(5):
        session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text())
    time_by_provider, cpu_ops = Counter(), Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            provider = event["args"].get("provider", "?")
            time_by_provider[provider] += event["dur"]
            if provider == "CPUExecutionProvider":
                cpu_ops[event["args"].get("op_name", "?")] += 1
    return time_by_provider, cpu_ops


def timed(folder: Path, device: str, threads: int, runs: int) -> tuple[float, list[str], bool]:
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner

    runner = ModelRunner(folder, read_bundle(folder), device, threads)
    runner.warm_up()
    image = picture(2)
    timings = []
    for _ in range(runs):
        begin = time.perf_counter()
        runner.predict(image)
        timings.append(time.perf_counter() - begin)
    return statistics.median(timings) * 1000, runner.providers, runner.search_in_floats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, help="a bundle folder instead of the trained stand-in")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (the CPU's share)")
    parser.add_argument(
        "--devices", help="comma-separated, of cpu and cuda; default: cpu, and cuda when present"
    )
    args = parser.parse_args()

    import onnxruntime

    from server.inference.devices import CUDA

    folder = args.bundle
    if folder is None:
        from trained_model import trained_bundle

        folder = trained_bundle(Path(tempfile.mkdtemp()) / "trained", picture)
    present = CUDA in onnxruntime.get_available_providers()
    devices = args.devices.split(",") if args.devices else ["cpu"] + (["cuda"] if present else [])
    if not present:
        print(f"onnxruntime {onnxruntime.__version__} has no CUDA provider here: 'cuda' runs on the CPU")
    print(f"bundle {folder}; {args.runs} predictions of a 768x576 picture per device\n")
    print("| device | providers | search in floats | p50 ms | node time by provider | ops on the CPU |")
    print("|---|---|---|---|---|---|")
    p50 = {}
    for device in devices:
        p50[device], providers, floats = timed(folder, device, args.threads, args.runs)
        by_provider, cpu_ops = placement(folder, device, args.threads)
        total = sum(by_provider.values()) or 1
        shares = ", ".join(f"{name.replace('ExecutionProvider', '')} {value / total:.0%}"
                           for name, value in by_provider.most_common())  # fmt: skip
        on_cpu = (
            ", ".join(f"{op} x{count // 5}" for op, count in cpu_ops.most_common())
            if device != "cpu"
            else "-"
        )
        print(
            f"| {device} | {', '.join(providers)} | {floats} | {p50[device]:.1f} | {shares} | {on_cpu or 'none'} |"
        )
    if "cuda" in p50:
        print(f"\nGPU p50 / CPU p50: {p50['cuda'] / p50['cpu']:.2f}")


if __name__ == "__main__":
    main()
