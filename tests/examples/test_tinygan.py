"""The plug-in example: a study that puts examples/tinygan beside dcgan-ns, run by two
workers that load the user's code from the study file's folder."""

import shutil
from pathlib import Path

import optuna
from mlflow import MlflowClient

from bench.study import queue, runner, spec
from bench.tracking import default_tracking_uri

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tinygan"


def test_the_plugin_study_runs_on_two_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    folder = tmp_path / "tinygan"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    study_file = folder / "study.toml"  # the shipped study, at a test's budget
    text = study_file.read_text().replace("trials = 2", "trials = 1").replace("cpu = 300", "cpu = 12")
    study_file.write_text(text.replace("samples = 500", "samples = 100").replace("final_samples = 2000", "final_samples = 200"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not the folder that holds tinygan.py
    lines = list(runner.run(spec.load(str(study_file)), workers=2, progress=False, estimate_cost=False))
    assert "2 workers" in lines[0]
    for entry in ("dcgan-ns", "tinygan"):
        trials = optuna.load_study(study_name=f"study/mnist/{entry}", storage=queue.storage_for(None)).get_trials()
        assert [t.state.name for t in trials] == ["COMPLETE"], entry
    client = MlflowClient(default_tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name("study").experiment_id], "tags.kind = 'trial'")
    by_entry = {r.data.tags["entry"]: r for r in runs}
    assert by_entry["tinygan"].data.params["architecture"] == "tinygan:build"
    assert by_entry["tinygan"].data.params["remedies"] == "tinygan:ModeSeeking:0.1"
    assert "g_modeseeking" in by_entry["tinygan"].data.metrics and "fid" in by_entry["tinygan"].data.metrics
    assert by_entry["dcgan-ns"].data.params["architecture"] == "infogan"
