"""Run the emulator as a child process on a free loopback port, and wait for it with a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The server prints this, then its URL, once it accepts connections (server/cli/serve.py: READY_LINE).
_READY_PREFIX = "lookoutvision-emulator ready on "
# Started this way, the server's package is found beside this one even when the current folder or
# PYTHONPATH holds another module called `server`.
_LAUNCH = (
    "import sys; sys.path.insert(0, {root!r}); from server.cli import main; sys.exit(main(sys.argv[1:]))"
)


class EmulatorProcess:
    """`with EmulatorProcess() as emulator: ... emulator.url ...`

    The server prints its URL once it accepts connections; if that line does not come within
    `ready_timeout` seconds, or the process dies first, start() fails with the server's output
    instead of hanging. `checkout`: run the server of another checkout of this project (a benchmark
    against an earlier version) instead of this package's own.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        ready_timeout: float = 30.0,
        checkout: str | Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.root = Path(checkout) if checkout is not None else Path(__file__).resolve().parent.parent
        self.extra_args = extra_args or []
        self.env = env
        self.ready_timeout = ready_timeout
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        # The log lives as long as this object; __exit__ closes and removes it.
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="lookoutvision-emulator-", suffix=".log", delete=False
        )

    @property
    def log_path(self) -> Path:
        return Path(self._log.name)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def start(self) -> EmulatorProcess:
        command = [
            sys.executable,
            "-c",
            _LAUNCH.format(root=str(self.root.resolve())),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        command += ["--data-dir", str(self.data_dir)] if self.data_dir is not None else ["--in-memory"]
        command += self.extra_args
        environment = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        # Output goes to a file: a pipe nobody reads would fill up and stall the server.
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=environment, cwd=tempfile.gettempdir()
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            for line in self.output().splitlines():
                if line.startswith(_READY_PREFIX):
                    self.url = line[len(_READY_PREFIX) :].strip()
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.01)
        self.stop()
        raise TimeoutError(f"the emulator was not ready within {self.ready_timeout} s:\n{self.output()}")

    def stop(self, kill: bool = False) -> None:
        """Stop politely (SIGTERM), or abruptly (SIGKILL) to simulate a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        if kill:
            self.process.kill()
        elif sys.platform == "win32":  # (an if statement, so that type checkers know the platforms apart)
            self.process.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
        self._log.close()
        self.log_path.unlink(missing_ok=True)
