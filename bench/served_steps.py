"""The work around the model in DetectAnomalies, in this checkout against another, in one run.

    python bench/served_steps.py --also CHECKOUT [--runs 30]

Steps: aligning a part on a plain background (server/inference/alignment.py: its silhouette, centre,
rotation and warp; generated cover plates of bench/synthetic.py at 560x560, upright and turned); turning
a 600x420 picture into a 608x416 model's input tensor (server/inference/runtime.py: the resize, channels
and normalisation); drawing the class map from a segmentation model's per-class scores
(server/inference/masks.py's class_labels: a defect in 2 classes at 256x320 drawn at 576x768, 6 classes
at 152x104 drawn at 640x440 and at 608x416 drawn at 600x420, and a normal image); and the served
segmentation graph each checkout's trainer exports (random weights from one seed: a board's 608x416 with
5 anomaly classes, a cookie's 256x320 with 1). The two checkouts' modules are loaded side by side (the
graphs are built by each checkout in a process of its own) and called alternately on the same inputs;
their outputs must agree. Prints each step's median per checkout and the ratio this / other.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.timings import median_ms  # noqa: E402


def module(checkout: Path, relative: str, name: str):
    spec = importlib.util.spec_from_file_location(name, checkout / relative)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded  # dataclasses look their module up while the class is made
    spec.loader.exec_module(loaded)
    return loaded


def plates() -> list[Image.Image]:
    import synthetic

    pictures = []
    for index in range(4):
        picture = synthetic.sample("large_parts", index, anomalous=index % 2 == 1).image.convert("RGB")
        pictures += [picture, picture.rotate(37.0 * (index + 1), fillcolor=(219, 219, 214))]
    return pictures


def score_maps() -> list[tuple[np.ndarray, tuple[int, int]]]:
    rng = np.random.default_rng(0)
    crack = np.zeros((2, 320, 256), np.float32)
    crack[0] = 1.0
    crack[1, 120:135, 40:200] = 2.0
    board = rng.normal(0, 0.3, (6, 104, 152)).astype(np.float32)
    board[0] += 2.0
    board[3, 40:46, 60:70] += 4.0
    board[5, 80:84, 10:30] += 4.0
    normal = np.stack([np.ones((320, 256), np.float32), np.zeros((320, 256), np.float32)])
    served = rng.normal(0, 0.3, (6, 416, 608)).astype(np.float32)  # as the trainer's graphs give them
    served[0] += 2.0
    served[2, 200:230, 300:380] += 4.0
    return [(crack, (576, 768)), (board, (640, 440)), (served, (600, 420)), (normal, (576, 768))]


def aligning(aligners: dict, runs: int) -> list[float]:
    """Per checkout, the median over the plates of each one's median alignment time; the same output."""
    pictures = plates()
    first = aligners["this"]
    background = first.plain_background(pictures[:1]) or (219, 219, 214)
    reference = first.reference_for(pictures[0], background, first.TOLERANCE)
    timings: dict[str, list[float]] = {side: [] for side in aligners}
    for picture in pictures:
        outputs = {}
        for side, aligner in aligners.items():
            alignment = aligner.Alignment(background, aligner.TOLERANCE, reference)
            timings[side].append(median_ms(lambda: aligner.align(picture, alignment), runs // 3))  # noqa: B023
            aligned, placement = aligner.align(picture, alignment)
            outputs[side] = (np.asarray(aligned), placement.center, placement.angle)
        this, other = outputs["this"], outputs["other"]
        if this[1:] != other[1:] or not np.array_equal(this[0], other[0]):
            raise SystemExit("the checkouts align a plate differently")
    return [statistics.median(timings[side]) for side in aligners]


def tensors(checkouts: dict[str, Path], runs: int) -> list[float]:
    """Per checkout, the median time of its runner's input tensor for a board picture; the same tensor."""
    import onnx
    from onnx import TensorProto, helper
    from synthetic import sample

    from server.inference.bundle import parse_description

    width, height = 608, 416
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["score"], axes=[1, 2, 3], keepdims=0)], "mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    description = parse_description({"task": "classification", "outputs": {"score": "score"},
                                     "input": {"name": "image", "width": width, "height": height, "scale": 1.0,
                                               "mean": [127, 127, 127], "std": [128, 128, 128]}})  # fmt: skip
    picture = sample("boards", 1, anomalous=True).image.convert("RGB")
    results, timings = [], []
    with tempfile.TemporaryDirectory() as folder:
        onnx.save(model, Path(folder) / "model.onnx")
        for side, checkout in checkouts.items():
            runner = module(checkout, "server/inference/runtime.py", f"runtime_{side}").ModelRunner(
                Path(folder), description
            )
            results.append(runner._tensor(picture))
            timings.append(median_ms(lambda: runner._tensor(picture), runs))  # noqa: B023
    if not np.array_equal(*results):
        raise SystemExit("the checkouts make different input tensors")
    return timings


def drawing(drawers: dict, scores: np.ndarray, size: tuple[int, int], runs: int) -> list[float]:
    """Per checkout, the median time of drawing the class map; the same map."""
    labels = [drawer.class_labels(scores, size) for drawer in drawers.values()]
    if not np.array_equal(labels[0], labels[1]):
        raise SystemExit("the checkouts draw a class map differently")
    return [median_ms(lambda: drawer.class_labels(scores, size), runs) for drawer in drawers.values()]  # noqa: B023


SEGMENTATION_GRAPH = """
import sys
import numpy as np
from server.training.decision import memory_only
from server.training.graphs import Decision, scoring_graph
width, height, classes = (int(value) for value in sys.argv[1:4])
rng = np.random.default_rng(0)
memory = rng.normal(0, 1, (2000, 152)).astype(np.float32)
head = rng.normal(0, 0.1, (classes + 1, 176)), rng.normal(0, 0.1, classes + 1)
refine = rng.normal(0, 0.1, (classes + 1, classes + 29)), rng.normal(0, 0.1, classes + 1)
graph = scoring_graph((width, height), memory, Decision(memory_only(152), 1.0, 1.0, edges=True), head, refine)
open(sys.argv[4], "wb").write(graph.SerializeToString())
"""


def serving(checkouts: dict[str, Path], size: tuple[int, int], classes: int, runs: int) -> list[float]:
    """Per checkout, the median time of its exported segmentation graph on one picture; the same outputs."""
    import onnxruntime

    sessions = {}
    with tempfile.TemporaryDirectory() as folder:
        for side, checkout in checkouts.items():
            path = Path(folder) / f"{side}.onnx"
            subprocess.run([sys.executable, "-c", SEGMENTATION_GRAPH, *map(str, (*size, classes)), str(path)],
                           cwd=checkout, check=True)  # fmt: skip
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 2
            sessions[side] = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
    picture = np.random.default_rng(1).uniform(-1, 1, (1, 3, size[1], size[0])).astype(np.float32)
    outputs = [session.run(None, {"image": picture}) for session in sessions.values()]
    if any(not np.allclose(a, b, atol=1e-4) for a, b in zip(*outputs, strict=True)):
        raise SystemExit("the checkouts' segmentation graphs give different outputs")
    timings: dict[str, list[float]] = {side: [] for side in sessions}
    for _ in range(3):  # alternately, so that a busier spell of the machine falls on both
        for side, session in sessions.items():
            timings[side].append(median_ms(lambda: session.run(None, {"image": picture}), runs // 3))  # noqa: B023
    return [statistics.median(timings[side]) for side in sessions]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--also", type=Path, metavar="CHECKOUT", required=True, help="the checkout to compare with"
    )
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not (args.also / "server" / "inference" / "alignment.py").is_file():
        parser.error(f"{args.also} is not a checkout of the emulator")
    sides = {"this": ROOT, "other": args.also.resolve()}
    aligners = {
        side: module(path, "server/inference/alignment.py", f"alignment_{side}")
        for side, path in sides.items()
    }
    drawers = {
        side: module(path, "server/inference/masks.py", f"masks_{side}") for side, path in sides.items()
    }

    rows = [("align a 560x560 plate (8 pictures, upright and turned)", *aligning(aligners, args.runs)),
            ("input tensor: a 600x420 picture for a 608x416 model", *tensors(sides, args.runs))]  # fmt: skip
    for scores, size in score_maps():
        kind = f"{len(scores)} classes" if scores.argmax(0).any() else "a normal image"
        name = f"class map: {kind}, {scores.shape[2]}x{scores.shape[1]} -> {size[0]}x{size[1]}"
        rows.append((name, *drawing(drawers, scores, size, args.runs)))
    for size, classes in (((608, 416), 5), ((256, 320), 1)):
        name = f"served segmentation graph: {size[0]}x{size[1]}, {classes} anomaly class{'es' if classes > 1 else ''}"
        rows.append((name, *serving(sides, size, classes, args.runs)))
    print(
        f"this checkout against {args.also}; median of {args.runs} calls (alignment: of each picture's median)\n"
    )
    print("| step | this | other | ratio this / other |")
    print("|---|---|---|---|")
    for name, this_ms, other_ms in rows:
        print(f"| {name} | {this_ms:.2f} ms | {other_ms:.2f} ms | {this_ms / other_ms:.2f} |")


if __name__ == "__main__":
    main()
