"""Inception-style score with the evaluator's class probabilities (torchmetrics).

For stacked MNIST the classes are the 1000 digit triples, with the three channels'
predictions taken as independent.
"""

from __future__ import annotations

import warnings

from torchmetrics.image.inception import InceptionScore

from bench.metrics.features import Features, Precomputed, seeded

SPLITS = 10


@seeded
def compute(real: Features, fake: Features) -> dict[str, float]:
    log_probs = fake.class_log_probs()  # softmax of log-probs is the probs: valid logits
    with warnings.catch_warnings():  # "saves all features": yes, they are already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = InceptionScore(feature=Precomputed(log_probs.shape[1]), splits=min(SPLITS, len(fake)))
    metric.update(log_probs)
    mean, std = metric.compute()
    return {"is": float(mean), "is_std": float(std)}
