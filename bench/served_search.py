"""A global memory's nearest search in the served graph, variants built from the same memory and timed in
one process, interleaved.

    python bench/served_search.py [--runs 20]

For each working size a global memory serves at (320x256, 320x320, 512x512 or 608x416), the scoring graph
over a random memory of as many patches as the trainer keeps there (trainer.memory_cap) is built:
- per chunk size (graphs.MEMORY_CHUNK: remembered patches per Gemm, each followed by its minimum), with
  the map's ring read from inside as CreateModel exports it; each against 10,000-patch chunks;
- with the ring read from inside (the search skips the ring's patches) and without (every patch searched),
  in the chunks the trainer uses.
Prints median milliseconds per image, their ratios, and whether the chunkings gave the same score.
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

CHUNKS = (10_000, 2_000, 1_000, 500, 250)


def timed(sessions: dict, image: np.ndarray, runs: int) -> dict:
    """Median seconds per run of each session, interleaved (the first run of each allocates)."""
    times: dict = {key: [] for key in sessions}
    for session in sessions.values():
        session.run(["score"], {"image": image})
    for _ in range(runs):
        for key, session in sessions.items():
            start = time.perf_counter()
            session.run(["score"], {"image": image})
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(spent) for key, spent in times.items()}


def graph(size: tuple[int, int], memory: np.ndarray, edges: bool, chunk: int):
    graphs.MEMORY_CHUNK = chunk
    decision = graphs.Decision(memory_only(memory.shape[1]), threshold=1.0, slope=1.0, edges=edges)
    return cpu_session(graphs.scoring_graph(size, memory, decision).SerializeToString())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    served_chunk = graphs.MEMORY_CHUNK
    cases = []
    for size in ((320, 256), (320, 320), (512, 512), (608, 416)):
        memory = rng.normal(size=(memory_cap(size), 152)).astype(np.float32)
        cases.append((size, memory, rng.uniform(-1, 1, (1, 3, size[1], size[0])).astype(np.float32)))

    print(
        "| working size | remembered patches | "
        + " | ".join(f"chunks of {c:,}" for c in CHUNKS)
        + " | same score |"
    )
    print("|---|---|" + "---|" * (len(CHUNKS) + 1))
    for (width, height), memory, image in cases:
        sessions = {chunk: graph((width, height), memory, True, chunk) for chunk in CHUNKS}
        scores = {float(session.run(["score"], {"image": image})[0][0]) for session in sessions.values()}
        medians = timed(sessions, image, args.runs)
        cells = [f"{medians[c] * 1000:.1f} ms ({medians[c] / medians[CHUNKS[0]]:.2f})" for c in CHUNKS]
        print(f"| {width}x{height} | {len(memory)} | " + " | ".join(cells) + f" | {len(scores) == 1} |")

    print("\n| working size | remembered patches | every patch searched | inner patches searched | ratio |")
    print("|---|---|---|---|---|")
    for (width, height), memory, image in cases:
        sessions = {edges: graph((width, height), memory, edges, served_chunk) for edges in (False, True)}
        medians = timed(sessions, image, args.runs)
        whole, inner = medians[False] * 1000, medians[True] * 1000
        print(f"| {width}x{height} | {len(memory)} | {whole:.1f} ms | {inner:.1f} ms | {inner / whole:.2f} |")


if __name__ == "__main__":
    main()
