"""Extract, once per image set, everything the metrics look at.

Every metric reads the same ``Features``: running the network once and sharing the
result is what keeps the full suite on 10,000 samples fast, and lets the real
test set's features be cached on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

from bench.evaluator import Evaluator


@dataclass(frozen=True)
class Features:
    embedding: Tensor  # [N, F] backbone features (FID, KID, precision/recall, density/coverage)
    logits: Tensor  # [N, C, 10] evaluator logits for each of the C channels
    labels: Tensor | None = None  # [N] true (real) or requested (generated) labels

    def __len__(self) -> int:
        return len(self.embedding)

    @property
    def channels(self) -> int:
        return self.logits.shape[1]

    @property
    def predicted(self) -> Tensor:
        """Predicted class: a digit, or for stacked images the triple as 0..999."""
        digits = self.logits.argmax(-1)  # [N, C]
        weights = 10 ** torch.arange(self.channels - 1, -1, -1, device=digits.device)
        return (digits * weights).sum(-1)

    def class_log_probs(self) -> Tensor:
        """[N, 10**C] log-probabilities over all classes, channels taken as independent."""
        per_channel = self.logits.log_softmax(-1).unbind(1)
        joint = per_channel[0]
        for lp in per_channel[1:]:
            joint = (joint[:, :, None] + lp[:, None, :]).flatten(1)
        return joint

    def select(self, mask: Tensor) -> Features:
        return Features(self.embedding[mask], self.logits[mask], None if self.labels is None else self.labels[mask])

    def slice(self, start: int, end: int) -> Features:
        return self.select(slice(start, end))


class Precomputed(nn.Module):
    """Identity 'network' handed to torchmetrics: its inputs are already features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


@torch.inference_mode()
def extract(
    images: Tensor,
    evaluator: Evaluator,
    labels: Tensor | None = None,
    backbone: nn.Module | None = None,
    batch_size: int = 1000,
) -> Features:
    """``Features`` of uint8 images [N, C, 28, 28]; channels are classified one by one.

    ``backbone`` (e.g. Inception) replaces the evaluator's embedding; class logits
    always come from the evaluator.
    """
    device = next(evaluator.model.parameters()).device
    n, c = images.shape[:2]
    embeddings, logits = [], []
    starts = range(0, n, batch_size)  # the bar shows only for slow runs (e.g. Inception on CPU)
    for start in tqdm(starts, desc="features", unit="batch", delay=2, leave=False, disable=None):
        batch = images[start : start + batch_size].to(device, non_blocking=True)
        emb, log = evaluator.model.embed(batch.flatten(0, 1).unsqueeze(1))
        logits.append(log.unflatten(0, (-1, c)).float())
        embeddings.append(backbone(batch).float() if backbone is not None else emb.unflatten(0, (-1, c)).flatten(1).float())
    return Features(torch.cat(embeddings), torch.cat(logits), None if labels is None else labels.to(device))


def seeded(fn):
    """Run ``fn`` with the global RNG seeded and restored: torchmetrics' IS and KID draw
    random subsets from it, and reproducible numbers need fixed draws."""

    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return fn(*args, **kwargs)

    return wrapper
