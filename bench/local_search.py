"""The local (position-aware) memory's nearest-patch search against the feature extraction it follows.

    python bench/local_search.py [--runs 20]

For each working size a local model serves at (320x224, 512x512, 608x416) and each number of remembered
normal images (15: a 30 + 30 project's training split; 32: selection.LOCAL_IMAGES, the most a memory
keeps), times in one process, interleaved, on random features: the feature graph at that size (the
baseline every model pays), and the search graph (graphs.local_nearest_graph, the nodes the served model
holds, with the memory fed). Prints median milliseconds and the search's ratio to the feature graph.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timings import median_ms
from server.training.graphs import feature_graph, local_memory_tensors, local_nearest_graph
from server.training.samples import cpu_session
from server.training.selection import LOCAL_IMAGES, REACH

SIZES = ((320, 224), (512, 512), (608, 416))
IMAGES = (15, LOCAL_IMAGES)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print("| working size | remembered images | feature graph | local search | ratio |")
    print("|---|---|---|---|---|")
    for width, height in SIZES:
        features = cpu_session(feature_graph((width, height)).SerializeToString())
        image = rng.normal(size=(1, 3, height, width)).astype(np.float32)
        (patches,) = features.run(["features"], {"image": image})
        channels, rows, cols = patches.shape[1:]
        search = cpu_session(local_nearest_graph((channels, rows, cols), REACH).SerializeToString())
        for count in IMAGES:
            memory = local_memory_tensors(rng.normal(size=(count, channels, rows, cols)).astype(np.float32))
            feed = {"features": patches, **memory}
            base = search_ms = 0.0
            for _ in range(2):  # interleaved halves: the machine's load falls on both
                base += median_ms(partial(features.run, ["features"], {"image": image}), args.runs // 2)
                search_ms += median_ms(partial(search.run, None, feed), args.runs // 2)
            base, search_ms = base / 2, search_ms / 2
            print(
                f"| {width}x{height} | {count} | {base:.1f} ms | {search_ms:.1f} ms | {search_ms / base:.2f} |"
            )


if __name__ == "__main__":
    main()
