"""The bare ASGI app of the L4V API, driven directly: which thread pool a call waits in."""

from __future__ import annotations

import asyncio
import json
import threading

from server import app as app_module
from server.emulator import Emulator
from server.settings import Settings

AUTH = (
    b"AWS4-HMAC-SHA256 Credential=123456789012/20260101/us-east-1/lookoutvision/aws4_request, "
    b"SignedHeaders=host, Signature=0"
)


async def call(app, method: str, path: str, body: bytes = b"", content_type: bytes = b"application/json"):
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                    (b"authorization", AUTH)],
    }  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected

    sent = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], json.loads(sent[1]["body"] or b"{}")


def test_quick_calls_never_wait_behind_detect_anomalies_calls_holding_every_thread(monkeypatch):
    monkeypatch.setattr(app_module, "DETECT_THREADS", 3)
    monkeypatch.setattr(app_module, "API_THREADS", 2)
    emulator = Emulator.open(Settings(in_memory=True))
    release = threading.Event()

    def waiting_detect(context, params):  # as a call waiting for a busy inference unit does
        release.wait(30)
        return {
            "DetectAnomalyResult": {"Source": {"Type": "direct"}, "IsAnomalous": False, "Confidence": 1.0}
        }

    emulator.dispatcher.handlers["DetectAnomalies"] = waiting_detect
    app = app_module.create_app(emulator.settings, emulator)

    async def scenario():
        detects = [
            asyncio.create_task(
                call(app, "POST", "/2020-11-20/projects/p/models/1/detect", b"\x89PNG", b"image/png")
            )
            for _ in range(6)  # twice the detect threads: some even wait for a thread
        ]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in detects)
        created = await asyncio.wait_for(
            call(app, "POST", "/2020-11-20/projects", b'{"ProjectName": "p"}'), 10
        )
        listed = await asyncio.wait_for(call(app, "GET", "/2020-11-20/projects"), 10)
        release.set()
        return created, listed, await asyncio.gather(*detects)

    try:
        created, listed, detected = asyncio.run(scenario())
    finally:
        release.set()
        emulator.close()
    assert created[0] == 200 and [p["ProjectName"] for p in listed[1]["Projects"]] == ["p"]
    assert [status for status, _ in detected] == [200] * 6
