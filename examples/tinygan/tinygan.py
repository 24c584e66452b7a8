"""A GAN of your own in a bench study: an architecture, a loss and a remedy, each
named by import path (``"tinygan:build"``, ``"tinygan:lsgan_symmetric"``,
``"tinygan:ModeSeeking:0.1"``). bench imports this file from the study file's folder,
so every worker, on any machine, loads the same code.
"""

from __future__ import annotations

from torch import Tensor, nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_dim
from bench.gan.losses import Loss
from bench.gan.remedies import Remedy


def build(shape: Shape, bn_g: bool = True, bn_d: bool = True, condition: str = "input") -> tuple[Generator, Discriminator]:
    """A small fully connected GAN: G z -> 256 -> image, D image -> 256 -> logit.

    Any signature ``(shape) -> (G, D)`` works; the optional keywords make the settings
    ``bn_g``/``bn_d`` (remedies no-bn-g/no-bn-d) and ``condition=projection`` apply.
    Subclassing bench's ``Generator``/``Discriminator`` gives conditioning, feature
    matching and minibatch features for free."""
    pixels = shape.channels * shape.size**2
    g_body = nn.Sequential(
        nn.Linear(shape.z_dim + shape.num_classes, 256), *([nn.BatchNorm1d(256)] if bn_g else []), nn.ReLU(),
        nn.Linear(256, pixels), nn.Sigmoid(), Reshape(shape.channels, shape.size, shape.size),
    )
    d_body = nn.Sequential(nn.Linear(d_input_dim(shape, condition), 256), *([nn.BatchNorm1d(256)] if bn_d else []), nn.LeakyReLU(0.2))
    return Generator(g_body, shape), Discriminator(d_body, 256, shape, flat=True, condition=condition)


def _lsgan_symmetric(real: Tensor, fake: Tensor, real_target: float = 1.0) -> tuple[Tensor, Tensor]:
    """Least squares with targets -1 (fake) and 1 (real); G aims at 0 (Mao et al. 2017, a = -1, b = 1, c = 0)."""
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * ((fake + 1) ** 2).mean(), 0.5 * (fake**2).mean()


lsgan_symmetric = Loss(_lsgan_symmetric)  # a bare function works too; a Loss says more (targets, penalty, separable)


class ModeSeeking(Remedy):
    """Mode seeking (Mao et al. 2019, MSGAN): G is penalised when two noise vectors give
    similar images. Named ``tinygan:ModeSeeking:WEIGHT``."""

    def __init__(self, weight: str = "1.0"):
        super().__init__()
        self.weight = float(weight)

    def g_loss(self, gan, fake: Tensor, labels: Tensor | None) -> Tensor:
        n = gan.config.batch_size
        z1, z2, labels = gan.noise(n), gan.noise(n), gan.random_labels(n)
        ratio = (gan.g(z1, labels) - gan.g(z2, labels)).abs().mean() / (z1 - z2).abs().mean()
        return self.weight / (ratio + 1e-5)
