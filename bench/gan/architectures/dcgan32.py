"""The PyTorch-GAN DCGAN that report 002 ran (3.3/3.4/6), on 32x32 images.

Faithful quirk: ``nn.BatchNorm2d(C, 0.8)`` passes 0.8 as ``eps`` (the author meant
momentum), which flattens the normalisation; kept because the report trained with it.
"""

from __future__ import annotations

from torch import nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels


def _init(module: nn.Module) -> None:
    # PyTorch-GAN's weights_init_normal: conv weights N(0, 0.02), BatchNorm2d N(1, 0.02) and
    # zero bias; linear layers and conv biases keep PyTorch's defaults.
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build(shape: Shape) -> tuple[Generator, Discriminator]:
    init = shape.size // 4
    g = Generator(
        nn.Sequential(
            nn.Linear(shape.z_dim + shape.num_classes, 128 * init**2), Reshape(128, init, init),
            nn.BatchNorm2d(128), nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 128, 3, 1, 1), nn.BatchNorm2d(128, 0.8), nn.LeakyReLU(0.2), nn.Upsample(scale_factor=2),
            nn.Conv2d(128, 64, 3, 1, 1), nn.BatchNorm2d(64, 0.8), nn.LeakyReLU(0.2),
            nn.Conv2d(64, shape.channels, 3, 1, 1), nn.Tanh(),
        ),
        shape,
    )

    def block(c_in: int, c_out: int, bn: bool = True) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout2d(0.25)] + ([nn.BatchNorm2d(c_out, 0.8)] if bn else [])

    body = nn.Sequential(
        *block(d_input_channels(shape), 16, bn=False), *block(16, 32), *block(32, 64), *block(64, 128), nn.Flatten()
    )
    d = Discriminator(body, 128 * (shape.size // 16) ** 2, shape)
    _init(g), _init(d)
    return g, d
