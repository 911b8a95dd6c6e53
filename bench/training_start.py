"""How long a training process takes to start and load the trainer's modules: forked by the fork server that
has them loaded (server.backend.training.training_context) against a fresh interpreter each ("spawn"), in
one run.

    python bench/training_start.py [--runs 10]

Each start runs a child that imports the modules the fork server preloads (backend.training.PRELOADED) and
exits; the time is from Process.start() to its end. The two ways take turns; the fork server's own start
(what the server's first training pays) is printed apart. This module imports only the standard library at
its top: a spawned child imports it again.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load(names: list[str]) -> None:
    """The child: imports the trainer's modules (already there when forked by the fork server)."""
    for name in names:
        importlib.import_module(name)


def started(context, names: list[str]) -> float:
    begin = time.perf_counter()
    process = context.Process(target=load, args=(names,))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"the child ended with exit code {process.exitcode}")
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    sys.path.insert(0, str(ROOT))
    import multiprocessing

    from server.backend.training import PRELOADED, training_context

    names = list(PRELOADED)
    forked, spawned = training_context(), multiprocessing.get_context("spawn")
    if forked.get_start_method() != "forkserver":
        raise SystemExit("this platform has no fork server: training processes are spawned")
    first = started(forked, names)
    times: dict[str, list[float]] = {"fork server": [], "spawn": []}
    for _ in range(runs):
        times["spawn"].append(started(spawned, names))
        times["fork server"].append(started(forked, names))
    print(f"the fork server's own start (the first training's): {first * 1000:.0f} ms")
    medians = {way: statistics.median(values) * 1000 for way, values in times.items()}
    for way, median in medians.items():
        print(f"{way}: median {median:.1f} ms over {runs} starts")
    print(f"ratio fork server / spawn: {medians['fork server'] / medians['spawn']:.3f}")


if __name__ == "__main__":
    main()
