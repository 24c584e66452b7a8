import hashlib
import json
import shutil

import pytest
import torch

from bench import data, evaluator
from bench.errors import BenchError
from bench.evaluator.train import accuracy, train

needs_fashion = pytest.mark.skipif(not data.DEBIAN_FASHION_MNIST.is_dir(), reason="apt-get install dataset-fashion-mnist")


@pytest.mark.parametrize("name", ["mnist", pytest.param("fashion-mnist", marks=needs_fashion)])
def test_committed_evaluator_meets_its_target_and_record(name):
    judge = evaluator.load(name)
    info = json.loads((evaluator.WEIGHTS / f"{name}.json").read_text())
    assert judge.sha256 == info["sha256"] == hashlib.sha256((evaluator.WEIGHTS / f"{name}.pt").read_bytes()).hexdigest()
    measured = accuracy(judge.model, data.load(name, "test"))
    assert measured == pytest.approx(info["test_accuracy"], abs=1e-4)  # the recorded number is the real one
    assert measured >= evaluator.TARGET_ACCURACY[name]


def test_stacked_mnist_uses_the_mnist_evaluator():
    assert evaluator.load("stacked-mnist").sha256 == evaluator.load("mnist").sha256


def _tiny_training(seed):
    full = data.load("mnist", "train")
    subset = data.Dataset("mnist", "train", full.images[:512], full.labels[:512], 10, "subset")
    return train(subset, epochs=1, seed=seed, batch_size=64, progress=False).state_dict()


def test_training_is_deterministic_for_a_seed():
    a, b, c = _tiny_training(0), _tiny_training(0), _tiny_training(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_tampered_weights_are_refused(tmp_path):
    for suffix in (".pt", ".json"):
        shutil.copy(evaluator.WEIGHTS / f"mnist{suffix}", tmp_path / f"mnist{suffix}")
    raw = bytearray((tmp_path / "mnist.pt").read_bytes())
    raw[-100] ^= 0xFF
    (tmp_path / "mnist.pt").write_bytes(bytes(raw))
    with pytest.raises(BenchError, match="SHA-256 differs from mnist.json"):
        evaluator.load("mnist", directory=tmp_path)


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(BenchError, match="bench evaluator train --dataset mnist"):
        evaluator.load("mnist", directory=tmp_path)


def test_save_records_the_hash_of_what_it_wrote(tmp_path):
    model = evaluator.load("mnist").model
    info = evaluator.save(model, "mnist", {"test_accuracy": 0.5}, tmp_path)
    assert info["sha256"] == hashlib.sha256((tmp_path / "mnist.pt").read_bytes()).hexdigest()
    assert evaluator.load("mnist", directory=tmp_path).sha256 == info["sha256"]


def test_flip_augmentation_mirrors_or_keeps_each_image():
    from bench.evaluator.train import augment

    images = data.load("fashion-mnist" if data.DEBIAN_FASHION_MNIST.is_dir() else "mnist", "test").images[:64].float() / 255
    out = augment(images, torch.Generator().manual_seed(0), degrees=0, zoom=0, shift=0, flip=True)
    same = (out - images).abs().flatten(1).amax(1) < 1e-5
    mirrored = (out - images.flip(-1)).abs().flatten(1).amax(1) < 1e-5
    assert (same | mirrored).all() and same.any() and mirrored.any()


def test_weaker_retraining_writes_nothing(monkeypatch, tmp_path):
    """`bench evaluator train` below the accuracy target must leave the weights alone."""
    import sys

    from bench import cli
    from bench.evaluator import train as training

    monkeypatch.setattr(training, "train", lambda *a, **k: evaluator.load("mnist").model)
    monkeypatch.setattr(training, "accuracy", lambda *a, **k: 0.5)
    monkeypatch.setattr(sys, "argv", ["bench", "evaluator", "train", "--dataset", "mnist", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1 and list(tmp_path.iterdir()) == []
