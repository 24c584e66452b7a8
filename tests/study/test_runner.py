"""`bench run --study`: trials, MLflow parent/child runs, rerun, divergence."""

import optuna
import pytest
from mlflow import MlflowClient

from bench.errors import BenchError
from bench.study import runner, spec
from bench.tracking import default_tracking_uri


@pytest.fixture(scope="module")
def smoke_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("smoke-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("BENCH_HOME", str(home))
    lines = list(runner.run(spec.load("smoke"), progress=False))
    yield home, lines
    mp.undo()


def _runs(experiment, query=""):
    client = MlflowClient(default_tracking_uri())
    return client, client.search_runs([client.get_experiment_by_name(experiment).experiment_id], query)


def test_smoke_study_completes_every_trial_and_tracks_it(smoke_home):
    home, lines = smoke_home
    assert "2 tasks x 2 trials, budget 'cpu'" in lines[0]
    storage = runner.storage_for(None)
    for entry in ("seed000-fc", "seed002-fc"):
        trials = optuna.load_study(study_name=f"smoke/mnist/{entry}", storage=storage).get_trials()
        assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    client, children = _runs("smoke", "tags.kind = 'trial'")
    _, parents = _runs("smoke", "tags.kind = 'parent'")
    assert len(children) == 4 and len(parents) == 2
    parent_ids = {p.info.run_id for p in parents}
    for child in children:
        assert child.info.status == "FINISHED" and child.data.tags["mlflow.parentRunId"] in parent_ids
        assert {"study", "trial", "optuna_study", "state"} <= child.data.tags.keys()
        assert [m.step for m in client.get_metric_history(child.info.run_id, "fid")] == [100, 200]
        paths = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"samples", "curves", "config.json", "generator.pt"} <= paths  # the single-run contents
    assert all(p.info.status == "FINISHED" and "best_fid" in p.data.metrics for p in parents)


def test_running_again_continues_without_duplicates(smoke_home):
    home, _ = smoke_home
    list(runner.run(spec.load("smoke"), progress=False))
    _, children = _runs("smoke", "tags.kind = 'trial'")
    assert len(children) == 4


def test_a_diverging_trial_is_recorded_with_its_reason_and_the_study_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    path = tmp_path / "diverge.toml"
    path.write_text(
        'datasets = ["mnist"]\ntrials = 2\nobjectives = ["fid"]\n[budget]\ncpu = 30\nfull = 30\n'
        '[evaluation]\nfinal_samples = 100\n'
        '[variants.seed000-fc]\nfixed = { lr_d = 1e30, lr_g = 1e30, log_every = 10 }\n'
    )
    lines = list(runner.run(spec.load(str(path)), progress=False))
    assert "2 pruned" in lines[-1]
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

    table = leaderboard.build(spec.load("smoke"))
    assert sorted(table["entry"]) == ["seed000-fc", "seed002-fc"]
    assert (table["complete"] == 2).all() and table["pareto"].any()
    assert table["best_fid"].le(table["median_fid"]).all()
    assert "cpu_seconds" in table and (table["cpu_seconds"] > 0).all()
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
        leaderboard.build(spec.load("lucic"))
