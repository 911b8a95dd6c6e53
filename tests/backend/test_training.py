"""How training processes start (server/backend/training.py): the fork server's children find the trainer's
modules loaded; the rest of CreateModel's life runs against the real server in tests/handlers."""

from __future__ import annotations

import multiprocessing
import os
import sys

import pytest

from server.backend.training import PRELOADED, training_context

# modules neither this test module nor the test session's imports load by themselves
HEAVY = ("onnxruntime", "server.training.segmentation", "server.training.selection")


def report(connection) -> None:
    """A training process's view of what it starts with."""
    loaded = {name: name in sys.modules for name in HEAVY}
    connection.send((loaded, os.environ.get("OPENBLAS_THREAD_TIMEOUT")))
    connection.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="training processes are spawned off Linux")
def test_a_training_process_starts_with_the_trainers_modules_loaded():
    context = training_context()
    assert context.get_start_method() == "forkserver"
    assert set(HEAVY) <= set(PRELOADED)
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=report, args=(sending,))
    process.start()
    sending.close()
    assert receiving.poll(60)
    loaded, timeout = receiving.recv()
    process.join(10)
    assert loaded == dict.fromkeys(HEAVY, True)
    # set by the trainer's package, which the fork server loads before numpy (unless the server had it set)
    assert timeout == os.environ.get("OPENBLAS_THREAD_TIMEOUT", "4")


@pytest.mark.parametrize(
    "platform, methods", [("win32", ["spawn"]), ("darwin", ["spawn", "fork", "forkserver"])]
)
def test_off_linux_each_training_process_is_a_fresh_interpreter(monkeypatch, platform, methods):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: methods)
    assert training_context().get_start_method() == "spawn"
