"""Spec-driven fuzzing of the live server: no request may get a 5xx, every refusal has the AWS shape.

    python bench/fuzz.py [--requests 12000] [--seed 1] [--clients 1]

Starts its own server (data directory in a temporary folder, S3 at a loopback port where nothing
listens), creates a project with a train dataset and two model versions (one hosted), then sends
requests generated from the service model over all 22 operations and the /_emulator/ endpoints
(tests/support/fuzzing.py: missing members, wrong types, limits, patterns, enums, unicode with lone
surrogates, deep nesting, huge values, broken bodies, paths, headers and methods). Prints the count of
answers by status, then every answer >= 500 (and every 4xx without the AWS error shape) with the
request that got it, and the server's tracebacks. Exits 1 if there was any. With --clients N, N threads
share the requests (each with its own seed), so that calls on the same resources race.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lookoutvision_emulator import EmulatorProcess  # noqa: E402
from tests.support.fuzzing import Fuzzer, Report, prepare, send_all  # noqa: E402
from tests.support.live import quiet_s3_env  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="lfv-fuzz-") as scratch,
        EmulatorProcess(Path(scratch) / "data", env=quiet_s3_env()) as emulator,
    ):
        with httpx.Client(base_url=emulator.url, timeout=60) as client:
            prepare(client, Path(scratch))

        def run(index: int) -> Report:
            with httpx.Client(base_url=emulator.url, timeout=60) as client:
                return send_all(client, Fuzzer(args.seed + index).probes(args.requests // args.clients))

        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            report = merged(list(pool.map(run, range(args.clients))))
        seconds = time.perf_counter() - started
        log = emulator.output()
    print(
        f"{report.sent} requests in {seconds:.1f} s ({report.sent / seconds:.0f}/s), "
        f"seed {args.seed}, {args.clients} client(s)"
    )
    print(f"  (and {report.unsendable} that httpx itself would not send)")
    for status in sorted(report.statuses):
        print(f"  {status or 'no answer'}: {report.statuses[status]}")
    print(f"responses >= 500 (or none): {len(report.server_errors)}")
    for line in report.server_errors:
        print("  " + line)
    print(f"4xx without the AWS error shape: {len(report.bad_shapes)}")
    for line in report.bad_shapes:
        print("  " + line)
    tracebacks = log.split("Traceback (most recent call last):")[1:]
    distinct = {block.strip().splitlines()[-1]: block.strip().splitlines()[-6:] for block in tracebacks}
    if distinct:
        print(f"server tracebacks: {len(tracebacks)}; the end of each distinct one:")
        for lines in distinct.values():
            print("\n".join("  " + line[:300] for line in lines) + "\n")
    return 1 if report.server_errors or report.bad_shapes else 0


def merged(reports: list[Report]) -> Report:
    total = Report()
    for report in reports:
        for status, count in report.statuses.items():
            total.statuses[status] = total.statuses.get(status, 0) + count
        total.server_errors += report.server_errors
        total.bad_shapes += report.bad_shapes
        total.sent += report.sent
        total.unsendable += report.unsendable
    return total


if __name__ == "__main__":
    sys.exit(main())
