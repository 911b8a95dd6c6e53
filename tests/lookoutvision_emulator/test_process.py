"""EmulatorProcess runs this package's server, or another checkout's where asked (bench/quality.py --server)."""

from __future__ import annotations

import textwrap

from lookoutvision_emulator import EmulatorProcess
from lookoutvision_emulator.process import _READY_PREFIX


def test_another_checkouts_server_runs_where_asked(tmp_path):
    """A checkout whose server says it is ready on a URL of its own: the process reports that URL, so that
    checkout's server is the one that ran, with the arguments EmulatorProcess gives it."""
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "__init__.py").write_text("")
    (tmp_path / "server" / "cli.py").write_text(
        textwrap.dedent(
            f"""
            import sys, time

            def main(argv):
                print({_READY_PREFIX!r} + "http://other-checkout/" + argv[0], flush=True)
                time.sleep(60)
                return 0
            """
        )
    )
    with EmulatorProcess(checkout=tmp_path, ready_timeout=20) as other:
        assert other.url == "http://other-checkout/serve"
    assert other.process is not None and other.process.poll() is not None  # stopped on leaving


def test_this_packages_server_runs_by_default():
    with EmulatorProcess() as own:
        assert own.url.startswith("http://127.0.0.1:")
