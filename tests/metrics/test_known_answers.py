"""The metric suite on data whose answer is known."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from bench import data, evaluator, metrics
from bench.metrics.features import extract
from bench.metrics.reference import reference


@pytest.fixture(scope="module")
def test_set():
    return data.load("mnist", "test")


@pytest.fixture(scope="module")
def real_vs_itself(test_set):
    return metrics.score(test_set.images, dataset="mnist")


@pytest.fixture(scope="module")
def noise_fid():
    noise = torch.randint(0, 256, (2000, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return metrics.score(noise)["fid"]


def test_real_test_set_scores_like_real_data(real_vs_itself):
    r = real_vs_itself
    assert r["is"] >= 9.7
    assert r["modes"] == 10 and r["modes_total"] == 10
    assert r["kl_uniform"] < 0.01
    assert r["valid_share"] >= 0.99  # the threshold is set so that 99 % of real test images are digits
    assert abs(r["fid"]) < 1e-3
    assert abs(r["kid"]) < r["kid_std"]  # unbiased estimate: zero within its subset noise
    assert r["precision"] == r["recall"] == r["coverage"] == 1.0
    assert r["confident"] > 0.97
    assert r["n"] == 10_000 and r["evaluator_sha256"] == evaluator.load("mnist").sha256


def test_training_images_are_close_to_the_test_reference(test_set, noise_fid):
    train_fid = metrics.score(data.load("mnist", "train").images[:10_000])["fid"]
    assert 0 < train_fid < noise_fid / 100


def test_one_digit_is_one_mode(test_set, noise_fid):
    ones = test_set.images[test_set.labels == 1]
    r = metrics.score(ones)
    assert r["valid_share"] > 0.97
    assert r["modes"] == 1
    assert r["kl_uniform"] == pytest.approx(math.log(10), abs=0.05)
    assert r["recall"] < 0.2 and r["coverage"] < 0.2


def test_uniform_noise_is_far_from_digits(noise_fid, real_vs_itself):
    assert noise_fid > 100 * max(real_vs_itself["fid"], 1e-3)
    noise = torch.randint(0, 256, (1000, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    r = metrics.score(noise)
    assert r["kid"] > 100 * real_vs_itself["kid_std"]
    assert r["precision"] == r["density"] == 0.0 and r["is"] < 1.5
    assert r["confident"] > 0.5  # the evaluator is sure these are digits (mostly "8")...
    assert r["valid_share"] == 0.0 and r["modes"] == 0  # ...but they are not: no digits, no modes
    assert r["kl_uniform"] == pytest.approx(math.log(10))


def test_grey_blobs_and_noisy_digits_are_not_digits(test_set):
    """What a GAN draws in its first steps (grey noise) is not a digit; digits under
    Gaussian noise of sigma 0.2 leave the evaluator's real manifold too (the README
    documents the figure: under 1 % judged digits)."""
    g = torch.Generator().manual_seed(2)
    grey = (torch.rand(1000, 1, 28, 28, generator=g) * 40 + 100).to(torch.uint8)
    assert metrics.score(grey)["valid_share"] == 0.0
    x = test_set.images[:1000].float() / 255
    noisy = ((x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1) * 255).round().to(torch.uint8)
    assert metrics.score(noisy)["valid_share"] < 0.05


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_fid_agrees_with_independent_scipy_computation(test_set):
    judge = evaluator.load("mnist")
    real = reference("mnist", judge)
    for images in (data.load("mnist", "train").images[:5000], test_set.images[test_set.labels < 5]):
        fake = extract(images, judge)
        expected = _scipy_fid(real.embedding.double().numpy(), fake.embedding.double().numpy())
        assert metrics.score(images)["fid"] == pytest.approx(expected, rel=1e-6)


def test_scores_are_reproducible(test_set):
    images = test_set.images[:3000]
    assert metrics.score(images) == metrics.score(images)


def test_image_sets_scored_together_each_get_their_own_numbers(test_set):
    """``score_each`` (a population's members, scored in one pass) gives each set what ``score`` gives it alone."""
    sets = [test_set.images[:400], test_set.images[test_set.labels < 3][:700], data.load("mnist", "train").images[:350]]
    labels = [test_set.labels[:400], torch.zeros(700, dtype=torch.long), test_set.labels[400:750]]
    for together, images, given in zip(metrics.score_each(sets, labels), sets, labels, strict=True):
        alone = metrics.score(images, given)
        assert together.keys() == alone.keys()
        for key, value in alone.items():
            assert together[key] == (pytest.approx(value, rel=1e-5, abs=1e-7) if isinstance(value, float) else value), key
    assert metrics.score_each(sets[1:2], None)[0]["modes"] == 3  # the 0s, 1s and 2s: each set's own classes


def test_inception_score_ignores_the_real_set(test_set):
    """IS looks only at the samples: a perfectly balanced set of confident digits is near 10."""
    r = metrics.score(test_set.images[:2000])
    assert 9.0 < r["is"] <= 10.0
