"""Report 001's DCGAN: a resize-convolution generator and an average-pooling discriminator.

TF 'SAME' padding with stride 2 pads one pixel at the bottom/right only; PyTorch
pads both sides. The output sizes match; the sampling grid is shifted by half a pixel.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels, initialise


class _ResizeTo56(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, size=(56, 56), mode="bicubic", align_corners=False)


def build(shape: Shape) -> tuple[Generator, Discriminator]:
    z, wide, narrow = shape.z_dim, shape.z_dim // 2, shape.z_dim // 4
    g = Generator(
        nn.Sequential(
            nn.Linear(z + shape.num_classes, 56 * 56), nn.BatchNorm1d(56 * 56, eps=1e-5), nn.ReLU(), Reshape(1, 56, 56),
            nn.Conv2d(1, wide, 3, 2, 1), nn.BatchNorm2d(wide, eps=1e-5), nn.ReLU(), _ResizeTo56(),
            nn.Conv2d(wide, narrow, 3, 2, 1), nn.BatchNorm2d(narrow, eps=1e-5), nn.ReLU(), _ResizeTo56(),
            nn.Conv2d(narrow, shape.channels, 1, 2), nn.Sigmoid(),  # 56 -> 28
        ),
        shape,
    )
    body = nn.Sequential(
        nn.Conv2d(d_input_channels(shape), 32, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(64 * 7 * 7, 1024), nn.ReLU(),
    )
    d = Discriminator(body, 1024, shape)
    for net in (g, d):  # 001: truncated normal, stddev 0.01, everywhere
        initialise(net, lambda w: nn.init.trunc_normal_(w, std=0.01, a=-0.02, b=0.02))
    return g, d
