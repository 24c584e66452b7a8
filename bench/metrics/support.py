"""Distinct images ≈ N: the support size by the birthday paradox (Arora & Zhang 2017).

Among n samples drawn from a distribution p, the expected number of colliding pairs
is C(n, 2) · Σ p², so C(n, 2) / collisions estimates 1 / Σ p²: the number of equally
likely distinct images that would collide as often (exact for a uniform support).
A collision is a pair of samples closer than ``radius`` in feature space. The radius
is calibrated on real data: it is the distance below which 1 in 100,000 pairs of
real test images fall (``PAIR_RATE``), so real data scores about 100,000, the
estimate's ceiling, and a generator that repeats itself scores the number of
images it repeats. Written here because no library computes it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.metrics.features import Features

PAIR_RATE = 1e-5
CEILING = round(1 / PAIR_RATE)
CHUNK = 2048


def _pair_distances(x: Tensor):
    """Chunks of the distances of pairs i < j (the rest set to inf)."""
    n = len(x)
    columns = torch.arange(n, device=x.device)
    for start in range(0, n, CHUNK):
        d = torch.cdist(x[start : start + CHUNK], x)
        rows = torch.arange(start, start + len(d), device=x.device)
        yield d.masked_fill(rows[:, None] >= columns[None, :], float("inf"))


def calibrate(real: Tensor, rate: float = PAIR_RATE) -> float:
    """The distance below which a share ``rate`` of real pairs fall."""
    n = len(real)
    m = max(1, round(rate * n * (n - 1) / 2))
    smallest = torch.cat([d.flatten().topk(min(m, d.numel()), largest=False).values for d in _pair_distances(real)])
    return float(smallest.kthvalue(m).values)


def close_pairs(x: Tensor, radius: float) -> int:
    return int(sum((d < radius).sum() for d in _pair_distances(x)))


def distinct_images(x: Tensor, radius: float) -> float:
    pairs = len(x) * (len(x) - 1) / 2
    collisions = close_pairs(x, radius)
    return float(CEILING) if collisions == 0 else min(pairs / collisions, float(CEILING))


def compute(real: Features, fake: Features) -> dict[str, float]:
    return {"distinct_images": distinct_images(fake.embedding, real.duplicate_radius)}
