"""The reference backbone: the InfoGAN-style 28x28 DCGAN of Lucic et al. 2018
("Are GANs Created Equal?"), used for every loss and remedy study."""

from __future__ import annotations

from torch import nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels, normal_02


def _bn(on: bool, kind, n: int) -> list[nn.Module]:
    return [kind(n)] if on else []


def build(shape: Shape, bn_g: bool = True, bn_d: bool = True, condition: str = "input") -> tuple[Generator, Discriminator]:
    """D conv64 4x4 s2 -> conv128 4x4 s2 (+BN) -> FC 1024 (+BN) -> 1, leaky ReLU 0.2;
    G FC 1024 (+BN) -> FC 128*7*7 (+BN) -> deconv 64 (+BN) -> deconv C, sigmoid."""
    g = Generator(
        nn.Sequential(
            nn.Linear(shape.z_dim + shape.num_classes, 1024), *_bn(bn_g, nn.BatchNorm1d, 1024), nn.ReLU(),
            nn.Linear(1024, 128 * 7 * 7), *_bn(bn_g, nn.BatchNorm1d, 128 * 7 * 7), nn.ReLU(), Reshape(128, 7, 7),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), *_bn(bn_g, nn.BatchNorm2d, 64), nn.ReLU(),
            nn.ConvTranspose2d(64, shape.channels, 4, 2, 1), nn.Sigmoid(),
        ),
        shape,
    )
    body = nn.Sequential(
        nn.Conv2d(d_input_channels(shape, condition), 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), *_bn(bn_d, nn.BatchNorm2d, 128), nn.LeakyReLU(0.2), nn.Flatten(),
        nn.Linear(128 * 7 * 7, 1024), *_bn(bn_d, nn.BatchNorm1d, 1024), nn.LeakyReLU(0.2),
    )
    d = Discriminator(body, 1024, shape, condition=condition)
    normal_02(g), normal_02(d)
    return g, d
