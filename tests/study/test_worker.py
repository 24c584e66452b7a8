"""The worker's pieces: settings of a trial, per-worker samplers, the best trial; and
trials claimed K at a time and trained as one population."""

import json
from pathlib import Path

import optuna
import pytest
import torch

from bench.study import spec, worker


def test_a_tied_learning_rate_reaches_both_optimisers(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    study = spec.load("lucic")
    options = worker.Options(str(study.path), 1, "cpu", "cpu", None, f"sqlite:///{tmp_path}/m.db")
    plan = study.variants[0]
    trial = optuna.create_study().ask()
    settings = worker.Worker(options)._settings(trial, "mnist", plan, repeat=False)
    assert settings["lr_g"] == settings["lr_d"] == trial.params["lr"]
    assert settings["steps"] == study.budget["cpu"] and "lr" not in settings


def test_a_scaled_rate_keeps_tturs_ratio_in_every_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    study = spec.load("mode-collapse")
    options = worker.Options(str(study.path), 1, "cpu", "cpu", None, f"sqlite:///{tmp_path}/m.db")
    plan = next(v for v in study.variants if v.name == "dcgan+ttur")
    for _ in range(3):
        trial = optuna.create_study().ask()
        settings = worker.Worker(options)._settings(trial, "mnist", plan, repeat=False)
        assert settings["lr_d"] == 4 * settings["lr_g"] == 4 * trial.params["lr"]


def test_each_worker_samples_its_own_points():
    study = spec.load("smoke")
    firsts = []
    for index in (0, 1, 0):
        s = optuna.create_study(sampler=worker.sampler_for(study, index))
        firsts.append(s.ask().suggest_float("x", 0, 1))
    assert firsts[0] == firsts[2] and firsts[0] != firsts[1]  # reproducible, and distinct per worker


def test_the_best_trial_follows_the_first_objective_direction():
    study = spec.load("smoke")  # fid: minimise
    s = optuna.create_study()
    for value in (3.0, 1.0, 2.0):
        s.add_trial(optuna.trial.create_trial(value=value))
    s.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    assert worker.best_trial(study, s.get_trials()).value == 1.0


def test_search_trials_share_the_study_seed_and_repeats_use_their_own():
    """A difference between two search trials must be their setting's, not their seeds'."""
    study = spec.load("mode-collapse")
    search = optuna.create_study()
    seeds = []
    for slot in range(3):
        trial = search.ask()
        trial.set_user_attr("slot", slot)
        seeds.append(worker.seed_of(study, trial, repeat=False))
    assert seeds == [study.seed] * 3
    repeat = optuna.create_study().ask()
    repeat.set_user_attr("seed", study.repeats[1])
    assert worker.seed_of(study, repeat, repeat=True) == study.repeats[1]


# -- populations: K claimed trials trained as one, each still a trial with its own run

def _population_study(folder, study_file, name, trials, repeats="[]"):
    """seed000-fc, ``lr_g`` searched, 20 steps, evaluated at 10 and 20; prepared for workers."""
    from bench.study import runner
    from bench.tracking import default_tracking_uri

    path = study_file(folder, name, trials, 20, "log_every = 5, checkpoint_every = 100000", repeats)
    path.write_text(path.read_text().replace("final_samples = 100", "every = 10\nsamples = 100\nfinal_samples = 100"))
    study = spec.load(str(path))
    options = worker.Options(str(path), trials, "cpu", "cpu", None, default_tracking_uri(), population=3)
    return study, options, runner.prepare(study, options)


def _study_runs(name, kind):
    from mlflow import MlflowClient
    from bench.tracking import default_tracking_uri

    client = MlflowClient(default_tracking_uri())
    experiment = client.get_experiment_by_name(name).experiment_id
    return client, sorted(client.search_runs([experiment], f"tags.kind = '{kind}'"), key=lambda r: int(r.data.tags["trial"]))


def test_a_population_of_trials_gives_each_its_own_run_logging_what_it_would_alone(tmp_path, monkeypatch, study_file, one_thread):
    from bench import trainer
    from bench.gan.config import Config
    from bench.study import queue

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    study, options, _ = _population_study(tmp_path, study_file, "pop", 3, repeats="[5, 6]")
    worker.Worker(options).run()
    storage = queue.storage_for(None)
    for name, count in (("pop/mnist/seed000-fc", 3), ("pop/mnist/seed000-fc/repeats", 2)):
        assert [t.state.name for t in optuna.load_study(study_name=name, storage=storage).get_trials()] == ["COMPLETE"] * count
    for kind, members in (("trial", "0,1,2"), ("repeat", "0,1")):
        client, runs = _study_runs("pop", kind)
        assert [(r.data.tags["population"], r.data.tags["population_trials"]) for r in runs] == [(str(len(runs)), members)] * len(runs)
        assert len({r.data.params["lr_g"] for r in runs}) == (3 if kind == "trial" else 1)  # the search's points; the repeats' one
        for run in runs:  # each run holds what the same trial trained alone would log
            assert run.info.status == "FINISHED" and "generator.pt" in [a.path for a in client.list_artifacts(run.info.run_id)]
            config = Config(**json.loads(Path(client.download_artifacts(run.info.run_id, "config.json", str(tmp_path))).read_text()))
            alone = trainer.train(config, seed=int(run.data.tags["seed"]), progress=False)
            logged = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss_d")]
            assert [s for s, _ in logged] == [h["step"] for h in alone.history if "loss_d" in h]
            assert [v for _, v in logged] == pytest.approx([h["loss_d"] for h in alone.history if "loss_d" in h], rel=1e-5)
            assert run.data.metrics["fid"] == pytest.approx(alone.metrics["fid"], rel=1e-5)


def test_ctrl_c_in_a_population_requeues_every_member_and_the_rerun_resumes_them_together(tmp_path, monkeypatch, study_file, one_thread):
    from bench.gan.population import Population
    from bench.study import queue

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    study, options, _ = _population_study(tmp_path, study_file, "popc", 3)
    step = Population.train_step

    def interrupted_at_13(self, i):
        if i == 12:  # the 13th step: 12 are done
            raise KeyboardInterrupt
        return step(self, i)

    monkeypatch.setattr(Population, "train_step", interrupted_at_13)
    with pytest.raises(KeyboardInterrupt):
        worker.Worker(options).run()
    monkeypatch.setattr(Population, "train_step", step)
    home = tmp_path / "home" / "studies" / "popc" / "mnist" / "seed000-fc"
    assert [torch.load(home / f"slot-{k}" / "checkpoint.pt", weights_only=True)["step"] for k in range(3)] == [12] * 3
    client, killed = _study_runs("popc", "trial")
    assert [(r.info.status, r.data.tags["state"]) for r in killed] == [("KILLED", "killed")] * 3
    search = optuna.load_study(study_name="popc/mnist/seed000-fc", storage=queue.storage_for(None))
    assert sorted(t.state.name for t in search.get_trials()) == ["FAIL"] * 3 + ["WAITING"] * 3  # requeued, params kept

    worker.Worker(options).run()
    assert sorted(t.state.name for t in search.get_trials()) == ["COMPLETE"] * 3 + ["FAIL"] * 3
    _, runs = _study_runs("popc", "trial")
    retries = [r for r in runs if r.info.status == "FINISHED"]
    assert len(retries) == 3 and {r.data.tags["population"] for r in retries} == {"3"}  # resumed together, as one population
    for retry in retries:
        assert min(m.step for m in client.get_metric_history(retry.info.run_id, "loss_d")) == 15  # the first log after step 12


def test_claimed_trials_that_cannot_train_together_are_grouped_and_the_loners_say_why(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from bench.gan import variants

    monkeypatch.setenv("BENCH_HOME", str(tmp_path))
    study = spec.load("smoke")
    options = worker.Options(str(study.path), 4, "cpu", "cpu", None, f"sqlite:///{tmp_path}/m.db", population=4)
    fc = variants.get("seed000-fc")
    configs = [fc.config(["lr_g=1e-4"]), fc.config(["lr_g=2e-4"]), fc.config(["precision=bf16"]), fc.config(["lr_d=1e-3"])]
    members = [worker.Member(SimpleNamespace(study=SimpleNamespace(study_name="s/mnist/fc"), user_attrs={"slot": k}), 0, c)
               for k, c in enumerate(configs)]
    groups = worker.Worker(options)._populations(members)
    assert [[m.trial.user_attrs["slot"] for m in g] for g in groups] == [[0, 1, 3], [2]]
    assert "bf16" in groups[1][0].why_solo and all(m.why_solo is None for m in groups[0])
