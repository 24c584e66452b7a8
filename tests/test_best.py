"""`bench best` writes an entry's chosen trial as a configuration file, and `bench train
--config` trains it again: the same numbers and weights on CPU, with --set on top."""

import tomllib

import pandas as pd
import pytest
import torch
from mlflow import MlflowClient

from bench import leaderboard
from bench.cpu import threads_per_process
from bench.gan import variants
from bench.study import spec
from bench.tracking import default_tracking_uri


@pytest.fixture
def tiny_study(in_tiny_study):
    """conftest's study (two trials of seed000-fc among them, run by two workers, each
    training on half the cores, not the thread count this process has): a chosen trial to
    take out. Returns (home, study file)."""
    return in_tiny_study.home, in_tiny_study.path


def _chosen(study_path):
    """The leaderboard's chosen trial run of the tiny study's seed000-fc."""
    study = spec.load(str(study_path))
    (row,) = [row for row in leaderboard.build(study.name, study.objectives, study.baseline).itertuples() if row.entry == "seed000-fc"]
    client = MlflowClient(default_tracking_uri())
    (run,) = client.search_runs([client.get_experiment_by_name(study.name).experiment_id],
                                f"tags.kind = 'trial' and tags.entry = 'seed000-fc' and tags.trial = '{row.chosen_trial}'")
    return client, run


def _config_json(client, run):
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(open(client.download_artifacts(run.info.run_id, "config.json", tmp)).read())


def _history(client, run):
    return {key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)] for key in run.data.metrics}


def _generator(client, run, folder):
    return torch.load(client.download_artifacts(run.info.run_id, "generator.pt", str(folder)), weights_only=True)["generator"]


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_best_writes_the_chosen_trial_and_train_config_reproduces_its_numbers_and_weights(tiny_study, in_tiny_study, bench, tmp_path,
                                                                                        keep_threads):
    home, study_path = tiny_study
    client, trial = _chosen(study_path)
    out = tmp_path / "best.toml"
    code, said, err = bench("best", "--study", study_path, "--entry", "seed000-fc", "--out", out)
    assert code == 0, err
    assert str(out) in said
    saved = tomllib.loads(out.read_text())
    assert (saved["variant"], saved["dataset"], saved["seed"]) == ("seed000-fc", "mnist", 0)
    assert saved["threads"] == int(trial.data.tags["threads"]) == threads_per_process(2)
    assert saved["settings"] == _config_json(client, trial)  # every setting it trained with
    assert saved["settings"]["steps"] == in_tiny_study.steps and saved["settings"]["final_samples"] == 100
    assert saved["settings"]["lr_g"] == float(trial.data.params["lr_g"])  # the sampled rate, to the last bit
    assert f"trial {trial.data.tags['trial']}" in out.read_text()
    code, printed, _ = bench("best", "--study", study_path, "--entry", "seed000-fc")  # without --out: the same text on stdout
    assert code == 0 and printed == out.read_text()

    code, said, err = bench("train", "--config", out, "--device", "cpu")
    assert code == 0, err
    (again,) = client.search_runs([client.get_experiment_by_name("bench").experiment_id], "tags.variant = 'seed000-fc'")
    assert again.data.params == trial.data.params  # every resolved setting, seed and data set
    assert again.data.tags["threads"] == trial.data.tags["threads"]
    assert _history(client, again) == _history(client, trial)  # losses and every metric, step by step
    assert again.data.metrics["fid"] == trial.data.metrics["fid"]
    ours, theirs = _generator(client, again, tmp_path / "a"), _generator(client, trial, tmp_path / "b")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_set_on_top_of_a_config_changes_that_setting_and_the_result(tiny_study, bench, tmp_path, keep_threads):
    home, study_path = tiny_study
    client, trial = _chosen(study_path)
    out = tmp_path / "best.toml"
    assert bench("best", "--study", study_path, "--entry", "seed000-fc", "--out", out)[0] == 0
    code, _, err = bench("train", "--config", out, "--device", "cpu", "--set", "lr_g=0.05", "--experiment", "on-top")
    assert code == 0, err
    (run,) = client.search_runs([client.get_experiment_by_name("on-top").experiment_id])
    changed = {k for k in run.data.params if run.data.params[k] != trial.data.params[k]}
    assert changed == {"lr_g"} and float(run.data.params["lr_g"]) == 0.05
    assert run.data.metrics["fid"] != trial.data.metrics["fid"]


def test_the_chosen_trial_is_the_leaderboards():
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "tags.state": ["finished", "finished", "failed"], "metrics.fid": [40.0, 30.0, 1.0]})
    assert leaderboard.chosen_run(runs, "fid", "minimize")["run_id"] == "b"  # the failed one's score does not count
    assert leaderboard.chosen_run(runs, "fid", "maximize")["run_id"] == "a"
    assert leaderboard.chosen_run(runs[runs["run_id"] == "c"], "fid", "minimize") is None


SAVED = [  # (variant, how the trial was configured)
    ("dcgan", {}),
    ("dcgan", {"remedies": "ttur", "lr_d": 1e-3}),  # an explicit setting over a remedy's
    ("pacdcgan2", ["remedies=-pacgan"]),  # the variant's own remedy removed
    ("pacdcgan2", ["remedies=ema:0.99"]),
    ("dcgan-wgan-gp", {"lr_g": 3.3e-4, "beta1": 0.0}),
]


@pytest.mark.parametrize("variant, configured", SAVED)
def test_a_saved_config_comes_back_exactly(variant, configured):
    trained = variants.get(variant).config(configured)
    assert variants.get(variant).saved_config(trained.to_dict()) == trained


@pytest.mark.parametrize("overrides, expected", [
    (["lr_g=0.001"], {"lr_g": 0.001, "ema": 0.99, "pack": 2, "remedies": "pacgan:2,ema:0.99"}),
    (["remedies=-ema"], {"ema": 0.0, "pack": 2, "remedies": "pacgan:2"}),  # takes its setting with it
    (["remedies=pacgan:4"], {"ema": 0.99, "pack": 4, "remedies": "pacgan:4,ema:0.99"}),  # brings its setting
    (["remedies=none,r1"], {"ema": 0.0, "pack": 1, "r1": 10.0, "remedies": "r1"}),
    (["steps=7", "remedies=ema"], {"steps": 7, "ema": 0.999, "remedies": "pacgan:2,ema"}),
])
def test_set_on_a_saved_config_works_as_on_its_variant(overrides, expected):
    trained = variants.get("pacdcgan2").config(["remedies=ema:0.99"]).to_dict()
    changed = variants.get("pacdcgan2").saved_config(trained, overrides).to_dict()
    assert {k: v for k, v in changed.items() if v != trained[k]} == {k: v for k, v in expected.items() if v != trained[k]}


def test_a_partial_config_file_fills_in_the_variants_defaults(tmp_path):
    from bench import best

    path = tmp_path / "mine.toml"
    path.write_text('variant = "pacdcgan2"\n[settings]\nlr_g = 1e-3\n')
    saved = best.read(path)
    assert (saved.dataset, saved.seed) == (None, None)
    config = variants.get(saved.variant).saved_config(saved.settings)
    assert config == variants.get("pacdcgan2").config({"lr_g": 1e-3})


def test_the_command_line_goes_on_top_of_the_files_seed_data_set_and_steps(bench, tmp_path, monkeypatch):
    from bench import runs, trainer

    path = tmp_path / "best.toml"
    path.write_text('variant = "dcgan"\ndataset = "fashion-mnist"\nseed = 7\n[settings]\nlr_g = 1e-3\nsteps = 50\n')
    trained = []

    def train_run(variant, dataset, steps, seed, settings, device, *args, saved=None, **kwargs):
        config = variants.get(variant).saved_config(saved, ([f"steps={steps}"] if steps else []) + settings)  # as runs.train_run builds it
        trained.append((dataset, seed, config.steps, config.lr_g))
        return "0" * 32, trainer.Result("finished", 1)

    monkeypatch.setattr(runs, "train_run", train_run)
    assert bench("train", "--config", path, "--device", "cpu")[0] == 0
    assert bench("train", "--config", path, "--device", "cpu", "--seed", "0", "--dataset", "mnist", "--steps", "3", "--set", "lr_g=0.01")[0] == 0
    assert trained == [("fashion-mnist", 7, 50, 1e-3), ("mnist", 0, 3, 0.01)]


def test_best_takes_the_trial_of_the_data_set_asked_for(monkeypatch):
    """An entry on two data sets: each --dataset gets its own chosen trial."""
    from bench import best

    def run(dataset, trial, fid):
        return {"run_id": f"{dataset}-{trial}", "tags.kind": "trial", "tags.dataset": dataset, "tags.entry": "dcgan-ns",
                "tags.variant": "dcgan-ns", "tags.state": "finished", "tags.trial": str(trial), "tags.seed": "0", "metrics.fid": fid}

    runs = pd.DataFrame([run("mnist", 0, 50.0), run("mnist", 1, 40.0), run("stacked-mnist", 0, 300.0), run("stacked-mnist", 1, 400.0)])
    monkeypatch.setattr(leaderboard, "trial_runs", lambda *args: runs)
    monkeypatch.setattr(best, "_trained_config", lambda run_id, tracking_uri: {"lr_g": 1e-3})
    study = spec.load("mode-collapse")
    for dataset, chosen in (("mnist", "mnist-1"), ("stacked-mnist", "stacked-mnist-0")):
        text = best.best_config(study, "dcgan-ns", dataset)
        assert tomllib.loads(text)["dataset"] == dataset and f"MLflow run {chosen}." in text
