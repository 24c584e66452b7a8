"""Mode coverage: which classes the generator hits, judged by the evaluator.

torchmetrics has no mode-counting metric; the histogram is a bincount and the KL
comes from scipy.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
import torch

from bench.metrics.features import Features

CONFIDENT = 0.9  # a prediction counts as confident when every channel's top probability reaches this
MIN_SHARE = 0.1  # 10 classes: a mode is covered with at least 10 % of its uniform share


def histogram(fake: Features) -> np.ndarray:
    """Counts of predicted classes (10, or 1000 triples for stacked images)."""
    total = 10**fake.channels
    return torch.bincount(fake.predicted, minlength=total).cpu().numpy()


def covered(counts: np.ndarray) -> int:
    """The ``modes`` metric of a class histogram: classes with at least ``MIN_SHARE`` of
    the uniform share (10 classes), or seen at all (the 1000 triples of stacked MNIST,
    as in PacGAN's protocol)."""
    total = len(counts)
    if total == 10:
        return int((counts / max(counts.sum(), 1) >= MIN_SHARE / total).sum())
    return int((counts > 0).sum())


def compute(real: Features, fake: Features) -> dict[str, float]:
    counts = histogram(fake)
    total = len(counts)
    share = counts / counts.sum()
    modes = covered(counts)
    confident = (fake.logits.softmax(-1).amax(-1) >= CONFIDENT).all(-1).float().mean()
    return {
        "modes": modes,
        "modes_total": total,
        "kl_uniform": float(scipy.stats.entropy(share, np.full(total, 1 / total))),
        "confident": float(confident),
        "mode_histogram": counts.tolist(),
    }
