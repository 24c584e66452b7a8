"""Ctrl-C and SIGTERM (a cluster scheduler, ``docker stop``), the same for the launcher
and its workers.

The first one stops the work: it raises ``KeyboardInterrupt``, which every layer turns
into a checkpoint, a KILLED run and a requeued slot. Later ones never interrupt that
shutdown; they are counted, so the launcher can say what is still being saved and
force a stop at the third. The count also survives a library that swallows the
``KeyboardInterrupt``: ``interrupted`` stays true. Inside ``held()`` (a train step) a
signal waits for the block's end.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

KINDS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """``install()`` for a process's lifetime, or ``with Interrupts() as i:`` for a
    while (the previous handlers come back). Only the main thread can take signals;
    elsewhere nothing is installed and the count stays 0."""

    def __init__(self):
        self.count = 0
        self._previous: dict = {}

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    def install(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {kind: signal.signal(kind, self._handle) for kind in KINDS}
        return self

    def __enter__(self) -> Interrupts:
        return self.install()

    def __exit__(self, *exc) -> None:
        for kind, handler in self._previous.items():
            signal.signal(kind, handler)

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt


@contextmanager
def held():
    """Ctrl-C or SIGTERM inside the block takes effect as the block ends (then as the
    handlers outside it say): a train step is never cut between D's and G's updates, so
    a checkpoint never holds half a step. Four ``sigaction`` calls, microseconds a step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {kind: signal.signal(kind, lambda signum, frame: caught.append(signum)) for kind in KINDS}
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, signal.SIG_DFL if handler is None else handler)
        for signum in caught:
            signal.raise_signal(signum)
