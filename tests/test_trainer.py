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
    config = variants.get(variant).config(FAST + ["batch_size=16", "steps=40", "checkpoint_every=20"])
    straight = trainer.train(config, seed=5, run_dir=tmp_path / "straight", progress=False)
    with pytest.raises(KeyboardInterrupt):
        trainer.train(config, seed=5, run_dir=tmp_path / "resumed", tracker=_InterruptAt(30), progress=False)
    assert torch.load(tmp_path / "resumed" / trainer.CHECKPOINT, weights_only=True)["step"] == 30
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
