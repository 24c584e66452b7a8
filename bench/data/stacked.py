"""Stacked MNIST: three independently drawn MNIST digits as the RGB channels.

The 1000-mode benchmark of Unrolled GAN, VEEGAN and PacGAN. A sample's label is
the digit triple read as a base-10 number (channel 0 is the hundreds digit).
"""

from __future__ import annotations

import torch

TRAIN_SIZE = 128_000  # VEEGAN/PacGAN: drawn from MNIST train+test
TEST_SIZE = 10_000  # reference set for FID, drawn from MNIST test only
TRAIN_SEED = 0
TEST_SEED = 1


def build(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stacked images [n,3,28,28] and labels (0..999) from single-digit ``images`` [N,1,28,28]."""
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(images), (n, 3), generator=generator)
    stacked = images[picks, 0]  # [n, 3, 28, 28]
    return stacked, encode(labels[picks])


def encode(digits: torch.Tensor) -> torch.Tensor:
    """[..., 3] digits -> labels 0..999."""
    return digits[..., 0] * 100 + digits[..., 1] * 10 + digits[..., 2]


def decode(labels: torch.Tensor) -> torch.Tensor:
    """Labels 0..999 -> [..., 3] digits (inverse of ``encode``)."""
    return torch.stack([labels // 100, labels // 10 % 10, labels % 10], dim=-1)
