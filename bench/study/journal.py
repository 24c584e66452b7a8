"""The default Optuna storage, a journal file of one JSON record per line: checked before
Optuna reads it, and cut back to its last complete record on request.

Optuna's reader skips a last line that is cut short or unreadable, and its writers append
after it: the next record then shares that line, so it and everything written after it
are lost, silently while they stay last, and with a 50-line traceback once another record
follows. So a journal whose last line is not a whole record is refused before anything
appends to it, and Optuna's reader errors become one line naming the file, the first
damaged line and the way out.

A process that already holds the storage checks the end again before each append
(``GuardedBackend``), so a writer that died mid-append elsewhere costs nothing more.

Cutting is safe only when no good record follows the damage: Optuna never applied the
damaged lines, so every process has seen exactly the records that are kept. Damage with
good records after it is left to the user (a backup, or cutting by hand at a known cost).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from bench.errors import BenchError
from bench.files import home

TAIL_BYTES = 1 << 16  # records are a few hundred bytes; a longer last line is judged by scan()


def default_path() -> Path:
    return home() / "optuna.journal"


@dataclass(frozen=True)
class Damage:
    path: Path
    line: int  # the first damaged line, from 1
    reason: str
    good_after: int  # complete records after the damaged line: cutting would lose them
    cut_at: int  # bytes up to the end of the last complete record before it

    @property
    def repairable(self) -> bool:
        return self.good_after == 0

    def message(self) -> str:
        keep = self.line - 1
        if self.repairable:
            cut = f"keeps its first {keep} lines, the complete records before it" if keep else "empties it (no complete record comes before it)"
            return f"{self.path}: line {self.line} is {self.reason}, the journal's damaged end; 'bench doctor --repair' backs the file up and {cut}"
        return (f"{self.path}: line {self.line} is {self.reason} and {self.good_after} good records follow it, so bench will not "
                f"cut it; restore the file from a backup, or keep its first {keep} lines by hand "
                f"(head -n {keep}), losing the {self.good_after} records after the damage")


def problem(line: bytes) -> str | None:
    """Why ``line`` is not a whole journal record, or None when it is."""
    if not line.endswith(b"\n"):
        return "cut short (no end of line)"
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        return "not JSON"
    if not isinstance(record, dict) or "op_code" not in record:
        return "not an Optuna record"
    return None


def scan(path: Path) -> Damage | None:
    """Read every line: the first damaged one and what follows it, or None when whole."""
    if not path.exists():
        return None
    first, reason, good_after, offset, cut_at = None, "", 0, 0, 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            bad = problem(line)
            if first is None and bad:
                first, reason = number, bad
            elif first is None:
                cut_at = offset + len(line)
            elif bad is None:
                good_after += 1
            offset += len(line)
    return None if first is None else Damage(path, first, reason, good_after, cut_at)


@contextmanager
def locked(path: Path):
    """Optuna's own write lock on the journal, so no writer is halfway through an append."""
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def check(path: Path) -> None:
    """Refuse a journal whose last line is not a whole record (Optuna would append after it
    and lose what it appends). Only the end is read; the full scan runs when it looks wrong."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return
    with open(path, "rb") as f:
        f.seek(max(0, size - TAIL_BYTES))
        tail = f.read()
    if problem(tail[tail.rfind(b"\n", 0, len(tail) - 1) + 1 :]) is None:
        return
    with locked(path):  # a writer may have been mid-append: judge the finished file
        damage = scan(path)
    if damage is not None:
        raise BenchError(damage.message())


class GuardedBackend(JournalFileBackend):
    """Optuna's journal file backend, refusing to append after a damaged end, and taking
    back an append that fails halfway (a full disk writes part of a record, then refuses
    the rest): the journal keeps its last whole record."""

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path

    def append_logs(self, logs: list[dict]) -> None:
        check(self.path)
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs).encode()  # as Optuna writes them
        with locked(self.path), open(self.path, "ab", buffering=0) as f:  # unbuffered: nothing is written behind our back
            end = os.fstat(f.fileno()).st_size
            try:
                rest = memoryview(text)
                while rest:
                    rest = rest[f.write(rest):]
                os.fsync(f.fileno())
            except BaseException as e:
                f.truncate(end)  # never fails for lack of space: it frees some
                if isinstance(e, OSError) and e.filename is None:
                    e.filename = str(self.path)
                raise


def reader_error(path: Path, error: Exception) -> BenchError:
    """Optuna's reader failed on ``path``: name the damaged line, or the error itself."""
    damage = scan(path)
    if damage is not None:
        return BenchError(damage.message())
    reason = (str(error).strip().splitlines() or [""])[0]
    return BenchError(f"{path}: Optuna cannot read this journal ({type(error).__name__}: {reason[:200]}); restore it from a backup")


def repair(path: Path) -> tuple[Damage, Path] | None:
    """Back the journal up beside itself and cut it back to its last complete record; returns
    (what was cut, the backup), or None when it was whole. Refuses damage with good records after it."""
    with locked(path):
        damage = scan(path)
        if damage is None:
            return None
        if not damage.repairable:
            raise BenchError(damage.message())
        backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        n = 1
        while backup.exists():
            backup, n = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{n}"), n + 1
        shutil.copy2(path, backup)
        with open(backup, "rb+") as f:
            os.fsync(f.fileno())  # the backup is on disk before the original is cut
        with open(path, "rb+") as f:
            f.truncate(damage.cut_at)
            os.fsync(f.fileno())
    return damage, backup
