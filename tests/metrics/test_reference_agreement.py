"""Our metrics agree with reference implementations on the same features."""

import numpy as np
import prdc as prdc_package
import pytest
import scipy.linalg
import scipy.stats
import torch

from bench import data, evaluator
from bench.metrics import fid, kid, ndb, prdc, support
from bench.metrics.features import Features, extract
from bench.metrics.reference import reference


@pytest.fixture(scope="module")
def features():
    """Real test features and those of 2,000 training images, in float64 so that both
    sides of each comparison see the same numbers."""
    judge = evaluator.load("mnist")
    real = reference("mnist", judge)
    train = data.load("mnist", "train")
    fake = extract(train.images[:2000], judge, train.labels[:2000])
    return real, Features(fake.embedding.double(), fake.logits, fake.labels)


def test_fid_equals_numpy_and_scipy_sqrtm(features):
    real, fake = features
    x, y = real.embedding.double().numpy(), fake.embedding.numpy()
    mu_x, mu_y, cov_x, cov_y = x.mean(0), y.mean(0), np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = ((mu_x - mu_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * scipy.linalg.sqrtm(cov_x @ cov_y).real)
    assert fid.frechet_distance(real.embedding.double(), fake.embedding) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("k", [3, 5])
def test_prdc_equals_the_prdc_package(features, k):
    real, fake = features
    r, f = real.embedding[:3000].double(), fake.embedding
    expected = prdc_package.compute_prdc(r.numpy(), f.numpy(), nearest_k=k)
    ours = prdc.prdc(r, f, k_pr=k, k_dc=k)
    assert ours == pytest.approx(expected, rel=1e-6)


def test_kid_equals_the_unbiased_polynomial_mmd(features, monkeypatch):
    real, fake = features
    n = 1000  # one subset holding every sample: KID is then the plain unbiased MMD^2
    monkeypatch.setattr(kid, "SUBSETS", 1)
    monkeypatch.setattr(kid, "SUBSET_SIZE", n)
    x, y = real.embedding[:n].double(), fake.embedding[:n]
    ours = kid.compute(Features(x, real.logits[:n]), Features(y, fake.logits[:n]))["kid"]
    kernel = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731  torchmetrics' defaults: degree 3, gamma 1/d, coef 1
    xx, yy, xy = kernel(x, x).numpy(), kernel(y, y).numpy(), kernel(x, y).numpy()
    off = lambda m: (m.sum() - np.trace(m)) / (n * (n - 1))  # noqa: E731
    assert ours == pytest.approx(off(xx) + off(yy) - 2 * xy.mean(), rel=1e-6)


def test_ndb_equals_the_papers_procedure(features):
    """Richardson & Weiss: nearest-centroid bins, a two-tailed two-proportion z-test per
    bin at 0.05, and the JS divergence of the two bin histograms."""
    real, fake = features
    bins = real.bins
    centroids, y = bins.centroids.double().numpy(), fake.embedding.numpy()
    nearest = ((y[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    q = np.bincount(nearest, minlength=len(centroids)) / len(y)
    p, n_p, n_q = bins.share.numpy(), bins.n, len(y)
    pooled = (p * n_p + q * n_q) / (n_p + n_q)
    z = (p - q) / np.sqrt(pooled * (1 - pooled) * (1 / n_p + 1 / n_q))
    different = 2 * scipy.stats.norm.cdf(-np.abs(z)) < 0.05
    m = (p + q) / 2
    jsd = (scipy.stats.entropy(p, m) + scipy.stats.entropy(q, m)) / 2
    ours = ndb.compute(real, fake)
    assert ours["ndb_k"] == different.mean()
    assert ours["ndb_jsd"] == pytest.approx(jsd, rel=1e-6)
    assert 0 < ours["ndb_k"] < 0.5  # training images: most bins as full as real data's


def test_the_bins_are_fitted_on_training_images_and_cached_per_k():
    judge = evaluator.load("mnist")
    default, small = reference("mnist", judge), reference("mnist", judge, bins=20)  # refits only the bins
    assert len(default.bins.centroids) == ndb.BINS and len(small.bins.centroids) == 20
    assert default.bins.n == ndb.FIT_SAMPLES and default.bins.share.sum() == pytest.approx(1)
    assert reference("mnist", judge).bins.centroids.equal(default.bins.centroids)  # from the cache


def test_distinct_images_counts_pairs_closer_than_the_calibrated_radius(features):
    real, fake = features
    rate = support.close_pairs(real.embedding, real.duplicate_radius) / (len(real) * (len(real) - 1) / 2)
    assert rate == pytest.approx(support.PAIR_RATE, rel=0.05)
    x = fake.embedding[:500]
    brute = int((torch.cdist(x, x).triu(1) < real.duplicate_radius).sum() - (500 * 501 // 2))  # the lower triangle's zeros count too
    assert support.close_pairs(x, real.duplicate_radius) == brute
