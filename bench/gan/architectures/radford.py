"""The DCGAN of Radford et al. 2016 as report 002 (5.4/5.5) sums it up, at 32x32.

Transposed convolutions in G, strided convolutions in D, no pooling; batch norm in
every layer but G's output and D's input; ReLU in G with a tanh output, leaky ReLU
(0.2) in D; weights N(0, 0.02). The paper's 64x64 generator starts from 4x4x1024;
at 32x32 one stride-2 layer fewer is needed, so G runs 4x4x256 -> 8x8x128 ->
16x16x64 -> 32x32, and D mirrors it (the widths of the PyTorch DCGAN example, halved
with the image side).
"""

from __future__ import annotations

from torch import nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels, normal_02


def _bn(on: bool, channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels)] if on else []


def build(shape: Shape, bn_g: bool = True, bn_d: bool = True, condition: str = "input") -> tuple[Generator, Discriminator]:
    if shape.size != 32:
        raise ValueError(f"the Radford DCGAN here is built for 32x32 images (image_size=32), not {shape.size}")
    g = Generator(
        nn.Sequential(
            Reshape(shape.z_dim + shape.num_classes, 1, 1),
            nn.ConvTranspose2d(shape.z_dim + shape.num_classes, 256, 4, 1, 0, bias=not bn_g), *_bn(bn_g, 256), nn.ReLU(),
            nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=not bn_g), *_bn(bn_g, 128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=not bn_g), *_bn(bn_g, 64), nn.ReLU(),
            nn.ConvTranspose2d(64, shape.channels, 4, 2, 1), nn.Tanh(),
        ),
        shape,
    )
    body = nn.Sequential(
        nn.Conv2d(d_input_channels(shape, condition), 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1, bias=not bn_d), *_bn(bn_d, 128), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 256, 4, 2, 1, bias=not bn_d), *_bn(bn_d, 256), nn.LeakyReLU(0.2), nn.Flatten(),
    )
    d = Discriminator(body, 256 * 4 * 4, shape, condition=condition)  # the head: the paper's last 4x4 convolution
    normal_02(g), normal_02(d)
    return g, d
