"""Where bench writes (``mlruns/`` by default) and how: atomically, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def home() -> Path:
    """Root of everything runs write; ``BENCH_HOME`` overrides ``./mlruns``."""
    return Path(os.environ.get("BENCH_HOME", "mlruns"))


def cache_dir() -> Path:
    """Reference features and calibrations; ``BENCH_CACHE`` lets several homes share one."""
    return Path(os.environ.get("BENCH_CACHE") or home() / "cache")


def atomic_write(path: Path, write, durable: bool = False) -> None:
    """Call ``write(file_object)`` on a temp file beside ``path``, then rename it into
    place: readers see the old file or the new one, never half of one. ``durable``
    also flushes both to disk first, so a crash of the machine keeps one of them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself
        finally:
            os.close(directory)


def atomic_torch_save(obj, path: Path) -> None:
    """Checkpoints and generators: atomic and durable."""
    atomic_write(path, lambda f: torch.save(obj, f), durable=True)
