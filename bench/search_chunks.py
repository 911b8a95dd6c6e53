"""A global memory's served graph with its nearest search in chunks of different sizes, in one process,
interleaved.

    python bench/search_chunks.py [--runs 20]

For each working size a global memory serves at (320x256, 320x320, 608x416), the scoring graph over a
random memory of as many patches as the trainer keeps there (trainer.memory_cap), with the map's ring read
from inside as CreateModel exports it, is built once per chunk size (graphs.MEMORY_CHUNK: remembered
patches per Gemm, each followed by its minimum). Prints median milliseconds per image, each against
10,000-patch chunks, and whether every chunking gave the same score.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.training import graphs
from server.training.decision import memory_only
from server.training.samples import cpu_session
from server.training.trainer import memory_cap

SIZES = ((320, 256), (320, 320), (608, 416))
CHUNKS = (10_000, 2_000, 1_000, 500, 250)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        "| working size | remembered patches | "
        + " | ".join(f"chunks of {c:,}" for c in CHUNKS)
        + " | same score |"
    )
    print("|---|---|" + "---|" * (len(CHUNKS) + 1))
    decision = graphs.Decision(memory_only(152), threshold=1.0, slope=1.0, edges=True)
    for width, height in SIZES:
        memory = rng.normal(size=(memory_cap((width, height)), 152)).astype(np.float32)
        image = rng.uniform(-1, 1, (1, 3, height, width)).astype(np.float32)
        sessions = {}
        for chunk in CHUNKS:
            graphs.MEMORY_CHUNK = chunk
            sessions[chunk] = cpu_session(
                graphs.scoring_graph((width, height), memory, decision).SerializeToString()
            )
        times: dict[int, list[float]] = {chunk: [] for chunk in CHUNKS}
        scores = {
            chunk: float(session.run(["score"], {"image": image})[0][0])
            for chunk, session in sessions.items()
        }
        for _ in range(args.runs):
            for chunk, session in sessions.items():
                start = time.perf_counter()
                session.run(["score"], {"image": image})
                times[chunk].append(time.perf_counter() - start)
        base = statistics.median(times[CHUNKS[0]])
        cells = [
            f"{statistics.median(times[c]) * 1000:.1f} ms ({statistics.median(times[c]) / base:.2f})"
            for c in CHUNKS
        ]
        print(
            f"| {width}x{height} | {len(memory)} | "
            + " | ".join(cells)
            + f" | {len(set(scores.values())) == 1} |"
        )


if __name__ == "__main__":
    main()
