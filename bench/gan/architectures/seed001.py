"""Report 001's DCGAN: a resize-convolution generator and an average-pooling discriminator.

TF 'SAME' padding with stride 2 pads one pixel at the bottom/right only; PyTorch
pads both sides. The output sizes match; the sampling grid is shifted by half a pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels, initialise


class _ResizeTo56(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, size=(56, 56), mode="bicubic", align_corners=False)


class TFBatchNorm(nn.Module):
    """``tf.contrib.layers.batch_norm`` with its defaults, as 001 calls it on NHWC tensors:
    one mean and variance per channel (the last axis: for the 56x56x1 map, one for the
    whole map), an offset beta but no scale (``scale=False``), and batch statistics
    always (``is_training=True``; the moving averages were never updated), at
    sampling too."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, eps=1e-5, affine=False, track_running_stats=False)
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x) + self.beta[:, None, None]


def build(shape: Shape) -> tuple[Generator, Discriminator]:
    z, wide, narrow = shape.z_dim, shape.z_dim // 2, shape.z_dim // 4
    g = Generator(
        nn.Sequential(
            nn.Linear(z + shape.num_classes, 56 * 56), Reshape(1, 56, 56), TFBatchNorm(1), nn.ReLU(),
            nn.Conv2d(1, wide, 3, 2, 1), TFBatchNorm(wide), nn.ReLU(), _ResizeTo56(),
            nn.Conv2d(wide, narrow, 3, 2, 1), TFBatchNorm(narrow), nn.ReLU(), _ResizeTo56(),
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
    normal = lambda w: nn.init.trunc_normal_(w, std=0.01, a=-0.02, b=0.02)  # noqa: E731
    for net in (g, d):  # 001: weights truncated normal, stddev 0.01; D's biases 0 ...
        initialise(net, normal)
    for m in g.modules():  # ... G's biases truncated normal too
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            normal(m.bias)
    return g, d
