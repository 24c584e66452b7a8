"""Fréchet distance on backbone features (torchmetrics' FrechetInceptionDistance)."""

from __future__ import annotations

from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance

from bench.metrics.features import Features, Precomputed


def frechet_distance(real: Tensor, fake: Tensor) -> float:
    """FID between two feature sets [N, F] (at least 2 rows each)."""
    metric = FrechetInceptionDistance(feature=Precomputed(real.shape[1])).to(real.device)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def compute(real: Features, fake: Features) -> dict[str, float]:
    return {"fid": frechet_distance(real.embedding, fake.embedding)}


def per_class(real: Features, fake: Features) -> list[float | None]:
    """FID of each requested class against the real images of that class (None if < 2 samples)."""
    scores = []
    for c in range(real.logits.shape[-1]):
        r, f = real.embedding[real.labels == c], fake.embedding[fake.labels == c]
        scores.append(frechet_distance(r, f) if len(r) > 1 and len(f) > 1 else None)
    return scores
