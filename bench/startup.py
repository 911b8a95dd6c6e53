"""Start-up and reset times of the emulator, against moto's server measured the same way in the same run.

    python bench/startup.py [--runs 10] [--also DIR ...]

Start-up: from launching `python -m server serve` to the first healthy answer over HTTP. moto_server
(if installed: pip install 'moto[server]') is launched and polled the same way, as the baseline.
`--also DIR` measures another checkout of the emulator too (for example the commit before a change,
from `git archive`), with this environment's packages, interleaved with the others: before and after
in one run.
Reset: POST /_emulator/reset with 100 projects in the store, each with a model version (the shipped
demo classification bundle, imported through /_emulator/), so the reset also removes 100 model folders.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from lookoutvision_emulator import RunningEmulator

ROOT = Path(__file__).resolve().parents[1]
DEMO_BUNDLE = ROOT / "server" / "demo_models" / "classification"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def time_to_healthy(
    command: list[str], url: str, timeout: float = 30.0, checkout: Path | None = None
) -> float:
    # A checkout's own `server` package comes first on the path (before an installed or editable one).
    env = None if checkout is None else {**os.environ, "PYTHONPATH": str(checkout)}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=checkout, env=env
    )
    try:
        with httpx.Client(timeout=1.0) as http:
            while time.perf_counter() - started < timeout:
                try:
                    if http.get(url).status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.005)
        raise TimeoutError(f"{command[0]} was not healthy within {timeout} s")
    finally:
        process.terminate()
        process.wait(timeout=15)


def ours(data_dir: str, checkout: Path = ROOT) -> float:
    port = free_port()
    command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", data_dir]
    return time_to_healthy(command, f"http://127.0.0.1:{port}/_emulator/health", checkout=checkout)


def moto() -> float | None:
    executable = shutil.which("moto_server")
    if executable is None:
        return None
    port = free_port()
    return time_to_healthy([executable, "-p", str(port)], f"http://127.0.0.1:{port}/moto-api/")


def reset_seconds(runs: int) -> list[float]:
    data_dir = tempfile.mkdtemp()
    port = free_port()
    command = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", data_dir]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        time_to_ready = time.perf_counter()
        with httpx.Client(base_url=url, timeout=10) as http:
            while True:
                try:
                    http.get("/_emulator/health")
                    break
                except httpx.TransportError:
                    if time.perf_counter() - time_to_ready > 30:
                        raise
                    time.sleep(0.01)
            emulator = RunningEmulator(url)
            timings = []
            for _ in range(runs):
                for i in range(100):
                    emulator.import_model(f"p{i}", DEMO_BUNDLE)
                started = time.perf_counter()
                http.post("/_emulator/reset").raise_for_status()
                timings.append(time.perf_counter() - started)
            return timings
    finally:
        process.terminate()
        process.wait(timeout=15)


def report(name: str, times: list[float], baseline: list[float]) -> None:
    median = statistics.median(times)
    line = f"start-up to healthy, {name}: median {median * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    if baseline:
        line += f", ratio to moto {median / statistics.median(baseline):.2f}"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--also", action="append", default=[], type=Path, metavar="DIR", help="another checkout to time"
    )
    args = parser.parse_args()
    checkouts = [ROOT, *(path.resolve() for path in args.also)]
    times: dict[Path, list[float]] = {checkout: [] for checkout in checkouts}
    moto_times: list[float] = []
    for _ in range(args.runs):  # interleaved, so machine noise hits all alike
        for checkout in checkouts:
            times[checkout].append(ours(tempfile.mkdtemp(), checkout))
        baseline = moto()
        if baseline is not None:
            moto_times.append(baseline)
    if moto_times:
        median = statistics.median(moto_times)
        print(
            f"start-up to healthy, moto_server: median {median * 1000:.0f} ms, max {max(moto_times) * 1000:.0f} ms"
        )
    else:
        print("moto_server not installed: no baseline (pip install 'moto[server]')")
    for checkout in checkouts:
        report("this checkout" if checkout == ROOT else str(checkout), times[checkout], moto_times)
    resets = reset_seconds(max(3, args.runs // 2))
    print(
        f"reset with 100 projects and models: median {statistics.median(resets) * 1000:.1f} ms, "
        f"max {max(resets) * 1000:.1f} ms (target < 50 ms)"
    )


if __name__ == "__main__":
    main()
