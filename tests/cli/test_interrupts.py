"""Ctrl-C (SIGINT) on each long-running command: a quiet exit, 0 or 130, never a traceback."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.onnx_models import classifier_bundle

COMMAND = [sys.executable, "-m", "server"]


@pytest.fixture(autouse=True)
def ctrl_c_reaches_the_commands():
    """A shell that starts the test run in the background ignores Ctrl-C for it, and an ignored signal
    stays ignored in every child: the commands here would never see it. A handler instead is reset to the
    default in the child, where Python installs its own."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupt(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return process.returncode, out + err


def test_serve(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([*COMMAND, "serve", "--in-memory", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline().startswith("lookoutvision-emulator ready on ")
    status, output = interrupt(process)
    assert status == 0, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output


def _blocked_reader(fifo: Path, process: subprocess.Popen) -> int:
    """Waits until `process` has opened `fifo` for reading (it then blocks in read); returns our write end."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:  # ENXIO: no reader yet
            assert error.errno == errno.ENXIO
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise TimeoutError("the command never read its images")


def _asleep(process: subprocess.Popen, waits: tuple[str, ...]) -> None:
    """Waits until the command's main thread sleeps in one of the kernel's `waits` (its /proc wchan), where
    the test means to stop it. Before that it still has a few steps to go, and a SIGINT that lands between
    Python's last look at its signals and a blocking call is only seen when the call returns: never, for a
    read of a pipe nobody writes to (a CPython limit for any blocking call; a second Ctrl-C ends it). Sent
    earlier, the train test failed about one run in twenty on a loaded machine. Where there is no /proc, a
    moment's wait instead."""
    wchan = Path(f"/proc/{process.pid}/wchan")
    if not wchan.exists():
        time.sleep(1.0)
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(wait in wchan.read_text() for wait in waits):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise TimeoutError(f"the command never slept in {waits} ({wchan.read_text()})")


def test_train(tmp_path):
    normal, anomaly = tmp_path / "normal", tmp_path / "anomaly"
    normal.mkdir()
    anomaly.mkdir()
    os.mkfifo(normal / "part.png")  # the command blocks reading it, mid-run, until interrupted
    process = subprocess.Popen([*COMMAND, "train", "--project", "p", "--normal", str(normal), "--anomaly",
                                str(anomaly), "--data-dir", str(tmp_path / "data")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    writer = _blocked_reader(normal / "part.png", process)
    try:
        _asleep(process, ("pipe",))  # pipe_read, pipe_wait or anon_pipe_read, by kernel version
        status, output = interrupt(process)
    finally:
        os.close(writer)
    assert status == 130, output
    assert "interrupted" in output and "Traceback" not in output


def test_import_model_waiting_for_a_server(tmp_path):
    with socket.socket() as silent:  # accepts the upload, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen([*COMMAND, "import-model", "--project", "p", "--bundle",
                                    str(classifier_bundle(tmp_path / "b")), "--url", url],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        silent.settimeout(60)
        connection, _ = silent.accept()
        with connection:
            assert connection.recv(4096).startswith(b"POST ")  # the command now waits for an answer
            _asleep(process, ("poll", "select"))  # waiting for the answer (poll_schedule_timeout, ep_poll)
            status, output = interrupt(process)
    assert status == 130, output
    assert "interrupted" in output and "Traceback" not in output
