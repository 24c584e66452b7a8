"""The evaluator: a small CNN whose features and class probabilities drive every metric."""

from __future__ import annotations

import torch
from torch import nn

FEATURE_DIM = 128


def _block(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    # Stride-2 convolutions instead of max-pooling: on a 2-core CPU pooling and
    # normalising full-resolution maps cost more than the convolutions themselves.
    return [nn.Conv2d(c_in, c_out, kernel, 2, kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class Classifier(nn.Module):
    """uint8 [N,1,28,28] -> logits [N,10]; ``embed`` gives the penultimate features too.

    Features are the batch-normalised penultimate layer before its ReLU: dense (no
    dead dimensions, so a well-conditioned covariance for FID) and of unit scale per
    dimension on the training data (so KID's cubic kernel is not dominated by scale).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            *_block(1, 32, 5),  # 14x14
            *_block(32, 64, 3),  # 7x7
            *_block(64, 128, 3),  # 4x4
            nn.Flatten(),
            nn.Linear(128 * 4 * 4, FEATURE_DIM, bias=False),
            nn.BatchNorm1d(FEATURE_DIM),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(FEATURE_DIM, num_classes))

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [N,128], logits [N,10]) for uint8 or [0,1]-float images."""
        x = images.float() / 255 if images.dtype == torch.uint8 else images
        features = self.body(x * 2 - 1)
        return features, self.head(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(images)[1]
