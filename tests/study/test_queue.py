"""Trial slots: exact counts, one claim per slot, stale trials requeued once."""

import os
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from bench.study import queue


@pytest.fixture(params=["journal", "rdb"])
def storage(request, tmp_path, monkeypatch):
    """The default journal file, and an RDB storage (SQLite here, PostgreSQL for many machines)."""
    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    return queue.storage_for(None if request.param == "journal" else f"sqlite:///{tmp_path}/optuna.db")


def test_slots_are_enqueued_once_and_topped_up_on_request(storage):
    study = queue.ensure_slots(storage, "s", ["minimize"], 3, {"x": 1.0})
    queue.ensure_slots(storage, "s", ["minimize"], 3)  # a second launcher: nothing more
    assert sorted(queue.slot(t) for t in study.get_trials()) == [0, 1, 2]
    assert study.get_trials()[0].system_attrs["fixed_params"] == {"x": 1.0}
    queue.ensure_slots(storage, "s", ["minimize"], 5)  # --trials 5 on a rerun
    assert sorted(queue.slot(t) for t in study.get_trials()) == [0, 1, 2, 3, 4]


def test_claims_never_go_beyond_the_slots(storage):
    study = queue.ensure_slots(storage, "s", ["minimize"], 3)
    claimed = [queue.claim(study, 3) for _ in range(5)]
    assert [t is not None for t in claimed] == [True, True, True, False, False]
    assert len(study.get_trials()) == 3 and queue.pending(study, 3) == 3
    for t in claimed[:3]:
        study.tell(t, 1.0)
    assert queue.pending(study, 3) == 0 and len(queue.counted(study.get_trials())) == 3


def test_a_slot_below_the_requested_count_only_is_claimed(storage):
    study = queue.ensure_slots(storage, "s", ["minimize"], 3)
    assert queue.claim(study, 1).user_attrs["slot"] == 0
    assert queue.claim(study, 1) is None


def test_a_dead_workers_trial_is_requeued_once_with_its_parameters(storage):
    study = queue.ensure_slots(storage, "s", ["minimize"], 1)
    trial = queue.claim(study, 1)
    trial.suggest_float("x", 0, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trial.set_user_attr("worker", {"host": queue.HOST, "pid": int(dead.stdout)})
    frozen = study.get_trials()[0]
    assert queue.is_stale(frozen)
    assert queue.sweep(study) == [0]
    assert queue.sweep(study) == []  # already requeued: never twice
    assert not queue.requeue(study, study.get_trials()[0])
    first, retry = study.get_trials()
    assert first.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.system_attrs["fixed_params"] == {"x": frozen.params["x"]}
    assert retry.user_attrs == {"slot": 0, "retry_of": 0}
    assert queue.counted(study.get_trials()) == []  # the failed attempt does not count
    again = queue.claim(study, 1)
    assert again.suggest_float("x", 0, 1) == frozen.params["x"]


def test_a_live_worker_with_a_fresh_heartbeat_is_not_stale(storage):
    study = queue.ensure_slots(storage, "s", ["minimize"], 1)
    trial = queue.claim(study, 1)
    trial.set_user_attr("worker", {"host": queue.HOST, "pid": os.getppid()})
    assert not queue.is_stale(study.get_trials()[0])
    trial.set_user_attr("worker", {"host": "elsewhere", "pid": 1})
    trial.set_user_attr("heartbeat", 0.0)  # silent for decades
    assert queue.is_stale(study.get_trials()[0])
