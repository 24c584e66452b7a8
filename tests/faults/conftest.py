"""A small finished study to damage: built once, copied back before each test."""

import shutil
import subprocess
import sys
from types import SimpleNamespace

import optuna
import pytest
import torch
from mlflow import MlflowClient

from bench.study import queue, runner, spec
from bench.study.worker import Options, Worker
from bench.tracking import MLflowTracker, default_tracking_uri

TASK = "tiny/mnist/seed000-fc"


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory, study_file):
    """``tiny``: one task, one 4-step trial, run to the end by the launcher's and a worker's
    code (the worker in this process: a worker process would import torch and MLflow again).
    Returns (home, study file, a pristine copy of home)."""
    root = tmp_path_factory.mktemp("faults")
    home, path = root / "home", study_file(root, "tiny", trials=1, steps=4, fixed="log_every = 2")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_HOME", str(home))
    # MLflow keeps one engine per database URI for the whole process; without a pool its
    # connections are opened anew, so they reach each test's fresh copy of the file
    mp.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    study = spec.load(str(path))
    options = Options(str(path), study.trials, "cpu", "cpu", None, default_tracking_uri())
    parents = runner.prepare(study, options)
    Worker(options).run()
    list(runner.finish(study, options, parents))
    mp.undo()
    shutil.copytree(home, root / "pristine")
    return home, path, root / "pristine"


@pytest.fixture
def study(finished_study, monkeypatch):
    """A fresh copy of the finished study, at the same path: MLflow keeps absolute artifact paths."""
    home, path, pristine = finished_study
    shutil.rmtree(home)
    shutil.copytree(pristine, home)
    monkeypatch.setenv("BENCH_HOME", str(home))
    return SimpleNamespace(home=home, path=path, task=TASK, client=MlflowClient(default_tracking_uri()), trials=_trials)


@pytest.fixture
def bench_fd(monkeypatch, capfd):
    """Like ``bench``, but capturing file descriptors: what the worker processes print too."""
    from bench import cli

    def run(*args):
        monkeypatch.setattr(sys, "argv", ["bench", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            cli.main()
        captured = capfd.readouterr()
        return exit_info.value.code or 0, captured.out, captured.err

    return run


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _trials(task=TASK):
    return optuna.load_study(study_name=task, storage=queue.storage_for(None)).get_trials()


@pytest.fixture
def abandon_slot_1(study):
    """What a worker leaves when it dies mid-trial: slot 1 RUNNING under a dead pid, its
    MLflow run RUNNING, and its checkpoint cut short by the crash. Returns (trial number,
    run id, checkpoint)."""

    def abandon(pid):
        optuna_study = queue.ensure_slots(queue.storage_for(None), study.task, ["minimize"], 2)
        trial = queue.claim(optuna_study, 2)
        trial.suggest_float("lr_g", 1e-4, 1e-3, log=True)  # as the study's search does
        trial.set_user_attr("worker", {"host": queue.HOST, "pid": pid})
        tags = {"study": "tiny", "kind": "trial", "optuna_study": study.task, "trial": trial.number, "slot": 1, "dataset": "mnist", "entry": "seed000-fc"}
        run_id = MLflowTracker("tiny", "seed000-fc-mnist-trial1", tags).run_id
        trial.set_user_attr("mlflow_run_id", run_id)
        checkpoint = study.home / "studies" / study.task / "slot-1" / "checkpoint.pt"
        checkpoint.parent.mkdir(parents=True)
        torch.save({"step": 2, "weights": torch.zeros(4096)}, checkpoint)
        checkpoint.write_bytes(checkpoint.read_bytes()[:5000])
        return trial.number, run_id, checkpoint

    return abandon
