"""A full disk and a read-only store: one line naming the file and the way out, nothing
half-written (journal, MLflow database, checkpoints), and the study goes on once the disk
is fixed. The disks are small tmpfs mounts and read-only bind mounts, where this machine
lets a test mount them; elsewhere the tests are skipped and say why."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
import pytest
import torch
from mlflow import MlflowClient

from bench.files import store_failure
from bench.study import journal, queue
from bench.tracking import default_tracking_uri


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount {' '.join(args)} is not permitted here ({done.stderr.strip() or done.returncode}); these tests need a tmpfs or bind mount")


@pytest.fixture
def mounts():
    """Mounts made by the test, unmounted afterwards (last first)."""
    made: list[Path] = []

    def mount(*args: str) -> None:
        _mount(*args)
        made.append(Path(args[-1]))

    yield mount
    for point in reversed(made):
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(folder: Path, leave: int = 0) -> Path:
    """A file that takes the disk's free space, but ``leave`` bytes."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        room = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize - leave
        try:
            while room > 0:
                room -= f.write(b"\0" * min(room, 1 << 20))
            f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def intact(home: Path) -> None:
    """Nothing half-written: the journal ends with a whole record, SQLite finds the MLflow
    database sound, every checkpoint loads and no save left its temp file."""
    assert journal.scan(home / "optuna.journal") is None
    with closing(sqlite3.connect(f"file:{home / 'mlflow.db'}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for checkpoint in (home / "studies").rglob("checkpoint.pt"):
        assert torch.load(checkpoint, weights_only=True)["step"] > 0
    assert not list(home.rglob(".checkpoint.pt.*")) and not list(home.rglob("*.damaged-*"))


def test_only_a_refused_write_is_turned_into_a_one_line_store_failure():
    full = OSError(errno.ENOSPC, "No space left on device", "/x/checkpoint.pt")
    try:  # as MLflow wraps what SQLite says
        raise RuntimeError("(sqlite3.OperationalError) attempt to write a readonly database\n[SQL: UPDATE runs]") from None
    except RuntimeError as e:
        read_only = e
    chained = ValueError("while saving")
    chained.__context__ = full
    assert str(store_failure(full)).startswith("/x/checkpoint.pt: No space left on device; free space on the disk that holds")
    assert str(store_failure(chained)) == str(store_failure(full))
    assert str(store_failure(read_only)).startswith("the MLflow database: attempt to write a readonly database; make")
    for other in (OSError(errno.ENOENT, "No such file or directory", "/x"), ValueError("a bug"), KeyError("disk")):
        assert store_failure(other) is None  # a bug stays a bug, with its traceback


def test_a_journal_append_the_full_disk_refuses_is_taken_back_whole(tmp_path, mounts, monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounts("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk))
    monkeypatch.setenv("BENCH_HOME", str(disk))
    study = optuna.create_study(study_name="full", storage=queue.storage_for(None))
    study.enqueue_trial({}, user_attrs={"slot": 0})
    before = (disk / "optuna.journal").read_bytes()
    fill(disk, leave=100)  # less than one record with this attribute
    with pytest.raises(OSError) as refused:
        study.set_user_attr("note", "x" * 5000)
    assert (disk / "optuna.journal").read_bytes() == before  # the part that fitted is gone again
    message = str(store_failure(refused.value))
    assert message.startswith(f"{disk / 'optuna.journal'}: No space left on device; free space on the disk that holds {disk}")
    assert "\n" not in message
    (disk / "filler").unlink()
    study.set_user_attr("note", "x" * 5000)  # room again: appends go on after the last whole record
    assert optuna.load_study(study_name="full", storage=queue.storage_for(None)).user_attrs["note"] == "x" * 5000


def test_bench_run_on_a_full_disk_says_so_in_one_line_and_leaves_every_file_whole(study, bench, mounts):
    pristine = {p: p.read_bytes() for p in study.home.rglob("*") if p.is_file()}
    mounts("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(study.home))  # the finished study, copied onto a small disk
    for path, data in pristine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    fill(study.home)

    code, _, err = bench("run", "--study", study.path, "--trials", "2", "--no-progress")  # slot 1 is enqueued, its parent run reopened
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert (f"{study.home / 'optuna.journal'}: No space left on device" in err or "the MLflow database: database or disk is full" in err), err
    assert f"; free space on the disk that holds {study.home} (0.0 MB free), then run the same command again to continue" in err
    journal_bytes = (study.home / "optuna.journal").read_bytes()
    assert journal_bytes.startswith(pristine[study.home / "optuna.journal"])  # whole records appended, if any fitted
    intact(study.home)
    code, out, _ = bench("doctor")
    assert "damaged" not in out, out


def test_a_read_only_store_is_refused_in_one_line_before_anything_is_written(study, bench, mounts):
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in study.home.rglob("*")}
    mounts("--bind", str(study.home), str(study.home))
    _mount("-o", "remount,bind,ro", str(study.home))
    for command in (["run", "--study", study.path, "--trials", "2", "--no-progress"], ["train", "--variant", "seed000-fc", "--steps", "2"]):
        code, _, err = bench(*command)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
        assert f"error: {study.home}: cannot write there (Read-only file system); make it writable, or set BENCH_HOME" in err
    subprocess.run(["umount", str(study.home)], check=True)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in study.home.rglob("*")} == before


@pytest.mark.long
def test_a_disk_that_fills_mid_trial_stops_the_study_cleanly_and_it_resumes_once_space_is_freed(tmp_path, mounts, monkeypatch, study_file):
    home = tmp_path / "home"
    home.mkdir()
    mounts("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(home))
    monkeypatch.setenv("BENCH_HOME", str(home))
    path = study_file(tmp_path, "full", 2, 200, "log_every = 10, checkpoint_every = 20")
    command = [sys.executable, "-m", "bench", "run", "--study", str(path), "--no-progress"]
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoint = home / "studies" / "full" / "mnist" / "seed000-fc" / "slot-0" / "checkpoint.pt"
    deadline = time.time() + 600  # a safety net: the wait is for the first checkpoint
    while not checkpoint.exists() and launcher.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    filler = fill(home, leave=16 << 10)  # the run fills the rest: its next checkpoint (or metric) does not fit
    _, err = launcher.communicate(timeout=600)

    assert launcher.returncode == 1 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: worker 0 could not write under") and f"free space on the disk that holds {home}" in last, err
    assert "No space left on device" in err or "database or disk is full" in err  # the worker's own line names the file
    intact(home)
    code = subprocess.run([sys.executable, "-m", "bench", "doctor"], capture_output=True, text=True)
    assert "damaged" not in code.stdout, code.stdout
    stopped_at = torch.load(checkpoint, weights_only=True)["step"]

    filler.unlink()
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "2 complete, 0 pruned, 0 fail" in done.stdout, done.stdout + done.stderr
    trials = optuna.load_study(study_name="full/mnist/seed000-fc", storage=queue.storage_for(None)).get_trials()
    assert sorted(t.user_attrs["slot"] for t in queue.counted(trials)) == [0, 1]
    client = MlflowClient(default_tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("full").experiment_id], "tags.slot = '0'")
    retry = max(runs, key=lambda r: r.info.start_time)
    assert min(m.step for m in client.get_metric_history(retry.info.run_id, "loss_d")) == stopped_at + 10  # from its checkpoint
    assert {r.info.status for r in runs} <= {"KILLED", "FINISHED"}
    code = subprocess.run([sys.executable, "-m", "bench", "doctor"], capture_output=True, text=True)
    assert code.returncode == 0, code.stdout
