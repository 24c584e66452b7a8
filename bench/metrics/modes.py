"""Mode coverage: which classes the generator hits, judged by the evaluator, among
the samples that are digits at all (``validity``).

``valid_share`` is the share of samples judged digits; ``modes``, ``kl_uniform`` and
the histogram count only those, so noise scores 0 modes instead of one confident
"8". torchmetrics has no mode-counting metric; the histogram is a bincount and the
KL comes from scipy.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.metrics.features import Features
from bench.metrics.reference import Reference

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


def compute(real: Reference, fake: Features) -> dict[str, float]:
    valid = real.digits.is_digit(fake.embedding)
    counts = histogram(fake.select(valid))
    total = len(counts)
    if not counts.sum():  # no digits: no mode covered, and the KL of a point mass (its worst value)
        modes, kl = 0, float(np.log(total))
    else:
        import scipy.stats  # seconds to import, for processes that score (plots import this module)

        modes = covered(counts)
        kl = float(scipy.stats.entropy(counts / counts.sum(), np.full(total, 1 / total)))
    confident = (fake.logits.softmax(-1).amax(-1) >= CONFIDENT).all(-1).float().mean()
    return {
        "modes": modes,
        "modes_total": total,
        "kl_uniform": kl,
        "valid_share": float(valid.float().mean()),
        "confident": float(confident),
        "mode_histogram": counts.tolist(),
    }
