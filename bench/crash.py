"""kill -9 over a random mix of writes, round after round: nothing acknowledged may be lost.

    python bench/crash.py [--rounds 50] [--seed 1] [--keep]

Each round starts the server on a fresh data directory (S3 at a loopback port where nothing listens,
datasets read from a local folder, random short delays so that transitions stay open), sends a seeded
random mix of writes (create and delete project, model import, dataset import and update, tags,
start and stop, training, DeleteModel, packaging), kills the server with SIGKILL at a random moment,
restarts it on the same directory and checks that every acknowledged write is there, that nothing is
left in a transitional state once recovery settles, and that no staging or work file is left
(tests/support/crash.py; tests/store/test_recovery.py runs two rounds of it). Prints a line per round
and a summary; exits 1 if any round failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.crash import crash_round, dataset_root  # noqa: E402
from tests.support.onnx_models import classifier_bundle  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="round N uses seed + N")
    parser.add_argument("--keep", action="store_true", help="keep the data directories of failed rounds")
    args = parser.parse_args()
    started = time.monotonic()
    acknowledged = checked = failed = transitional = 0
    kinds: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="lfv-crash-") as scratch:
        work = Path(scratch)
        bundle = classifier_bundle(work / "bundle")
        images = dataset_root(work / "images")
        for number in range(args.rounds):
            folder = Path(tempfile.mkdtemp(prefix=f"round-{number}-", dir=work if not args.keep else None))
            result = crash_round(folder, args.seed + number, bundle, images)
            acknowledged += result.acknowledged
            checked += result.checked
            kinds += result.kinds
            transitional += result.transitional_at_kill
            failed += bool(result.failures)
            print(
                f"round {number + 1}/{args.rounds} seed {result.seed}: killed after {result.killed_after:.2f} s, "
                f"{result.acknowledged} writes acknowledged, {result.rejected} refused, "
                f"{result.checked} checks, {result.transitional_at_kill} in a transitional state at the kill, "
                f"in flight {result.in_flight}: "
                f"{'FAILED' if result.failures else 'ok'}",
                flush=True,
            )
            for failure in result.failures:
                print(f"    {failure}", flush=True)
            if result.failures and args.keep:
                print(f"    data directory kept: {folder}", flush=True)
    print("acknowledged by kind: " + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
    print(
        f"{args.rounds} rounds, {acknowledged} acknowledged writes, {checked} checks, "
        f"{transitional} resources in a transitional state at a kill, "
        f"{failed} rounds failed, {time.monotonic() - started:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
