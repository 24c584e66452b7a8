"""Where bench writes (``mlruns/`` by default) and how: atomically, never half-written."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path

from bench.errors import BenchError, RunFailed

FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
# SQLite's words for the same (MLflow and SQLAlchemy wrap them in their own exceptions)
SQLITE_FULL, SQLITE_READ_ONLY = "database or disk is full", "attempt to write a readonly database"
STORE_EXIT = 3  # a worker's exit code for a store it cannot write: the launcher then names the disk


def home() -> Path:
    """Root of everything runs write; ``BENCH_HOME`` overrides ``./mlruns``."""
    return Path(os.environ.get("BENCH_HOME", "mlruns"))


def default_tracking_uri() -> str:
    return f"sqlite:///{home() / 'mlflow.db'}"


def free_port(wanted: int, host: str = "127.0.0.1") -> int:
    """``wanted`` if nothing holds it on ``host``, else a port the system says is free."""
    for port in (wanted, 0):
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:  # taken (another MLflow UI, say)
                continue
            return probe.getsockname()[1]
    raise BenchError(f"no free port on {host}")


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a saved file gets the mode open() would give it
        with os.fdopen(fd, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, OSError) and e.filename in (None, tmp):  # name the file being saved, not its temp
            e.filename = str(path)
        raise
    if durable:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself
        finally:
            os.close(directory)


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_torch_save(obj, path: Path) -> None:
    """Checkpoints and generators: atomic and durable."""
    import torch  # here: `bench ui` reads this module and never needs torch

    atomic_write(path, lambda f: torch.save(obj, f), durable=True)


def store_failure(error: BaseException) -> RunFailed | None:
    """A write the disk refused (full, read-only, not permitted), anywhere in ``error``'s
    chain, as one line naming the file and the way out; None for anything else, which
    stays the bug it is."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in FULL + READ_ONLY:
            return _refused(error.filename or home(), error.strerror, error.errno in FULL)
        for words, full in ((SQLITE_FULL, True), (SQLITE_READ_ONLY, False)):
            if words in str(error):
                return _refused("the MLflow database", words, full)
        error = error.__cause__ or error.__context__
    return None


def _refused(where, why: str, full: bool) -> RunFailed:
    if full:
        return RunFailed(f"{where}: {why}; {free_space()}, then run the same command again to continue")
    return RunFailed(f"{where}: {why}; make {home()} writable (or set BENCH_HOME to a writable folder), then run the same command again")


def free_space() -> str:
    """The way out of a full disk, with what is free now."""
    try:
        free = f"{shutil.disk_usage(home()).free / 2**20:.1f} MB free"
    except OSError:
        free = "not found"
    return f"free space on the disk that holds {home()} ({free})"


def check_writable() -> None:
    """Before anything is written: a home that cannot be written (a read-only mount, no
    permission) in one line. Probed with an empty temp file in it, or in the nearest folder
    above it that exists, since it is created when the work starts."""
    folder = home().absolute()
    while not folder.exists():
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".bench-probe-")
    except OSError as e:
        raise BenchError(f"{home()}: cannot write there ({e.strerror}); make it writable, or set BENCH_HOME to a writable folder") from None
    os.close(fd)
    os.unlink(probe)


def toml_text(data: dict, comment: str = "") -> str:
    """``data`` as TOML for people to read and edit, after ``comment``. A table of plain
    values two tables down is written inline, as people write a search parameter:
    ``[variants.x.search]`` then ``lr_g = { type = "log-float", low = 5e-05, high = 0.001 }``."""
    import tomlkit

    def styled(value, depth: int):
        if not isinstance(value, dict):
            return value
        if depth >= 3 and not any(isinstance(v, dict) for v in value.values()):
            table = tomlkit.inline_table()
            table.update(value)
            return table
        return {k: styled(v, depth + 1) for k, v in value.items()}

    document = tomlkit.document()
    for line in comment.splitlines():
        document.add(tomlkit.comment(line))
    document.update(styled(data, 0))
    return tomlkit.dumps(document)
