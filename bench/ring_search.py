"""A global memory's served graph with the map's outer ring read from inside (the trainer's export: the
search skips the ring's patches) against the same graph searching every patch, in one process, interleaved.

    python bench/ring_search.py [--runs 20]

For each working size a global memory serves at (320x256, 320x320, 512x512), the scoring graph over a
random memory of as many patches as the trainer keeps there (trainer.memory_cap) is built twice from the
same memory: with `Decision.edges` (what CreateModel exports for a global memory) and without (every
patch searched, as before the inner search). Prints median milliseconds per image and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.training.decision import memory_only
from server.training.graphs import Decision, scoring_graph
from server.training.samples import cpu_session
from server.training.trainer import memory_cap

SIZES = ((320, 256), (320, 320), (512, 512))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| working size | remembered patches | every patch searched | inner patches searched | ratio |")
    print("|---|---|---|---|---|")
    for width, height in SIZES:
        memory = rng.normal(size=(memory_cap((width, height)), 152)).astype(np.float32)
        image = rng.uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
        sessions = [
            cpu_session(scoring_graph((width, height), memory, Decision(memory_only(152), 1.0, 1.0, edges=edges))
                        .SerializeToString())
            for edges in (False, True)
        ]  # fmt: skip
        times: list[list[float]] = [[], []]
        for session in sessions:
            session.run(["score"], {"image": image})  # the first run allocates
        for _ in range(args.runs):
            for session, spent in zip(sessions, times, strict=True):
                start = time.perf_counter()
                session.run(["score"], {"image": image})
                spent.append(time.perf_counter() - start)
        whole, inner = (statistics.median(spent) * 1000 for spent in times)
        print(f"| {width}x{height} | {len(memory)} | {whole:.1f} ms | {inner:.1f} ms | {inner / whole:.2f} |")


if __name__ == "__main__":
    main()
