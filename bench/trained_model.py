"""A stand-in for a model CreateModel trains, without the training: the trainer's own classification graph
over a full patch memory of generated pictures (the same serving cost, built in a few seconds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (550, 380)  # the generated pictures' size; the trainer picks its working size from it


def trained_bundle(folder: Path, picture: Callable[[int], Image.Image]) -> Path:
    """`picture(seed)` gives the generated RGB pictures whose patches fill the memory."""
    from server.inference.bundle import FORMAT
    from server.training.decision import memory_only
    from server.training.graphs import Decision, feature_graph, scoring_graph
    from server.training.samples import cpu_session, network_input
    from server.training.trainer import MEMORY_MAX, input_description, input_size

    size = input_size(SIZE)
    features = cpu_session(feature_graph(size).SerializeToString())
    patches, seed = [], 100
    while sum(len(p) for p in patches) < MEMORY_MAX:
        image = picture(seed).convert("RGB").resize(size, Image.Resampling.BILINEAR)
        (maps,) = features.run(["features"], {"image": network_input(np.asarray(image))})
        patches.append(maps[0].reshape(maps.shape[1], -1).T)
        seed += 1
    memory = np.concatenate(patches)[:MEMORY_MAX]
    folder.mkdir(parents=True, exist_ok=True)
    # as CreateModel exports a global memory: the map's ring read from inside (the search skips the ring),
    # the search in 8-bit integers
    decision = Decision(memory_only(memory.shape[1]), threshold=1.0, slope=1.0, edges=True)
    graph = scoring_graph(size, memory, decision, quantized=True)
    (folder / "model.onnx").write_bytes(graph.SerializeToString())
    description = {"format": FORMAT, "task": "classification", "input": input_description(size),
                   "outputs": {"score": "score"}, "threshold": 0.5, "source": "trainer"}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(description))
    return folder
