"""What HTTP itself costs for a DetectAnomalies-sized POST, against which the server's own share shows.

    python bench/http_floor.py [--calls 300]

Three servers answer the same 477 KB PNG POST from one http.client connection each, interleaved:
- a bare ASGI app under uvicorn that reads the body and answers `{}` (the floor of uvicorn, the kernel
  and the client);
- the emulator, for a DetectAnomalies call on a project that does not exist: everything but the model
  (read, hand to a thread, route, parse, validate, look the model up, serialise a 404 error).
Prints both medians and their difference: the emulator's own fixed cost per API call.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from detect import picture  # noqa: E402

from bench.local_s3 import free_port  # noqa: E402
from lookoutvision_emulator import EmulatorProcess  # noqa: E402

BARE_APP = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
"""
HEADERS = {
    "Content-Type": "image/png",
    "Authorization": "AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/lookoutvision/"
    "aws4_request, SignedHeaders=host, Signature=00",
}


def poster(host: str, port: int, path: str, body: bytes):
    connection = http.client.HTTPConnection(host, port)

    def post() -> int:
        connection.request("POST", path, body=body, headers=HEADERS)
        response = connection.getresponse()
        response.read()
        return response.status

    return post


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    calls = parser.parse_args().calls
    body = picture(550, 380, seed=0)
    folder = Path(tempfile.mkdtemp())
    (folder / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--log-level", "warning"],
        cwd=folder,
    )
    try:
        with EmulatorProcess() as emulator:
            host, emulator_port = emulator.url.removeprefix("http://").split(":")
            deadline = time.monotonic() + 10
            while True:
                try:
                    poster("127.0.0.1", port, "/", body)()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            calls_to = {
                "bare ASGI app under uvicorn": poster("127.0.0.1", port, "/", body),
                "emulator, DetectAnomalies answered 404": poster(
                    host, int(emulator_port), "/2020-11-20/projects/none/models/1/detect", body
                ),
            }
            assert [call() for call in calls_to.values()] == [200, 404]
            times: dict[str, list[float]] = {name: [] for name in calls_to}
            for _ in range(calls):
                for name, call in calls_to.items():
                    started = time.perf_counter()
                    call()
                    times[name].append(time.perf_counter() - started)
    finally:
        bare.terminate()
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"{len(body) // 1000} KB POST, {calls} calls each, median:")
    for name, value in medians.items():
        print(f"  {name}: {value:.2f} ms")
    floor, ours = medians.values()
    print(f"  the emulator's own share: {ours - floor:.2f} ms")


if __name__ == "__main__":
    main()
