"""Ctrl-C and SIGTERM (a cluster scheduler, ``docker stop``), the same for the launcher
and its workers.

The first one stops the work: it raises ``KeyboardInterrupt``, which every layer turns
into a checkpoint, a KILLED run and a requeued slot. Later ones never interrupt that
shutdown; they are counted, so the launcher can say what is still being saved and
force a stop at the third. The count also survives a library that swallows the
``KeyboardInterrupt``: ``interrupted`` stays true.
"""

from __future__ import annotations

import signal
import threading

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
