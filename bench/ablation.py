"""What each of the trainer's capabilities moves, row by row: bench/quality.py's rows trained with the whole
trainer and again with one capability taken out at a time.

    python bench/ablation.py [--rows aliens,cookies,boards] [--without learnt,choice,pose,resolution]
                             [--seed 0] [--side PX] [--synthetic DIR] [--out FILE.json]

The trainer alone (server.training.trainer.train, in-process: no HTTP, no S3, as bench/train_time.py runs
it), each training in a fresh Python process where the variant's switch is thrown first. The capabilities
(the numbers of the trainer's issue, "Models people can trust on their own parts"):

- learnt (1): decision rules learnt from the labelled anomalies (the supervised rules on the map's
  statistics and pooled features, the defect prototypes, the masks' rule). Without: the memory's peak
  distance decides alone.
- choice (2): the model chosen among candidates by cross-validation. Without: the first candidate (320 px,
  a global memory; aligned parts where normal parts lie on a plain background), its decision rule still
  chosen, and no masks learnt at another working size.
- pose (3): alignment of parts on a plain background, memories with turned copies, position-aware
  memories. Without: the images as they are, a global memory without turned copies.
- resolution (4): the larger working sizes (the images' own size up to 640 px, small pictures enlarged)
  and each cell's tone. Without: 320 px, the trunk's features alone.

Prints a markdown table (per row: the test images' AUROC / F1 at the model's own threshold, with the whole
trainer and with each capability out, "=" where both are the same) and how many rows each capability's
absence moves, and writes every number with --out as JSON (the chosen candidates and rules, the true
positives' mean Confidence, the IoU per class).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from quality import ROWS  # noqa: E402
from train_time import STARTED_WITH, job_description, trainer_job  # noqa: E402

DEFAULT_ROWS = (
    "aliens,cookies,texture,rotated_parts,boards,thin_cracks,large_parts,tiles,solar_cells,pcb_scans,"
    "texture-grey,rotated_parts-grey,boards-grey,thin_cracks-grey,large_parts-grey,tiles-grey"
)


def swap(module: Any, name: str, replacement: Callable[[Callable], Callable]) -> None:
    """Replaces module.name by replacement(original). The original must be there: a function renamed in
    server/ fails the bench instead of leaving its capability in."""
    original = getattr(module, name)  # AttributeError when it is gone
    setattr(module, name, replacement(original))


def without_learnt() -> None:
    from server.training import selection

    swap(selection, "judge", lambda judge: lambda outcome, images, learn: judge(outcome, images, False))
    swap(selection, "offer_mask_rule", lambda offer: lambda outcome, images, evidence: None)


def without_choice() -> None:
    from server.training import selection, trainer

    swap(selection, "wins", lambda wins: lambda challenger, best: best is None)  # the first candidate stays
    # and no other working size for the masks' rule
    swap(trainer, "choose_model", lambda choose: lambda *args: (choose(*args)[0], None))


def without_pose() -> None:
    from server.training import selection, trainer

    swap(trainer, "choose_alignment", lambda choose: lambda normals: None)
    swap(selection, "wins", lambda wins: lambda challenger, best: (
        not (challenger.candidate.turned or challenger.candidate.local) and wins(challenger, best)))  # fmt: skip


def without_resolution() -> None:
    from server.training import selection, trainer

    swap(trainer, "high_side", lambda high: lambda image_size, images: None)
    swap(selection, "wins", lambda wins: lambda challenger, best: (
        not challenger.candidate.tone and wins(challenger, best)))  # fmt: skip


SWITCHES: dict[str, Callable[[], None]] = {
    "learnt": without_learnt,
    "choice": without_choice,
    "pose": without_pose,
    "resolution": without_resolution,
}


def worker(variant: str, job_file: Path) -> None:
    """Trains the job with the capability `variant` taken out ("full": none); prints one JSON line. A job
    with "turned" test pictures also has them scored by the trained model (as bench/quality.py's -turned
    rows are, through DetectAnomalies)."""
    if variant != "full":
        SWITCHES[variant]()
    from server.inference.bundle import read_bundle
    from server.inference.runtime import ModelRunner
    from server.training.trainer import metrics, train

    job = json.loads(job_file.read_text())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as output:
        result = train(trainer_job(job, output))
        seconds = time.perf_counter() - start
        turned = None
        if job.get("turned"):
            runner = ModelRunner(Path(output), read_bundle(Path(output)), threads=1)
            served = []
            for path, label in job["turned"]:
                with Image.open(path) as picture:
                    prediction = runner.predict(picture.convert("RGB"))
                served.append(
                    {"label": label, "anomalous": prediction.is_anomalous, "score": prediction.score}
                )
            turned = numbers(metrics(served), served)
    chosen = result.selection["Chosen"]
    tried = result.selection.get("Candidates", [])
    print(json.dumps({**numbers(result.metrics, result.predictions), "turned": turned,
                      "candidate": chosen["Candidate"], "rule": chosen["DecisionRule"],
                      "first": tried[0]["Candidate"] if tried else chosen["Candidate"],
                      "rules_tried": sorted({rule for c in tried for rule in c["CrossValidatedROCAUC"]}),
                      "seconds": round(seconds, 1)}))  # fmt: skip


def numbers(found: dict, predictions: list[dict]) -> dict:
    """AUROC, F1, the true positives' mean Confidence and the IoU per class, from trainer.metrics' `found`."""
    caught = [p["score"] for p in predictions if p["anomalous"] and p["label"] == "anomaly"]
    ious = {e["ClassName"]: round(e["AIOU"], 3) for e in found.get("PixelAnomalyClassMetrics", [])}
    return {"auroc": round(found["ROCAUC"], 4), "f1": round(found["F1Score"], 4),
            "tp_confidence": round(sum(caught) / len(caught), 4) if caught else None, "iou": ious}  # fmt: skip


def with_turned(job: dict, folder: Path) -> dict:
    """The job with its test pictures turned and shifted as bench/quality.py turns them, saved in `folder`."""
    from quality import turned_pictures

    folder.mkdir(parents=True, exist_ok=True)
    pictures = turned_pictures([Path(sample["path"]) for sample in job["test"]])
    turned = []
    for index, (picture, sample) in enumerate(zip(pictures, job["test"], strict=True)):
        saved = folder / f"{index:03d}.png"
        picture.save(saved)
        turned.append((str(saved), sample["label"]))
    return {**job, "turned": turned}


def trained(variant: str, job_file: Path) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", variant, str(job_file)]
    finished = subprocess.run(command, capture_output=True, text=True, env=STARTED_WITH)
    if finished.returncode != 0:
        raise SystemExit(f"training {job_file.stem} with {variant} failed:\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def cell(run: dict, full: dict | None = None) -> str:
    """AUROC / F1; "=" where both are the whole trainer's `full` to three digits."""
    if full is not None and all(abs(run[key] - full[key]) < 5e-4 for key in ("auroc", "f1")):
        return "="
    return f"{run['auroc']:.3f} / {run['f1']:.3f}"


def lines(runs: dict[str, dict[str, dict]], without: list[str]) -> list[tuple[str, dict, dict[str, dict]]]:
    """Each row's (name, whole trainer's numbers, each variant's numbers), its turned pictures after it."""
    found = []
    for row, by_variant in runs.items():
        found.append((row, by_variant["full"], {name: by_variant[name] for name in without}))
        if by_variant["full"]["turned"] is not None:
            turned = {name: by_variant[name]["turned"] for name in without}
            found.append((f"{row}-turned", by_variant["full"]["turned"], turned))
    return found


def summary(runs: dict[str, dict[str, dict]], without: list[str]) -> list[str]:
    """Per capability taken out: on how many rows AUROC and F1 fell (one fell, neither rose), rose, moved
    both ways or stayed, and the mean change in F1."""
    found = lines(runs, without)
    text = []
    for name in without:
        counts = {"worse": 0, "better": 0, "mixed": 0, "the same": 0}
        changes = []
        for _, full, taken_out in found:
            moved = [taken_out[name][key] - full[key] for key in ("auroc", "f1")]
            down, up = any(m <= -5e-4 for m in moved), any(m >= 5e-4 for m in moved)
            counts["mixed" if down and up else "worse" if down else "better" if up else "the same"] += 1
            changes.append(moved[1])
        mean = sum(changes) / len(changes) if changes else 0.0
        text.append(f"without {name}: " + ", ".join(f"{kind} {count}" for kind, count in counts.items())
                    + f" of {len(found)} rows; mean change in F1 {mean:+.3f}")  # fmt: skip
    return text


def rows(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(name for name in chosen if name not in ROWS or name.endswith("-turned"))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)} (bench/quality.py's rows, without "
                                         "-turned: a row's turned pictures come with it)")  # fmt: skip
    return chosen


def variants(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SWITCHES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown)} (of: {', '.join(SWITCHES)})")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=rows, default=rows(DEFAULT_ROWS),
                        help="bench/quality.py rows (no -turned ones: they come with their row)")  # fmt: skip
    parser.add_argument("--without", type=variants, default=list(SWITCHES), help="capabilities to take out, "
                        f"one at a time: {', '.join(SWITCHES)}")  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, help="bench/synthetic.py's seed for the synthetic rows"
    )
    parser.add_argument(
        "--side", type=int, help="the synthetic pictures reduced to this many px (see quality.py)"
    )
    parser.add_argument(
        "--synthetic", type=Path, help="folder for bench/synthetic.py's sets (made when missing)"
    )
    parser.add_argument("--out", type=Path, help="write every number here as JSON")
    parser.add_argument("--worker", nargs=2, metavar=("VARIANT", "JOB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return
    began = time.monotonic()
    runs: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as folder:
        synthetic = args.synthetic or Path(folder) / "synthetic"
        print("| row | whole trainer |" + "".join(f" without {name} |" for name in args.without))
        print("|---|---|" + "---|" * len(args.without))
        for row in args.rows:
            job_file = Path(folder) / f"{row}.json"
            try:
                job = job_description(row, synthetic, args.seed, args.side)
            except SystemExit as missing:  # aliens and cookies come from ../shared, which a fresh clone lacks
                print(f"| {row} | skipped: {missing} |")
                continue
            if f"{row}-turned" in ROWS:
                job = with_turned(job, Path(folder) / "turned" / row)
            job_file.write_text(json.dumps(job))
            runs[row] = {variant: trained(variant, job_file) for variant in ["full", *args.without]}
            for name, full, taken_out in lines({row: runs[row]}, args.without):
                print(f"| {name} | {cell(full)} |" + "".join(f" {cell(taken_out[v], full)} |" for v in args.without),
                      flush=True)  # fmt: skip
    seconds = round(time.monotonic() - began)
    print("\n" + "\n".join(summary(runs, args.without)))
    print(
        f"\n{len(runs)} rows trained, seed {args.seed}{f', side {args.side}' if args.side else ''}, {seconds} s"
    )
    if args.out:
        args.out.write_text(json.dumps({"seed": args.seed, "side": args.side, "seconds": seconds, "rows": runs},
                                       indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
