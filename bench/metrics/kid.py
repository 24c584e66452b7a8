"""Kernel Inception Distance on backbone features (torchmetrics)."""

from __future__ import annotations

import warnings

from torchmetrics.image.kid import KernelInceptionDistance

from bench.metrics.features import Features, Precomputed, seeded

SUBSETS, SUBSET_SIZE = 100, 1000


@seeded
def compute(real: Features, fake: Features) -> dict[str, float]:
    size = min(SUBSET_SIZE, len(real), len(fake))
    with warnings.catch_warnings():  # "saves all features": yes, they are already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=Precomputed(real.embedding.shape[1]), subsets=SUBSETS, subset_size=size)
    metric.update(real.embedding, real=True)
    metric.update(fake.embedding, real=False)
    mean, std = metric.compute()
    return {"kid": float(mean), "kid_std": float(std)}
