"""What a researcher browses: run names and parameters in MLflow, a parent's leaderboard
row, `bench ui` on a free port, and optuna-dashboard on the study's journal as it is."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from bench import runs
from bench.study import journal
from bench.tracking import default_tracking_uri, free_port

SERVER_START_S = 120  # a loaded 2-core machine starts an MLflow server in tens of seconds


@pytest.fixture(scope="module")
def tiny(tiny_study):
    """conftest's study (two entries, two trials and two repeats each), and a `bench train`
    run of seed000-fc in the same store (in an experiment of its own, as the study's is
    read by other tests). Returns (home, client, seed000-fc's study runs by kind, the train run)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_HOME", str(tiny_study.home))
        train_id, _ = runs.train_run("seed000-fc", steps=10, seed=3, settings=["final_samples=100"], progress=False, experiment="browsing")
        client = MlflowClient(default_tracking_uri())
        study = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.entry = 'seed000-fc'")
        by_kind = {kind: [r for r in study if r.data.tags.get("kind") == kind] for kind in ("parent", "trial", "repeat", "summary")}
        return tiny_study.home, client, by_kind, client.get_run(train_id)


@pytest.fixture(autouse=True)
def _home(tiny_study, monkeypatch):
    """The servers and the journal are found through BENCH_HOME."""
    monkeypatch.setenv("BENCH_HOME", str(tiny_study.home))


def _best(trials):
    """The trial the repeats retrain: the finished one best on the first objective, fid."""
    return min(trials, key=lambda r: r.data.metrics["fid"])


def test_runs_are_named_by_entry_data_set_trial_and_seed(tiny):
    _, _, by_kind, trained = tiny
    assert [r.info.run_name for r in by_kind["parent"]] == ["seed000-fc · mnist"]
    assert sorted(r.info.run_name for r in by_kind["trial"]) == ["seed000-fc · mnist · trial 0 · seed 0", "seed000-fc · mnist · trial 1 · seed 0"]
    best = _best(by_kind["trial"]).data.tags["trial"]
    assert sorted(r.info.run_name for r in by_kind["repeat"]) == [f"seed000-fc · mnist · repeat of trial {best} · seed {seed}" for seed in (1, 2)]
    assert trained.info.run_name == "seed000-fc · mnist · seed 3"


def test_a_train_run_and_a_study_trial_log_the_same_parameters(tiny):
    _, _, by_kind, trained = tiny
    trial, repeat = by_kind["trial"][0], min(by_kind["repeat"], key=lambda r: r.data.params["seed"])
    assert trained.data.params.keys() == trial.data.params.keys() == repeat.data.params.keys()
    assert {"lr_g", "steps", "final_samples", "dataset", "seed"} <= trained.data.params.keys()
    assert (trained.data.params["seed"], trial.data.params["seed"], repeat.data.params["seed"]) == ("3", "0", "1")


def test_the_parent_carries_its_leaderboard_row(tiny):
    home, client, by_kind, _ = tiny
    (parent,) = by_kind["parent"]
    row = json.loads(Path(client.download_artifacts(parent.info.run_id, "leaderboard_row.json", str(home))).read_text())
    numbers = {k: float(v) for k, v in row.items() if isinstance(v, (int, float))}
    assert {"chosen_fid", "median_fid", "repeat_fid_n", "pareto", "device_seconds"} <= numbers.keys()
    assert {k: parent.data.metrics[k] for k in numbers} == pytest.approx(numbers)
    chosen = _best(by_kind["trial"])
    assert parent.data.metrics["chosen_fid"] == pytest.approx(chosen.data.metrics["fid"]) and parent.data.metrics["repeat_fid_n"] == 2


def _answer(url: str, process: subprocess.Popen) -> bytes:
    """The body of ``url`` once the server started as ``process`` answers there."""
    deadline = time.monotonic() + SERVER_START_S
    while True:
        assert process.poll() is None, f"the server exited ({process.returncode}) before answering {url}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, f"nothing answered {url} within {SERVER_START_S} s"
            try:
                process.wait(timeout=0.5)  # between tries; ends at once if the server dies
            except subprocess.TimeoutExpired:
                pass


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C to the server's process group, as a terminal sends it (bench ui starts mlflow,
    which starts uvicorn); then whatever is left of the group is killed."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # the whole group has exited
        pass
    process.wait()


def test_bench_ui_moves_to_a_free_port_when_its_own_is_taken_and_says_which(tiny):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # held, as another server would hold 5000
        port = taken.getsockname()[1]
        process = subprocess.Popen([sys.executable, "-m", "bench", "ui", "--port", str(port)], stdout=subprocess.PIPE, text=True,
                                   start_new_session=True)
        try:
            line = process.stdout.readline()
            assert line.startswith(f"port {port} is taken; MLflow UI on http://127.0.0.1:"), line
            url = line.split(" on ")[1].split()[0]
            assert url != f"http://127.0.0.1:{port}"
            assert b"MLflow" in _answer(url, process)
            experiments = json.loads(_answer(f"{url}/ajax-api/2.0/mlflow/experiments/search?max_results=10", process))
            assert "tiny" in {e["name"] for e in experiments["experiments"]}  # it serves mlruns/
        finally:
            _stop(process)


@pytest.mark.skipif(shutil.which("optuna-dashboard") is None, reason="optuna-dashboard is not installed (pip install -e '.[dev]' has it)")
def test_optuna_dashboard_opens_the_study_journal_as_it_is(tiny):
    port = free_port(0)
    process = subprocess.Popen(["optuna-dashboard", "--host", "127.0.0.1", "--port", str(port), str(journal.default_path())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api/studies"
    try:
        studies = {s["study_name"]: s["study_id"] for s in json.loads(_answer(api, process))["study_summaries"]}
        search = json.loads(_answer(f"{api}/{studies['tiny/mnist/seed000-fc']}", process))
    finally:
        _stop(process)
    assert studies.keys() == {f"tiny/mnist/{entry}{part}" for entry in ("seed000-fc", "seed002-fc") for part in ("", "/repeats")}
    assert search["objective_names"] == ["fid", "kl_uniform"] and [t["state"] for t in search["trials"]] == ["Complete", "Complete"]
