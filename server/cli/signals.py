"""Ctrl-C reaches the main thread, where Python handles it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

_STOPPING = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def signals_for_the_main_thread() -> Iterator[None]:
    """Threads started inside (numpy's BLAS starts its pool when imported) inherit a mask that blocks
    SIGINT and SIGTERM. Otherwise the kernel may hand Ctrl-C to one of them, and a main thread blocked in
    a read (a pipe, a slow disk) would never learn of it."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no POSIX signal masks, nothing to do
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
