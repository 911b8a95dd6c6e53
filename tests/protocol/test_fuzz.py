"""A short run of bench/fuzz.py's generator against the live server: requests built from the service
model for all 22 operations and the /_emulator/ endpoints, each with members missing, mistyped, out of
bounds, off pattern, unicode, huge or deeply nested. None may get a 5xx (or no answer); every refusal
carries the AWS error shape. The bench sends 10,000+; this keeps the suite quick."""

from __future__ import annotations

from tests.support.fuzzing import Fuzzer, prepare, send_all

REQUESTS = 1500


def test_no_5xx_and_aws_errors_under_fuzzing(emulator, http, tmp_path):
    prepare(http, tmp_path)
    fuzzer = Fuzzer(seed=20201120)
    report = send_all(http, fuzzer.probes(REQUESTS))
    assert report.server_errors == []
    assert report.bad_shapes == []
    assert report.sent >= REQUESTS * 0.9  # a few are refused by httpx itself (illegal header values)
    assert sum(count for status, count in report.statuses.items() if 400 <= status < 500) > REQUESTS / 2
    # Every operation was reached (each is sent broken at least once), and some calls succeeded.
    assert len(fuzzer.operations) == 22
    assert sum(count for status, count in report.statuses.items() if status < 300) > 0
