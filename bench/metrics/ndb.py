"""Number of statistically different bins, NDB/K, and the JS divergence of the bin
histograms (Richardson & Weiss 2018, "On GANs and GMMs").

Real training features are split into K bins by k-means (fitted once and cached
with the reference); each generated sample falls into its nearest centroid's bin,
and a two-sided two-proportion z-test per bin (α = 0.05) says whether the
generator fills that bin as often as real data does. Unlike class counts it sees
collapse inside a class: ten repeated digits fill ten bins, not a hundred.
Written here because torchmetrics has neither; k-means is scikit-learn's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from bench.metrics.features import Features

BINS = 100  # K
FIT_SAMPLES = 10_000  # real training images the bins are fitted on (drawn with SEED), as many as the test reference
SEED = 0
ALPHA = 0.05
CHUNK = 4096


@dataclass(frozen=True)
class Bins:
    centroids: Tensor  # [K, F]
    share: Tensor  # [K] share of the real training sample in each bin
    n: int  # size of that sample

    def state_dict(self) -> dict:
        return {"centroids": self.centroids.cpu(), "share": self.share.cpu(), "n": self.n}

    @classmethod
    def from_state(cls, state: dict, device) -> Bins:
        return cls(state["centroids"].to(device), state["share"].to(device), int(state["n"]))


def assign(embedding: Tensor, centroids: Tensor) -> Tensor:
    """Index of each row's nearest centroid."""
    centroids = centroids.to(embedding)
    return torch.cat([torch.cdist(chunk, centroids).argmin(1) for chunk in embedding.split(CHUNK)])


def fit(embedding: Tensor, k: int = BINS, seed: int = SEED) -> Bins:
    """k-means++ bins of real features (scikit-learn's; scipy's k-means++ start is
    quadratic and takes minutes on 20,000 samples)."""
    if len(embedding) < k:
        raise ValueError(f"{len(embedding)} samples cannot fill {k} bins")
    import sklearn.cluster  # here and below: scipy and scikit-learn take seconds to import, for processes that score

    kmeans = sklearn.cluster.KMeans(k, n_init=1, random_state=seed).fit(embedding.cpu().numpy())
    centroids = torch.from_numpy(kmeans.cluster_centers_).to(embedding)
    counts = torch.bincount(assign(embedding, centroids), minlength=k)  # shares as assign() will see them
    return Bins(centroids, counts.double() / len(embedding), len(embedding))


def different_bins(p: np.ndarray, n_p: int, q: np.ndarray, n_q: int, alpha: float = ALPHA) -> np.ndarray:
    """Per bin: do the proportions ``p`` (of ``n_p`` samples) and ``q`` (of ``n_q``) differ
    at level ``alpha``? Pooled two-proportion z-test, two-sided, as in the paper's code."""
    pooled = (p * n_p + q * n_q) / (n_p + n_q)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_p + 1 / n_q))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p - q) / se, 0.0)  # a bin empty in both is not different
    import scipy.stats

    return 2 * scipy.stats.norm.sf(np.abs(z)) < alpha


def compute(real: Features, fake: Features) -> dict[str, float]:
    import scipy.spatial.distance

    bins: Bins = real.bins
    counts = torch.bincount(assign(fake.embedding, bins.centroids), minlength=len(bins.centroids))
    p, q = bins.share.cpu().numpy(), (counts.double() / len(fake)).cpu().numpy()
    return {
        "ndb_k": float(different_bins(p, bins.n, q, len(fake)).mean()),
        "ndb_jsd": float(scipy.spatial.distance.jensenshannon(p, q) ** 2),  # natural log; 0 .. ln 2
    }
