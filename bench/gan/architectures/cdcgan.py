"""The conditional DCGAN that report 003 compares its CGAN with.

The report gives no architecture, so we use the common one it appears to follow
(the TensorFlow cDCGAN that the report's training loop mirrors): labels enter G
concatenated to z and D as ten constant one-hot channels.
"""

from __future__ import annotations

from torch import nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels, normal_02


def build(shape: Shape) -> tuple[Generator, Discriminator]:
    g = Generator(
        nn.Sequential(
            Reshape(shape.z_dim + shape.num_classes, 1, 1),
            nn.ConvTranspose2d(shape.z_dim + shape.num_classes, 256, 7, 1, 0), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),  # 7x7
            nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),  # 14x14
            nn.ConvTranspose2d(128, shape.channels, 4, 2, 1), nn.Tanh(),  # 28x28
        ),
        shape,
    )
    body = nn.Sequential(
        nn.Conv2d(d_input_channels(shape), 128, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, 2, 1), nn.BatchNorm2d(256), nn.LeakyReLU(0.2), nn.Flatten(),
    )
    d = Discriminator(body, 256 * 7 * 7, shape)
    normal_02(g), normal_02(d)
    return g, d
