"""`bench run --study`: trials, MLflow parent/child runs, repeats, rerun, divergence,
a killed worker, several workers."""

import os
import re
import signal
import subprocess
import sys
import time
import tomllib

import optuna
import pytest
import torch
from mlflow import MlflowClient

from bench.errors import BenchError
from bench.cpu import threads_per_process
from bench.study import queue, runner, spec
from bench.tracking import default_tracking_uri


@pytest.fixture(scope="module")
def smoke_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("smoke-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_HOME", str(home))
    said = []  # the line per finished trial, said as it ends
    lines = list(runner.run(spec.load("smoke"), progress=False, say=said.append))
    yield home, lines, said
    mp.undo()


def _runs(experiment, query=""):
    client = MlflowClient(default_tracking_uri())
    return client, client.search_runs([client.get_experiment_by_name(experiment).experiment_id], query)


def test_smoke_study_completes_every_trial_and_tracks_it(smoke_home):
    home, lines, _ = smoke_home
    assert "2 tasks x 2 trials (+2 repeats), budget 'cpu'" in lines[0]
    assert lines[1].startswith("expected on this machine: about ") and "8 trials left" in lines[1]  # measured before any trial
    storage = queue.storage_for(None)
    for entry in ("seed000-fc", "seed002-fc"):
        trials = optuna.load_study(study_name=f"smoke/mnist/{entry}", storage=storage).get_trials()
        assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
        repeats = optuna.load_study(study_name=f"smoke/mnist/{entry}/repeats", storage=storage).get_trials()
        best = min(trials, key=lambda t: t.value)
        assert [t.user_attrs["seed"] for t in repeats] == [101, 102]
        assert all(t.user_attrs["params"] == best.params and t.state.name == "COMPLETE" for t in repeats)
    client, children = _runs("smoke", "tags.kind = 'trial'")
    _, parents = _runs("smoke", "tags.kind = 'parent'")
    assert len(children) == 4 and len(parents) == 2
    assert {c.data.tags["seed"] for c in children} == {"0"}  # the study's seed: trials differ only in their setting
    parent_ids = {p.info.run_id for p in parents}
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["mlflow.parentRunId"] in parent_ids
        assert {"study", "trial", "optuna_study", "state", "host", "device"} <= child.data.tags.keys()
        assert [m.step for m in client.get_metric_history(child.info.run_id, "fid")] == [100, 200]
        paths = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"samples", "curves", "config.json", "generator.pt"} <= paths  # the single-run contents
    assert all(p.info.status == "FINISHED" and "best_fid" in p.data.metrics for p in parents)
    _, repeat_runs = _runs("smoke", "tags.kind = 'repeat'")
    assert sorted(r.data.tags["seed"] for r in repeat_runs) == ["101", "101", "102", "102"]


def test_runs_read_in_mlflow_and_optuna_dashboard(smoke_home):
    from bench import evaluator

    client, children = _runs("smoke", "tags.kind = 'trial'")
    searched = {"seed000-fc": "lr_g", "seed002-fc": "lr_d"}
    for child in children:
        tags = child.data.tags
        assert tags["evaluator_sha256"] == evaluator.load("mnist").sha256 and tags["searched"] == searched[tags["entry"]]
        assert tags["mlflow.source.name"] == "bench run --study smoke" and len(tags["mlflow.source.git.commit"]) == 40
        assert {i.tags[0].value for i in child.inputs.dataset_inputs} == {"train", "test"}
    _, parents = _runs("smoke", "tags.kind = 'parent'")
    for parent in parents:
        params, tags = parent.data.params, parent.data.tags
        name = searched[tags["entry"]]
        assert tags["searched"] == name and params[f"search.{name}"] == "log-float 0.0001..0.001" and params["objectives"] == "fid (minimize)"
        best = client.get_run(tags["best_run_id"])  # the chosen trial's run, linked from the description
        assert best.data.tags["entry"] == tags["entry"] and best.data.tags["trial"] == tags["best_trial"] == params["chosen.trial"]
        assert best.data.metrics["fid"] == pytest.approx(parent.data.metrics["best_fid"])
        assert float(params[f"chosen.{name}"]) == pytest.approx(float(best.data.params[name]))
        assert f"runs/{best.info.run_id})" in tags["mlflow.note.content"]
    storage = queue.storage_for(None)
    for name in ("smoke/mnist/seed000-fc", "smoke/mnist/seed000-fc/repeats"):
        assert optuna.load_study(study_name=name, storage=storage).metric_names == ["fid"]


def test_the_study_summary_holds_the_leaderboard_and_plots(smoke_home):
    client, (summary,) = _runs("smoke", "tags.kind = 'summary'")
    def files(path):
        return {a.path for a in client.list_artifacts(summary.info.run_id, path)}
    assert {f"leaderboard/leaderboard.{f}" for f in ("csv", "md", "html", "json")} <= files("leaderboard")
    assert files("fid_by_step") == {"fid_by_step/mnist.png"}
    assert files("samples/mnist") == {"samples/mnist/seed000-fc.png", "samples/mnist/seed002-fc.png"}
    assert files("importance/mnist") == {"importance/mnist/seed000-fc.png", "importance/mnist/seed002-fc.png"}
    _, parents = _runs("smoke", "tags.kind = 'parent'")
    assert all("leaderboard_row.json" in {a.path for a in client.list_artifacts(p.info.run_id)} for p in parents)
    resolved = client.download_artifacts(summary.info.run_id, "study_resolved.toml", str(smoke_home[0]))
    assert tomllib.loads(open(resolved).read()) == spec.resolved(spec.load("smoke"))  # the study as it ran, defaults applied


def test_while_it_runs_each_trial_gets_a_line_and_the_summary_gives_each_entrys_best(smoke_home):
    _, lines, said = smoke_home
    assert len(said) == 8  # 2 entries x (2 trials + 2 repeats)
    for entry in ("seed000-fc", "seed002-fc"):
        assert sorted(line.split(":")[0] for line in said if line.startswith(f"mnist/{entry} ")) == [
            f"mnist/{entry} repeat seed 101", f"mnist/{entry} repeat seed 102", f"mnist/{entry} trial 0", f"mnist/{entry} trial 1"]
    assert all(re.search(r": finished fid [\d.]+ modes \d+ \([\dhms]+\) \[\d/8 done, ", line) for line in said)
    assert said[-1].endswith("[8/8 done, 0s left]")
    summary = [line for line in lines if "2 complete, 0 pruned, 0 fail" in line]
    assert len(summary) == 2 and all(re.search(r"; best fid [\d.]+ \(trial \d\)$", line) for line in summary)


def test_running_again_continues_without_duplicates(smoke_home, monkeypatch):
    home, *_ = smoke_home
    monkeypatch.setattr(runner, "_run_workers", lambda *args: pytest.fail("a finished study started workers"))
    lines = list(runner.run(spec.load("smoke"), progress=False))
    _, children = _runs("smoke", "tags.kind = 'trial'")
    _, repeats = _runs("smoke", "tags.kind = 'repeat'")
    assert len(children) == 4 and len(repeats) == 4
    assert "2 complete, 0 pruned, 0 fail" in lines[-2]


def test_a_diverging_trial_is_recorded_with_its_reason_and_the_study_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    path = tmp_path / "diverge.toml"
    path.write_text(
        'datasets = ["mnist"]\ntrials = 2\nobjectives = ["fid"]\n[budget]\ncpu = 30\nfull = 30\n'
        '[evaluation]\nfinal_samples = 100\n'
        '[variants.seed000-fc]\nfixed = { lr_d = 1e30, lr_g = 1e30, log_every = 10 }\n'
    )
    lines = list(runner.run(spec.load(str(path)), progress=False, estimate_cost=False))
    assert "2 pruned" in lines[-2]
    _, children = _runs("diverge", "tags.kind = 'trial'")
    assert len(children) == 2
    assert all(c.data.tags["state"] == "diverged" and c.data.tags["prune_reason"].startswith("diverged at step") for c in children)


def test_unknown_budget_is_refused():
    with pytest.raises(BenchError, match="--budget 'huge'; valid: cpu, full"):
        list(runner.run(spec.load("smoke"), budget="huge"))


def test_leaderboard_has_a_row_per_entry_in_every_format(smoke_home, tmp_path):
    import json

    import pandas as pd

    from bench import leaderboard

    smoke = spec.load("smoke")
    table = leaderboard.build(smoke.name, smoke.objectives, smoke.baseline)
    assert list(table.columns) == leaderboard.COLUMNS
    assert sorted(table["entry"]) == ["seed000-fc", "seed002-fc"]
    assert (table["complete"] == 2).all() and table["pareto"].any()
    assert (table["repeat_fid_n"] == 2).all() and (table["baseline_n"] == 2).all()
    assert (table["repeat_fid_ci_low"] <= table["repeat_fid_mean"]).all() and (table["repeat_fid_mean"] <= table["repeat_fid_ci_high"]).all()
    baseline = table["entry"] == "seed000-fc"  # the first entry, by default
    assert table.loc[baseline, "p_welch_vs_baseline"].isna().all() and table.loc[~baseline, "p_welch_vs_baseline"].between(0, 1).all()
    assert (table.loc[~baseline, "p_holm_vs_baseline"] == table.loc[~baseline, "p_welch_vs_baseline"]).all()  # one test: Holm changes nothing
    assert table["best_fid"].le(table["median_fid"]).all()
    assert {"best_ndb_k", "best_distinct_images", "best_coverage_min", "collapsed_at_step", "collapsed_trials"} <= set(table)
    assert table["collapsed_trials"].between(0, table["complete"]).all()
    assert table["collapsed_at_step"].dropna().isin([100, 200]).all()  # the evaluation steps
    assert (table["device"] == "cpu").all() and (table["device_seconds"] > 0).all()
    for fmt in ("csv", "md", "html", "latex"):
        text = leaderboard.export(table, fmt)
        assert "seed000-fc" in text and "seed002-fc" in text
    assert len(json.loads(leaderboard.export(table, "json"))) == 2
    leaderboard.export(table, "parquet", tmp_path / "board.parquet")
    assert pd.read_parquet(tmp_path / "board.parquet")["entry"].tolist() == table["entry"].tolist()
    with pytest.raises(BenchError, match="--format 'xlsx'; valid: csv, md"):
        leaderboard.export(table, "xlsx")


def test_leaderboard_of_a_study_never_run(tmp_path, monkeypatch):
    from bench import leaderboard

    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    with pytest.raises(BenchError, match="has no runs yet; run it with 'bench run --study lucic'"):
        leaderboard.build("lucic", [("fid", "minimize")], "dcgan-mm")


def test_a_worker_killed_mid_trial_is_resumed_from_its_checkpoint_and_counted_once(tmp_path, monkeypatch, study_file):
    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_HOME", str(home))
    # killed as soon as the first checkpoint is there (step 50): as in the Ctrl-C test below, the
    # 450 steps left give the kill hundreds of steps to land in, however loaded the machine (it
    # slows the worker as much); the rerun trains only what is left of the 500
    path = study_file(tmp_path, "killed", 1, 500, "log_every = 25, checkpoint_every = 50")
    launcher = subprocess.Popen([sys.executable, "-m", "bench", "run", "--study", str(path), "--device", "cpu", "--no-progress", "--no-estimate"],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = home / "studies" / "killed" / "mnist" / "seed000-fc" / "slot-0" / "checkpoint.pt"
    while not checkpoint.exists() and launcher.poll() is None:  # however long a loaded machine takes
        time.sleep(0.05)
    os.killpg(launcher.pid, signal.SIGKILL)  # the launcher and its worker die at once
    launcher.wait()
    killed_at = torch.load(checkpoint, weights_only=True)["step"]
    assert 0 < killed_at < 500

    lines = list(runner.run(spec.load(str(path)), progress=False, estimate_cost=False))
    assert "swept 1 trial" in lines[1]
    trials = optuna.load_study(study_name="killed/mnist/seed000-fc", storage=queue.storage_for(None)).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]  # the dead attempt, then its retry
    assert [t.user_attrs["slot"] for t in trials] == [0, 0] and trials[1].params == trials[0].params
    assert "1 complete, 0 pruned, 0 fail" in lines[-2]
    client, runs = _runs("killed", "tags.kind = 'trial'")
    first, retry = sorted(runs, key=lambda r: r.info.start_time)
    assert first.info.status == "KILLED" and first.data.tags["state"] == "killed"
    assert retry.info.status == "FINISHED" and retry.data.tags["state"] == "finished"
    retry_steps = [m.step for m in client.get_metric_history(retry.info.run_id, "loss_d")]
    assert min(retry_steps) > killed_at  # trained on from the checkpoint, not from step 0
    from bench import leaderboard

    killed = spec.load(str(path))
    row = leaderboard.build(killed.name, killed.objectives, killed.baseline).iloc[0]
    assert (row["complete"], row["failed"]) == (1, 0)
    assert not checkpoint.exists()  # a finished trial's checkpoint is removed; its generator is in MLflow


def test_two_workers_make_exactly_the_trials_asked_for(tmp_path, monkeypatch, study_file):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    path = study_file(tmp_path, "pair", 3, 40)
    lines = list(runner.run(spec.load(str(path)), workers=2, progress=False, estimate_cost=False))
    assert "2 workers" in lines[0]
    trials = optuna.load_study(study_name="pair/mnist/seed000-fc", storage=queue.storage_for(None)).get_trials()
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    assert sorted(t.user_attrs["slot"] for t in trials) == [0, 1, 2]
    assert len({t.user_attrs["worker"]["pid"] for t in trials}) == 2  # both took part
    _, runs = _runs("pair", "tags.kind = 'trial'")
    assert len(runs) == 3
    shared = threads_per_process(2)  # the cores shared out: two workers never oversubscribe them
    assert f"({shared} CPU thread{'s' * (shared > 1)} each)" in lines[0]
    assert {r.data.tags["threads"] for r in runs} == {str(shared)}




def test_ctrl_c_checkpoints_the_trial_marks_its_run_killed_and_the_rerun_resumes_it(tmp_path, monkeypatch, study_file):
    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_HOME", str(home))
    # the interrupt is sent as soon as training has begun (the progress file): 500 steps leave it
    # hundreds of steps to arrive in, however loaded the machine (it slows the worker as much)
    path = study_file(tmp_path, "interrupted", 1, 500, "log_every = 20, checkpoint_every = 100000")
    launcher = subprocess.Popen([sys.executable, "-m", "bench", "run", "--study", str(path), "--device", "cpu", "--no-progress", "--no-estimate"],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress = home / "progress"
    while not (progress.exists() and any(progress.iterdir())) and launcher.poll() is None:
        time.sleep(0.05)  # the worker has logged its first steps
    os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = launcher.communicate()
    assert launcher.returncode == 130 and "run the same command to continue" in err
    checkpoint = home / "studies" / "interrupted" / "mnist" / "seed000-fc" / "slot-0" / "checkpoint.pt"
    stopped_at = torch.load(checkpoint, weights_only=True)["step"]  # written by Ctrl-C, not by checkpoint_every
    assert 0 < stopped_at < 500
    _, (killed,) = _runs("interrupted", "tags.kind = 'trial'")
    assert killed.info.status == "KILLED" and killed.data.tags["state"] == "killed"

    lines = list(runner.run(spec.load(str(path)), progress=False, estimate_cost=False))
    assert "1 complete, 0 pruned, 0 fail" in lines[-2]
    client, runs = _runs("interrupted", "tags.kind = 'trial'")
    retry = max(runs, key=lambda r: r.info.start_time)
    assert retry.info.status == "FINISHED" and min(m.step for m in client.get_metric_history(retry.info.run_id, "loss_d")) > stopped_at


def test_sigterm_to_the_launcher_alone_stops_every_worker_and_a_second_signal_does_not_break_the_save(tmp_path, monkeypatch, study_file):
    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_HOME", str(home))
    path = study_file(tmp_path, "terminated", 1, 500, "log_every = 20, checkpoint_every = 100000")
    launcher = subprocess.Popen([sys.executable, "-m", "bench", "run", "--study", str(path), "--device", "cpu", "--no-progress", "--no-estimate"],
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    progress = home / "progress"
    while not (progress.exists() and any(progress.iterdir())) and launcher.poll() is None:
        time.sleep(0.05)  # the worker has logged its first steps
    launcher.send_signal(signal.SIGTERM)  # as a scheduler or `docker stop` does: the launcher only
    os.killpg(launcher.pid, signal.SIGINT)  # and an impatient Ctrl-C on top, to everyone
    _, err = launcher.communicate()
    assert launcher.returncode == 130 and "run the same command to continue" in err
    checkpoint = home / "studies" / "terminated" / "mnist" / "seed000-fc" / "slot-0" / "checkpoint.pt"
    assert 0 < torch.load(checkpoint, weights_only=True)["step"] < 500
    _, (killed,) = _runs("terminated", "tags.kind = 'trial'")
    assert killed.info.status == "KILLED"
    trials = optuna.load_study(study_name="terminated/mnist/seed000-fc", storage=queue.storage_for(None)).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]  # requeued for the next run


@pytest.mark.parametrize("option, message", [
    ({"storage": "nonsense"}, r"--storage nonsense: .*; give a reachable database URL"),
    ({"tracking_uri": "http://127.0.0.1:9"}, r"--tracking-uri http://127.0.0.1:9: .*; give sqlite:///PATH or http://HOST:PORT"),
])
def test_unusable_stores_stop_before_anything_is_written(tmp_path, monkeypatch, option, message):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(BenchError, match=message) as error:
        list(runner.run(spec.load("smoke"), progress=False, **option))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "home" / "mlflow.db").exists() and not (tmp_path / "home" / "studies").exists()


def test_a_launcher_that_finishes_first_leaves_the_summary_to_the_last(tmp_path, monkeypatch):
    """Several machines: a launcher whose workers ran out of slots while trials still run
    elsewhere must not publish a leaderboard of half the study."""
    from bench.study.worker import Options

    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    study = spec.load("smoke")
    options = Options(str(study.path.resolve()), 2, "cpu", "cpu", None, default_tracking_uri())
    parents = runner.prepare(study, options)  # every slot still waiting, as if claimed elsewhere
    lines = list(runner.finish(study, options, parents))
    assert "2 tasks still running on other workers" in lines[-1]
    _, summaries = _runs("smoke", "tags.kind = 'summary'")
    assert summaries == []
    _, open_parents = _runs("smoke", "tags.kind = 'parent'")
    assert {p.info.status for p in open_parents} == {"RUNNING"}
