"""A global memory's nearest search in the served graph, variants built from the same memory and timed in
one process, interleaved.

    python bench/served_search.py [--runs 20] [--tables chunks,ring,quantized,tone,area]

For each working size a global memory serves at (320x256, 320x320, 512x512 or 608x416), the scoring graph
over a random memory of as many patches as the trainer keeps there (trainer.memory_cap) is built:
- per chunk size (graphs.MEMORY_CHUNK: remembered patches per Gemm, each followed by its minimum), with
  the map's ring read from inside as CreateModel exports it; each against 10,000-patch chunks;
- with the ring read from inside (the search skips the ring's patches) and without (every patch searched),
  in the chunks the trainer uses.
- for aligned parts, with the part's area (a centred disc as wide as the picture's shorter side, and one
  half as wide): the search of the area's patches alone, against every patch searched and the distances
  outside the area multiplied by 0; floats and 8-bit integers as the trainer exports them.
- in 8-bit integers (graphs.QUANTIZED_CHUNK per product) against floats (graphs.MEMORY_CHUNK), over a
  memory of real features: generated texture pictures' patches, thinned as the trainer thins them, and a
  picture with defects searched; per quantized chunk size, with the largest change of the blurred map.
- the same with each cell's tone in the features (table `tone`): floats against the integers with the
  tone's 6 channels in floats, as CreateModel exports a model with tone.
Prints median milliseconds per image, their ratios, and whether the chunkings gave the same score.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import sample
from server.training import graphs
from server.training.decision import memory_only
from server.training.memory import coreset
from server.training.samples import cpu_session, network_input
from server.training.trainer import memory_cap

CHUNKS = (10_000, 2_000, 1_000, 500, 250)
QUANTIZED_CHUNKS = (500, 1_000, 2_000, 4_000)
SIZES = ((320, 256), (320, 320), (512, 512), (608, 416))


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


def graph(*args: Any, **kwargs: Any):
    """scoring_model's graph in a session."""
    return cpu_session(scoring_model(*args, **kwargs).SerializeToString())


def scoring_model(
    size: tuple[int, int],
    memory: np.ndarray,
    edges: bool,
    chunk: int,
    quantized: bool = False,
    area: np.ndarray | None = None,
    tone: bool = False,
) -> onnx.ModelProto:
    """The scoring graph over `memory` with `chunk` remembered patches per product, its blurred map an
    output too."""
    graphs.MEMORY_CHUNK = graphs.QUANTIZED_CHUNK = chunk
    decision = graphs.Decision(memory_only(memory.shape[1]), threshold=1.0, slope=1.0, edges=edges, area=area)
    model = graphs.scoring_graph(size, memory, decision, quantized=quantized, tone=tone)
    model.graph.output.append(onnx.helper.make_tensor_value_info("blurred", onnx.TensorProto.FLOAT, None))
    return model


def real_features(size: tuple[int, int], tone: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A memory of generated texture pictures' patches at `size` (with each cell's tone), thinned to the
    trainer's cap, and a texture picture with defects as the image searched."""
    features = cpu_session(graphs.feature_graph(size, tone=tone).SerializeToString())

    def patches(image) -> tuple[np.ndarray, np.ndarray]:
        pixels = network_input(np.asarray(image.convert("RGB").resize(size)))
        (found,) = features.run(["features"], {"image": pixels})
        return found[0].reshape(found.shape[1], -1).T, pixels

    cap, parts, index = memory_cap(size), [], 0
    while sum(len(part) for part in parts) < 3 * cap and index < 40:
        parts.append(patches(sample("texture", index, False).image)[0])
        index += 1
    return coreset(np.concatenate(parts), cap), patches(sample("texture", 0, True).image)[1]


def quantized_table(runs: int) -> None:
    print("| working size | remembered patches | floats (chunks of 500) | "
          + " | ".join(f"8-bit, chunks of {c:,}" for c in QUANTIZED_CHUNKS)
          + " | largest change of the map (its peak) |")  # fmt: skip
    print("|---|---|---|" + "---|" * (len(QUANTIZED_CHUNKS) + 1))
    for width, height in SIZES:
        memory, image = real_features((width, height))
        sessions = {"float": graph((width, height), memory, True, 500)}
        sessions |= {chunk: graph((width, height), memory, True, chunk, True) for chunk in QUANTIZED_CHUNKS}
        maps = {key: session.run(["blurred"], {"image": image})[0] for key, session in sessions.items()}
        change = max(float(np.abs(found - maps["float"]).max()) for found in maps.values())
        medians = timed(sessions, image, runs)
        cells = [
            f"{medians[c] * 1000:.1f} ms ({medians[c] / medians['float']:.2f})" for c in QUANTIZED_CHUNKS
        ]
        print(f"| {width}x{height} | {len(memory)} | {medians['float'] * 1000:.1f} ms | " + " | ".join(cells)
              + f" | {change:.3f} ({float(maps['float'].max()):.2f}) |")  # fmt: skip


def tone_table(runs: int) -> None:
    print("\n| working size (with tone) | remembered patches | floats (chunks of 500) | "
          "8-bit, the tone in floats (chunks of 1,000) | largest change of the map (its peak) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for width, height in SIZES:
        memory, image = real_features((width, height), tone=True)
        sessions = {
            "float": graph((width, height), memory, True, 500, tone=True),
            "integer": graph((width, height), memory, True, 1_000, True, tone=True),
        }
        maps = {key: session.run(["blurred"], {"image": image})[0] for key, session in sessions.items()}
        change = float(np.abs(maps["integer"] - maps["float"]).max())
        medians = timed(sessions, image, runs)
        print(f"| {width}x{height} | {len(memory)} | {medians['float'] * 1000:.1f} ms | "
              f"{medians['integer'] * 1000:.1f} ms ({medians['integer'] / medians['float']:.2f}) | "
              f"{change:.3f} ({float(maps['float'].max()):.2f}) |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--tables", default="chunks,ring,quantized,tone,area", help="which tables, comma-separated"
    )
    args = parser.parse_args()
    tables = set(args.tables.split(","))
    rng = np.random.default_rng(0)
    served_chunk = graphs.MEMORY_CHUNK
    if "quantized" in tables:
        quantized_table(args.runs)
        graphs.MEMORY_CHUNK = served_chunk
    if "tone" in tables:
        tone_table(args.runs)
        graphs.MEMORY_CHUNK = served_chunk
    cases = []
    for size in SIZES:
        memory = rng.normal(size=(memory_cap(size), 152)).astype(np.float32)
        cases.append((size, memory, rng.uniform(-1, 1, (1, 3, size[1], size[0])).astype(np.float32)))

    if "chunks" in tables:
        chunks_table(cases, args.runs)
    if "ring" in tables:
        ring_table(cases, args.runs, served_chunk)
    if "area" in tables:
        area_table(cases, args.runs, served_chunk)


def chunks_table(cases: list, runs: int) -> None:
    print(
        "\n| working size | remembered patches | "
        + " | ".join(f"chunks of {c:,}" for c in CHUNKS)
        + " | same score |"
    )
    print("|---|---|" + "---|" * (len(CHUNKS) + 1))
    for (width, height), memory, image in cases:
        sessions = {chunk: graph((width, height), memory, True, chunk) for chunk in CHUNKS}
        scores = {float(session.run(["score"], {"image": image})[0][0]) for session in sessions.values()}
        medians = timed(sessions, image, runs)
        cells = [f"{medians[c] * 1000:.1f} ms ({medians[c] / medians[CHUNKS[0]]:.2f})" for c in CHUNKS]
        print(f"| {width}x{height} | {len(memory)} | " + " | ".join(cells) + f" | {len(scores) == 1} |")


def ring_table(cases: list, runs: int, served_chunk: int) -> None:
    print("\n| working size | remembered patches | every patch searched | inner patches searched | ratio |")
    print("|---|---|---|---|---|")
    for (width, height), memory, image in cases:
        sessions = {edges: graph((width, height), memory, edges, served_chunk) for edges in (False, True)}
        medians = timed(sessions, image, runs)
        whole, inner = medians[False] * 1000, medians[True] * 1000
        print(f"| {width}x{height} | {len(memory)} | {whole:.1f} ms | {inner:.1f} ms | {inner / whole:.2f} |")


def disc(size: tuple[int, int], share: float) -> np.ndarray:
    """[rows, cols] 0/1: the cells of a centred disc `share` as wide as the picture's shorter side."""
    rows, cols = graphs.feature_grid(size)
    ys, xs = np.mgrid[0:rows, 0:cols]
    reach = share * min(rows, cols) / 2
    return (np.hypot(ys + 0.5 - rows / 2, xs + 0.5 - cols / 2) <= reach).astype(np.float32)


def area_table(cases: list, runs: int, served_chunk: int) -> None:
    """The area's patches searched alone, against the graph that searches every patch and multiplies the
    distances outside the area by 0 (graphs.scoring_graph before the gathered search)."""
    print("\n| working size | remembered patches | part's area | search | every patch, times the area | "
          "the area's patches | ratio | same map |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for (width, height), memory, image in cases:
        for share in (1.0, 0.5):
            area = disc((width, height), share)
            for quantized in (False, True):
                sessions = {
                    "gathered": graph((width, height), memory, True, served_chunk, quantized, area),
                    "multiplied": multiplied((width, height), memory, served_chunk, quantized, area),
                }
                maps = {key: s.run(["blurred"], {"image": image})[0] for key, s in sessions.items()}
                same = bool(np.allclose(maps["gathered"], maps["multiplied"], rtol=1e-4, atol=1e-3))
                medians = timed(sessions, image, runs)
                every, gathered = medians["multiplied"] * 1000, medians["gathered"] * 1000
                print(f"| {width}x{height} | {len(memory)} | {area.mean():.2f} | "
                      f"{'8-bit' if quantized else 'floats'} | {every:.1f} ms | {gathered:.1f} ms | "
                      f"{gathered / every:.2f} | {same} |")  # fmt: skip


def multiplied(size: tuple[int, int], memory: np.ndarray, chunk: int, quantized: bool, area: np.ndarray):
    """The scoring graph that searches every patch (the map's ring read from inside needs them all with
    an area) and multiplies the distances by the area: the way the area was first served."""
    model = scoring_model(size, memory, True, chunk, quantized)
    return cpu_session(times_area(model, area).SerializeToString())


def times_area(model: onnx.ModelProto, area: np.ndarray) -> onnx.ModelProto:
    """`model` (every patch searched, no area) with its distances multiplied by `area` before the map."""
    nodes = model.graph.node
    (sqrt,) = [node for node in nodes if node.op_type == "Sqrt" and node.output[0] == "distances"]
    sqrt.output[0] = "every_distance"
    at = list(nodes).index(sqrt) + 1
    inner = area if "inner_map_shape" not in {i.name for i in model.graph.initializer} else area[1:-1, 1:-1]
    model.graph.initializer.append(onnx.numpy_helper.from_array(inner.reshape(-1).astype(np.float32), "area"))
    nodes.insert(at, onnx.helper.make_node("Mul", ["every_distance", "area"], ["distances"]))
    return model


if __name__ == "__main__":
    main()
