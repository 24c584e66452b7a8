"""Per-class recall and coverage: real images of class c against the samples the
evaluator classifies as c, and the minimum over classes.

A generator that draws every digit but only a few shapes of each keeps 10/10 modes;
the recall and coverage of the class it repeats fall. Stacked MNIST has about ten
real test images per triple, too few for k-nearest-neighbour balls, so it gets
none (its NDB and distinct images do apply).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.metrics.features import Features
from bench.metrics.prdc import K_DENSITY_COVERAGE, K_PRECISION_RECALL, knn_radii, prdc


def compute(real: Features, fake: Features) -> dict:
    if fake.channels != 1 or real.labels is None:
        return {}
    recall, coverage = [], []
    predicted = fake.predicted
    radii = getattr(real, "class_radii", None)
    for c in range(real.logits.shape[-1]):
        mine = real.labels == c
        scores = prdc(real.embedding[mine], fake.embedding[predicted == c], real_radii=None if radii is None else (radii[0][mine], radii[1][mine]))
        recall.append(scores["recall"])
        coverage.append(scores["coverage"])
    return {"recall_min": min(recall), "coverage_min": min(coverage), "recall_per_class": recall, "coverage_per_class": coverage}


def class_radii(embedding: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """``knn_radii`` of each real image among the images of its own class."""
    pr, dc = torch.zeros(len(labels), device=labels.device), torch.zeros(len(labels), device=labels.device)
    for c in labels.unique():
        mine = labels == c
        pr[mine], dc[mine] = knn_radii(embedding[mine], K_PRECISION_RECALL, K_DENSITY_COVERAGE)
    return pr, dc
