"""What importing the trainer sets up for the process (server/training/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# numpy loads OpenBLAS after the trainer's package: what it reads then is the variable's value
PRINTS_TIMEOUT = "import server.training, numpy, os; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"


def timeout_seen(environment: dict[str, str]) -> str:
    finished = subprocess.run([sys.executable, "-c", PRINTS_TIMEOUT], cwd=ROOT, env=environment,
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return finished.stdout.strip()


def test_openblas_threads_sleep_at_once_in_a_process_that_imports_the_trainer_first():
    """OpenBLAS's threads are told to sleep as soon as a product ends (they would spin on the cores that
    onnxruntime's next run needs), unless the user chose otherwise."""
    environment = {name: value for name, value in os.environ.items() if name != "OPENBLAS_THREAD_TIMEOUT"}
    assert timeout_seen(environment) == "4"
    assert timeout_seen({**environment, "OPENBLAS_THREAD_TIMEOUT": "12"}) == "12"
