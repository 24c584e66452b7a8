"""Trainer: determinism, exact resume, divergence, outputs."""

import pytest
import torch

from bench import trainer
from bench.gan import variants

FAST = ["steps=100", "log_every=10", "final_samples=200", "checkpoint_every=50"]


def _weights(result):
    return torch.load(result.checkpoint, weights_only=True)["gan"]


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_and_different_seed_differs(tmp_path):
    config = variants.get("seed000-fc").config(FAST)
    a = trainer.train(config, seed=1, run_dir=tmp_path / "a", progress=False)
    b = trainer.train(config, seed=1, run_dir=tmp_path / "b", progress=False)
    c = trainer.train(config, seed=2, run_dir=tmp_path / "c", progress=False)
    assert a.status == "finished" and a.step == 100
    assert _equal(_weights(a), _weights(b))
    assert not _equal(_weights(a), _weights(c))
    assert a.metrics == b.metrics


class _InterruptAt(trainer.Tracker):
    def __init__(self, step):
        self.step = step

    def log_metrics(self, values, step):
        if step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("variant", ["seed000-fc", "dcgan"])
def test_interrupt_and_resume_equals_straight_run(tmp_path, variant):
    # interrupted between a periodic checkpoint (10) and the end (20); the reference DCGAN's
    # steps take most of a second each on 2 cores, so no more of them than that
    config = variants.get(variant).config(FAST + ["batch_size=16", "steps=20", "checkpoint_every=10", "log_every=5"])
    straight = trainer.train(config, seed=5, run_dir=tmp_path / "straight", progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, seed=5, run_dir=tmp_path / "resumed", tracker=_InterruptAt(15), progress=False)
    assert torch.load(tmp_path / "resumed" / trainer.CHECKPOINT, weights_only=True)["step"] == 15
    resumed = trainer.train(config, seed=5, run_dir=tmp_path / "resumed", progress=False)
    assert _equal(_weights(straight), _weights(resumed))
    assert straight.metrics == resumed.metrics


def test_divergence_stops_with_status_and_step(tmp_path):
    config = variants.get("seed000-fc").config(FAST + ["lr_d=1e30", "lr_g=1e30"])
    result = trainer.train(config, run_dir=tmp_path, progress=False)
    assert result.status == "diverged"
    assert result.step % 10 == 0 and result.step <= 100
    assert result.history[-1]["diverged"] is True and result.metrics == {}


def test_stacked_mnist_trains_and_is_scored_on_1000_modes(tmp_path):
    config = variants.get("seed000-fc").config(["steps=20", "log_every=10", "final_samples=300"])
    result = trainer.train(config, dataset="stacked-mnist", run_dir=tmp_path, progress=False)
    assert result.status == "finished"
    assert result.metrics["modes_total"] == 1000 and result.metrics["n"] == 300
    assert len(result.metrics["mode_histogram"]) == 1000


def test_fashion_mnist_and_resized_variants_train(tmp_path):
    dataset = "fashion-mnist" if trainer.data.DEBIAN_FASHION_MNIST.is_dir() else "mnist"
    config = variants.get("seed002-dcgan").config(["steps=10", "log_every=5", "final_samples=100", "batch_size=16"])
    result = trainer.train(config, dataset=dataset, run_dir=tmp_path, progress=False)
    assert result.status == "finished" and result.metrics["dataset"] == dataset
    images, _ = trainer.sample(trainer.GAN(config, 1), 4, seed=0)
    assert images.shape == (4, 1, 28, 28)  # 32x32 output scored at 28x28


class _Recorder(trainer.Tracker):
    def __init__(self):
        self.logged = []

    def log_metrics(self, values, step):
        self.logged.append((step, values))

    def log_evaluation(self, result, grid, grid_labels, step):
        self.logged.append((step, {k: v for k, v in result.items() if isinstance(v, (int, float))}))
        self.grids = getattr(self, "grids", []) + [grid]

    @classmethod
    def after(cls, recorder, step):
        """What ``recorder`` logged after ``step``."""
        later = cls()
        later.logged = [(s, values) for s, values in recorder.logged if s > step]
        return later


def test_the_first_collapsed_evaluation_is_logged_once_as_collapsed_at_step(tmp_path, monkeypatch):
    from bench.metrics import collapse

    config = variants.get("seed000-fc").config(["steps=40", "log_every=10", "eval_every=10", "eval_samples=200", "final_samples=200"])
    real_evaluate = trainer.evaluate
    verdicts = iter([{"valid_share": 0.1}, {}, {"modes": 7}, {"modes": 6}])  # no digits, fine, collapsed, collapsed

    def scripted(*args, **kwargs):  # real metrics, with the collapse-relevant numbers overridden
        result = real_evaluate(*args, **kwargs)
        return result | {"valid_share": 0.9, "modes": 10, "ndb_k": 0.0} | next(verdicts)

    monkeypatch.setattr(trainer, "evaluate", scripted)
    recorder = _Recorder()
    result = trainer.train(config, tracker=recorder, progress=False)
    evaluations = [h for h in result.history if "modes" in h]
    assert [h["step"] for h in evaluations] == [10, 20, 30, 40]
    assert all("ndb_k" in h and "distinct_images" in h and "coverage_min" in h and "valid_share" in h for h in evaluations)
    logged = [(step, v["collapsed_at_step"]) for step, v in recorder.logged if "collapsed_at_step" in v]
    assert logged == [(30, 30)]  # not at 10: a generator drawing no digits has not collapsed
    assert collapse.collapsed_at(result.history) == 30


def test_collapsed_means_a_lost_class_or_most_bins_off_but_not_noise():
    from bench.metrics import collapse

    fine = {"modes": 10, "modes_total": 10, "ndb_k": 0.1, "valid_share": 0.95}
    assert not collapse.collapsed(fine) and collapse.verdict(fine) == ""
    assert collapse.collapsed(fine | {"modes": 9}) and collapse.verdict(fine | {"modes": 9}) == "collapsed"
    assert collapse.collapsed(fine | {"ndb_k": collapse.NDB_COLLAPSED + 0.01})
    assert collapse.verdict(fine | {"ndb_k": collapse.NDB_COLLAPSED + 0.01}) == "within-class collapse"
    noise = fine | {"valid_share": collapse.NO_DIGITS - 0.01, "modes": 0, "ndb_k": 1.0}
    assert not collapse.collapsed(noise) and collapse.verdict(noise) == "no digits"
    assert not collapse.collapsed({"modes": 900, "modes_total": 1000, "ndb_k": 0.1})  # stacked: judged by NDB only
    history = [{"step": 10, "loss_d": 1.0}, {"step": 10, **fine}, {"step": 20, **fine, "modes": 8}, {"step": 30, **fine}]
    assert collapse.collapsed_at(history) == 20
    assert collapse.collapsed_at(history[:2]) is None


class _ProgressRecorder(trainer.Tracker):
    def __init__(self):
        self.reports = []

    def report_progress(self, step, phase):
        self.reports.append((step, phase))


def test_progress_is_reported_after_every_step_and_as_each_evaluation_starts():
    config = variants.get("seed000-fc").config(["steps=4", "log_every=2", "eval_every=2", "eval_samples=200", "final_samples=200"])
    recorder = _ProgressRecorder()
    trainer.train(config, tracker=recorder, progress=False)
    assert recorder.reports == [(1, "training"), (2, "training"), (2, "evaluating"), (2, "training"),
                                (3, "training"), (4, "training"), (4, "evaluating")]


def test_a_runs_first_evaluation_in_a_process_leaves_its_training_as_any_later_one_would():
    """Loading the evaluator (once per process) must not draw from training's stream: a run
    evaluated mid-training trains the same whether or not its process scored anything before
    (a worker's first trial and its later ones; a trial and its retrain by bench train --config)."""
    from bench import evaluator

    config = variants.get("seed000-fc").config(["steps=20", "log_every=5", "eval_every=10", "eval_samples=100", "final_samples=100"])
    evaluator.load.cache_clear()
    first, later = _Recorder(), _Recorder()
    trainer.train(config, seed=3, tracker=first, progress=False)
    trainer.train(config, seed=3, tracker=later, progress=False)  # the evaluator is loaded by now
    assert first.logged == later.logged and len(first.logged) == 6  # losses at 5..20, evaluations at 10 and 20


# -- a population: each of its trials trains, logs, evaluates and resumes as it would alone

POPULATION = ["steps=20", "log_every=5", "eval_every=10", "eval_samples=100", "final_samples=100", "checkpoint_every=10", "batch_size=32"]
MEMBERS = [["lr_g=2e-4"], ["lr_g=1e-3", "lr_d=3e-4", "beta1=0.9"], ["lr_d=1e-3"]]
SEEDS = [0, 7, 42]


def _members(extra=()):
    return [variants.get("seed000-fc").config(POPULATION + member + list(extra)) for member in MEMBERS]


def _assert_same_log(ours: _Recorder, theirs: _Recorder):
    assert [step for step, _ in ours.logged] == [step for step, _ in theirs.logged]
    for (step, a), (_, b) in zip(ours.logged, theirs.logged):
        assert a.keys() == b.keys(), step
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (step, key)


def test_each_trial_of_a_population_logs_and_scores_what_it_would_alone(one_thread, monkeypatch):
    from bench.metrics import features

    configs = _members()
    recorders = [_Recorder() for _ in configs]
    scored = []  # the evaluator's passes: one per evaluation of the whole population
    monkeypatch.setattr(features, "extract", lambda images, *args, extract=features.extract: scored.append(len(images)) or extract(images, *args))
    monkeypatch.setattr(trainer, "EVALUATED_TOGETHER", 2)
    results = trainer.train_population(configs, SEEDS, trackers=recorders, progress=False)
    assert scored == [200, 100, 200, 100]  # 3 members x 100 samples, 2 at a time, at steps 10 and 20
    for config, seed, ours, result in zip(configs, SEEDS, recorders, results):
        alone = _Recorder()
        solo = trainer.train(config, seed=seed, tracker=alone, progress=False)
        assert (result.status, result.step) == (solo.status, solo.step) == ("finished", 20)
        _assert_same_log(ours, alone)  # losses every 5 steps, and the evaluations at 10 and 20
        assert result.metrics["fid"] == pytest.approx(solo.metrics["fid"], rel=1e-5)
        assert all(torch.equal(a, b) for a, b in zip(ours.grids, alone.grids, strict=True))  # the same pictures


def test_an_interrupted_population_resumes_every_member_where_it_was(tmp_path, one_thread):
    configs = _members()
    straight = [_Recorder() for _ in configs]
    trainer.train_population(configs, SEEDS, trackers=straight, progress=False)
    dirs = [tmp_path / f"member{k}" for k in range(3)]
    with pytest.raises(KeyboardInterrupt):  # as Ctrl-C would, while member 1 logs step 15
        trainer.train_population(configs, SEEDS, run_dirs=dirs, trackers=[trainer.Tracker(), _InterruptAt(15), trainer.Tracker()], progress=False)
    assert [torch.load(d / trainer.CHECKPOINT, weights_only=True)["step"] for d in dirs] == [15, 15, 15]
    resumed = [_Recorder() for _ in configs]
    trainer.train_population(configs, SEEDS, run_dirs=dirs, trackers=resumed, progress=False)
    assert [ours.logged[0][0] for ours in resumed] == [20, 20, 15]  # member 2 had not logged step 15 yet: it does now
    for ours, theirs in zip(resumed, straight):
        _assert_same_log(_Recorder.after(ours, 14), _Recorder.after(theirs, 14 if ours.logged[0][0] == 15 else 15))


@pytest.mark.parametrize("extra", [[], ["update=separate-d", "remedies=historical-averaging,ema", "historical_averaging=0.1"]],
                         ids=["plain", "second-adam+history+ema"])  # every piece of state a member writes back
def test_a_members_checkpoint_is_a_solo_runs(tmp_path, one_thread, extra):
    configs = _members(extra)
    dirs = [tmp_path / f"member{k}" for k in range(3)]
    with pytest.raises(KeyboardInterrupt):
        trainer.train_population(configs, SEEDS, run_dirs=dirs, trackers=[_InterruptAt(10), trainer.Tracker(), trainer.Tracker()], progress=False)
    straight, resumed = _Recorder(), _Recorder()
    trainer.train(configs[2], seed=SEEDS[2], tracker=straight, progress=False)
    trainer.train(configs[2], seed=SEEDS[2], run_dir=dirs[2], tracker=resumed, progress=False)  # member 2 goes on alone
    assert resumed.logged[0][0] == 10  # its log and evaluation of step 10, which the Ctrl-C came before
    _assert_same_log(resumed, _Recorder.after(straight, 9))


def test_a_diverging_member_is_left_behind_and_the_others_finish(one_thread):
    configs = _members()
    configs[1] = variants.get("seed000-fc").config(POPULATION + ["lr_g=1e30", "lr_d=1e30"])  # weights overflow at once
    recorders = [_Recorder() for _ in configs]
    results = trainer.train_population(configs, SEEDS, trackers=recorders, progress=False)
    assert [r.status for r in results] == ["finished", "diverged", "finished"]
    assert results[1].step == 5 and ("diverged_at_step" in recorders[1].logged[-1][1])
    alone = _Recorder()
    trainer.train(configs[2], seed=SEEDS[2], tracker=alone, progress=False)
    _assert_same_log(recorders[2], alone)  # the others never noticed


class _PrunedAt(_Recorder):
    """A tracker whose study's pruner stops its trial at its evaluation of ``step``."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def log_evaluation(self, result, grid, grid_labels, step):
        super().log_evaluation(result, grid, grid_labels, step)
        if step == self.step:
            raise RuntimeError(f"pruned at {step}")


def test_a_member_stopped_by_its_tracker_fails_alone_with_its_error(one_thread):
    configs = _members()
    recorders = [_Recorder(), _PrunedAt(10), _Recorder()]
    results = trainer.train_population(configs, SEEDS, trackers=recorders, progress=False)
    assert [r.status for r in results] == ["finished", "failed", "finished"]
    assert str(results[1].error) == "pruned at 10" and results[1].step == 10
    assert results[0].error is None and results[2].error is None
    alone = _Recorder()
    trainer.train(configs[0], seed=SEEDS[0], tracker=alone, progress=False)
    _assert_same_log(recorders[0], alone)


def test_an_interrupted_population_says_how_each_member_stood(tmp_path, one_thread):
    configs = _members()
    configs[1] = variants.get("seed000-fc").config(POPULATION + ["lr_g=1e30", "lr_d=1e30"])  # diverges at step 5
    dirs = [tmp_path / f"member{k}" for k in range(3)]
    with pytest.raises(trainer.PopulationInterrupted) as interrupted:
        trainer.train_population(configs, SEEDS, run_dirs=dirs, trackers=[_InterruptAt(15), trainer.Tracker(), trainer.Tracker()], progress=False)
    assert [(r.status, r.step) for r in interrupted.value.results] == [("interrupted", 15), ("diverged", 5), ("interrupted", 15)]
    assert isinstance(interrupted.value, KeyboardInterrupt)  # what every layer above catches


def test_ctrl_c_between_d_and_g_updates_waits_for_the_step_and_the_resume_is_exact(tmp_path, monkeypatch):
    import os
    import signal

    config = variants.get("seed000-fc").config(["steps=12", "log_every=4", "final_samples=100", "checkpoint_every=100"])
    straight = trainer.train(config, seed=3, run_dir=tmp_path / "straight", progress=False)
    adam_step, calls = torch.optim.Adam.step, []

    def ctrl_c_after_ds_update_of_step_8(self, *args, **kwargs):  # two Adam steps a train step, one per network
        result = adam_step(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 15:
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(torch.optim.Adam, "step", ctrl_c_after_ds_update_of_step_8)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, seed=3, run_dir=tmp_path / "resumed", progress=False)
    monkeypatch.setattr(torch.optim.Adam, "step", adam_step)
    assert torch.load(tmp_path / "resumed" / trainer.CHECKPOINT, weights_only=True)["step"] == 8  # the whole step 8, G's update too
    resumed = trainer.train(config, seed=3, run_dir=tmp_path / "resumed", progress=False)
    assert _equal(_weights(resumed), _weights(straight))
