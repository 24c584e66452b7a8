"""Trial slots in Optuna storage: exact trial counts, however many workers.

A task (one Optuna study) holds exactly ``n`` slots, enqueued once as WAITING trials.
Workers claim a slot by moving it to RUNNING, which the storage does atomically
(journal file and RDB alike), so the total is exact with any number of workers on
any number of machines. ``Study.ask`` would instead create a new trial when the queue
is empty, and ``MaxTrialsCallback`` only stops after the fact: both overshoot.

A claimed trial carries its worker (host, pid) and a heartbeat in its user attributes.
Optuna's own heartbeat only runs inside ``Study.optimize`` and only on RDB storage, so
it can guard neither the journal nor claimed slots: ``sweep`` does it for every storage.
A stale trial is failed and its slot enqueued again with the same parameters, so the
retry resumes from the slot's checkpoint and nothing is counted twice.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from bench.errors import BenchError
from bench.files import home, store_failure
from bench.study import journal

HEARTBEAT_S = 30.0
STALE_AFTER_S = 4 * HEARTBEAT_S  # no heartbeat for this long: the worker is gone
HOST = socket.gethostname()
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
RUN_ATTRS = {"worker", "heartbeat", "requeued", "retry_of", "mlflow_run_id"}  # of one attempt, not of the slot


def storage_for(url: str | None) -> optuna.storages.BaseStorage:
    """The journal file ``mlruns/optuna.journal`` by default, else any Optuna storage URL."""
    if url is None:
        from optuna.storages import JournalStorage

        home().mkdir(parents=True, exist_ok=True)
        path = journal.default_path()
        journal.check(path)  # a damaged end would swallow every record appended after it
        try:
            return JournalStorage(journal.GuardedBackend(path))
        except Exception as e:  # Optuna's reader stops at a damaged line in the middle, with a long traceback
            raise (store_failure(e) or journal.reader_error(path, e)) from None  # or the file cannot be opened for writing
    try:
        return optuna.storages.get_storage(url)
    except Exception as e:  # sqlalchemy and drivers raise many types: bad URL, no driver, no server
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0].rstrip(".")
        raise BenchError(f"--storage {url}: {reason[:200]}; give a reachable database URL such as "
                         "postgresql://user:password@host/db (its driver: pip install -e '.[postgres]'), or leave it out for the journal file") from None


def check_storage(url: str | None) -> None:
    """A one-line error for a storage URL that cannot be used; the default journal file
    is only created when the study starts."""
    if url is not None:
        storage_for(url)


def load_existing(storage, name: str) -> optuna.Study | None:
    """The Optuna study ``name``, or None while nobody has created it (a task's repeats)."""
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def slot(trial: FrozenTrial) -> int | None:
    return trial.user_attrs.get("slot")


def ensure_slots(storage, name: str, directions: list[str], n: int, first_params: dict | None = None,
                 attrs_of: Callable[[int], dict] = lambda i: {}, metric_names: list[str] | None = None) -> optuna.Study:
    """The task's Optuna study with slots ``0..n-1`` enqueued, each exactly once.

    Whoever creates the study fills it; a launcher that finds it already there waits for
    that fill and only tops up when asked for more trials than it holds. Slot 0 gets
    ``first_params`` (a preset's defaults). ``metric_names`` name the objectives in
    optuna-dashboard."""
    try:
        study, created = optuna.create_study(storage=storage, study_name=name, directions=directions), True
    except optuna.exceptions.DuplicatedStudyError:
        study, created = optuna.load_study(storage=storage, study_name=name), False
    with warnings.catch_warnings():  # "experimental" since Optuna 3.2, and what the dashboard reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if metric_names and study.metric_names != metric_names:  # also names a study made before they were named
            study.set_metric_names(metric_names)
    deadline = time.time() + 60
    while not created and "slots" not in study.user_attrs and time.time() < deadline:
        time.sleep(1)  # another launcher is filling it
    have = study.user_attrs.get("slots", 0)
    if n > have:
        taken = {slot(t) for t in study.get_trials(deepcopy=False)}
        for i in range(n):
            if i not in taken:
                study.enqueue_trial((first_params or {}) if i == 0 else {}, user_attrs={"slot": i} | attrs_of(i))
        study.set_user_attr("slots", n)
    return study


def claim(study: optuna.Study, n: int) -> optuna.Trial | None:
    """Move one waiting slot below ``n`` to RUNNING, as ``Study.ask`` does, but never
    create a trial beyond the slots."""
    storage = study._storage  # noqa: SLF001 -- the public Study has no "pop only" call
    for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        if slot(waiting) is None or slot(waiting) >= n:
            continue
        try:
            if not storage.set_trial_state_values(waiting._trial_id, state=TrialState.RUNNING):  # noqa: SLF001
                continue  # another worker took it first
        except UpdateFinishedTrialError:
            continue
        trial = optuna.Trial(study, waiting._trial_id)  # noqa: SLF001 -- what Study.ask builds
        trial.set_user_attr("worker", {"host": HOST, "pid": os.getpid()})
        trial.set_user_attr("heartbeat", time.time())
        return trial
    return None


def pending(study: optuna.Study, n: int) -> int:
    """Slots below ``n`` not finished yet (waiting or running)."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING)) if (slot(t) or 0) < n)


class Heartbeat:
    """Stamps a running trial every ``HEARTBEAT_S`` seconds from a daemon thread."""

    def __init__(self, trial: optuna.Trial):
        self.trial, self.stop = trial, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self.stop.wait(HEARTBEAT_S):
            try:
                self.trial.set_user_attr("heartbeat", time.time())
            except Exception:  # a storage hiccup must not kill training; the next beat retries
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()


def is_stale(trial: FrozenTrial, now: float | None = None) -> bool:
    return stale_reason(trial, now) is not None


def stale_reason(trial: FrozenTrial, now: float | None = None) -> str | None:
    """Why the worker of a running ``trial`` counts as gone, or None while it does not."""
    worker = trial.user_attrs.get("worker")
    if worker and worker["host"] == HOST and not _alive(worker["pid"]):
        return f"its worker, pid {worker['pid']} on this host, is gone"
    last = trial.user_attrs.get("heartbeat")
    if last is None and trial.datetime_start is not None:  # died before its first stamp
        last = trial.datetime_start.timestamp()
    silent = (now or time.time()) - last if last is not None else 0
    if silent > STALE_AFTER_S:
        where = f" (worker pid {worker['pid']} on {worker['host']})" if worker else ""
        return f"no heartbeat for {silent:.0f} s{where}"
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process runs no trial while it sweeps
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed worker whose parent died too lingers as a zombie until init reaps it
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (macOS): trust kill
        return True


def requeue(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Fail ``trial`` and enqueue its slot again with the same parameters. Only the
    worker whose FAIL the storage accepts enqueues, so a slot is never doubled."""
    storage = study._storage  # noqa: SLF001
    try:  # marked first: a finished trial takes no attributes
        storage.set_trial_user_attr(trial._trial_id, "requeued", True)  # noqa: SLF001
        storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)  # noqa: SLF001
    except UpdateFinishedTrialError:
        return False
    attrs = {k: v for k, v in trial.user_attrs.items() if k not in RUN_ATTRS}
    study.enqueue_trial(trial.system_attrs.get("fixed_params", {}) | trial.params, user_attrs=attrs | {"retry_of": trial.number})
    return True


def requeue_if_stale(study: optuna.Study, trial: FrozenTrial, on_stale: Callable[[FrozenTrial], None] = lambda t: None) -> bool:
    """Requeue ``trial`` if its worker is gone (``on_stale`` then ends its run)."""
    if is_stale(trial) and requeue(study, trial):
        on_stale(trial)
        return True
    return False


def sweep(study: optuna.Study, on_stale: Callable[[FrozenTrial], None] = lambda t: None) -> list[int]:
    """Requeue the trials left RUNNING by dead workers; returns their numbers."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [trial.number for trial in running if requeue_if_stale(study, trial, on_stale)]


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Finished trials that count: a requeued trial's retry stands in for it."""
    return [t for t in trials if t.state in FINISHED and not (t.state == TrialState.FAIL and t.user_attrs.get("requeued"))]
