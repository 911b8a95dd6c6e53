"""How training processes start (server/backend/training.py): the fork server's children find the trainer's
modules loaded; the rest of CreateModel's life runs against the real server in tests/handlers."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_a_server_started_from_another_copy_trains_with_that_copys_code(tmp_path):
    """A server whose sys.path (not its environment) points at another copy of this project, as
    EmulatorProcess(checkout=...) starts one, trains with that copy's trainer: Python 3.11's fork server is
    handed the server's sys.path but does not apply it (the installed copy's trainer ran instead)."""
    copy = tmp_path / "copy"
    shutil.copytree(Path(__file__).resolve().parents[2] / "server", copy / "server",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    probe = "import server.training.trainer as t, sys; print('FROM', t.__file__, flush=True)"
    script = (
        f"import sys; sys.path.insert(0, {str(copy)!r})\n"
        "from server.backend.training import training_context\n"
        f"process = training_context().Process(target=exec, args=({probe!r},))\n"
        "process.start(); process.join(60); sys.exit(process.exitcode)\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=environment)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"FROM {copy / 'server' / 'training' / 'trainer.py'}" in done.stdout.splitlines(), done.stdout


@pytest.mark.parametrize(
    "platform, methods", [("win32", ["spawn"]), ("darwin", ["spawn", "fork", "forkserver"])]
)
def test_off_linux_each_training_process_is_a_fresh_interpreter(monkeypatch, platform, methods):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: methods)
    assert training_context().get_start_method() == "spawn"
