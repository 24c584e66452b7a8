"""The worker's pieces: settings of a trial, per-worker samplers, the best trial."""

import optuna

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
