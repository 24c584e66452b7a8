"""Report 004's DCGAN: two stride-2 convolutions in D, three 5x5 deconvolutions in G.

The report's ``weight_variable``/``bias_variable`` bodies are not shown; we take the
TensorFlow MNIST tutorial's (truncated normal, stddev 0.1; bias 0.1), whose names they
share.
"""

from __future__ import annotations

from torch import nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.trunc_normal_(m.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(m.bias, 0.1)


def build(shape: Shape) -> tuple[Generator, Discriminator]:
    g = Generator(
        nn.Sequential(
            nn.Linear(shape.z_dim + shape.num_classes, 4 * 4 * 64), nn.ReLU(), Reshape(64, 4, 4),
            nn.ConvTranspose2d(64, 32, 5, 2, 2), nn.ReLU(),  # 7x7
            nn.ConvTranspose2d(32, 16, 5, 2, 2, output_padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(16, shape.channels, 5, 2, 2, output_padding=1), nn.Tanh(),  # 28x28
        ),
        shape,
    )
    body = nn.Sequential(
        nn.Conv2d(d_input_channels(shape), 32, 5, 2, 2), nn.ReLU(), nn.Conv2d(32, 64, 5, 2, 2), nn.ReLU(), nn.Flatten()
    )
    d = Discriminator(body, 7 * 7 * 64, shape)
    _init(g), _init(d)
    return g, d
