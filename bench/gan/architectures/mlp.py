"""Fully connected GANs of reports 000, 002 and 003, and 000's small CNN discriminator."""

from __future__ import annotations

import math

from torch import nn

from bench.gan.architectures.base import Discriminator, Generator, Reshape, Shape, d_input_channels, d_input_dim, initialise


def _seed000_init(module: nn.Module) -> None:
    # 000: tf.random_normal(stddev=1/sqrt(fan_in/2)); TF weights are [fan_in, fan_out]
    def init(w):
        fan_in = w[0].numel()
        nn.init.normal_(w, 0.0, 1 / math.sqrt(fan_in / 2))

    initialise(module, init)


def seed000_fc(shape: Shape) -> tuple[Generator, Discriminator]:
    """000 part 1: G z -> 256 ReLU -> image sigmoid; D image -> 256 ReLU -> 1."""
    pixels = shape.channels * shape.size**2
    g = Generator(nn.Sequential(nn.Linear(shape.z_dim + shape.num_classes, 256), nn.ReLU(), nn.Linear(256, pixels), nn.Sigmoid(), Reshape(shape.channels, shape.size, shape.size)), shape)
    d = Discriminator(nn.Sequential(nn.Linear(d_input_dim(shape), 256), nn.ReLU()), 256, shape, flat=True)
    _seed000_init(g), _seed000_init(d)
    return g, d


def seed000_cnn_d(shape: Shape) -> tuple[Generator, Discriminator]:
    """000 part 2: the same G; D conv 5x5x16 SAME + ReLU, max-pool 2, FC 256 ReLU, FC 1."""
    g, _ = seed000_fc(shape)
    body = nn.Sequential(
        nn.Conv2d(d_input_channels(shape), 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * (shape.size // 2) ** 2, 256), nn.ReLU(),
    )
    d = Discriminator(body, 256, shape)
    _seed000_init(d)
    return g, d


def _mlp(sizes: list[int], activation, dropout: float) -> list[nn.Module]:
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b), activation()] + ([nn.Dropout(dropout)] if dropout else [])
    return layers


def seed002_fc(shape: Shape) -> tuple[Generator, Discriminator]:
    """002 3.1/3.2: G z -> 32 -> 64 -> 128 -> image tanh, D the reverse; leaky ReLU (slope 0.01) and dropout 0.3."""
    pixels = shape.channels * shape.size**2
    g_layers = _mlp([shape.z_dim + shape.num_classes, 32, 64, 128], nn.LeakyReLU, 0.3)
    g = Generator(nn.Sequential(*g_layers, nn.Linear(128, pixels), nn.Tanh(), Reshape(shape.channels, shape.size, shape.size)), shape)
    d = Discriminator(nn.Sequential(*_mlp([d_input_dim(shape), 128, 64, 32], nn.LeakyReLU, 0.3)), 32, shape, flat=True)
    return g, d


def seed003_cgan(shape: Shape) -> tuple[Generator, Discriminator]:
    """003: G concat(z, one-hot) -> 128 ReLU -> image tanh; D concat(x, one-hot) -> 128 leaky ReLU 0.2 -> 1; Xavier init."""
    pixels = shape.channels * shape.size**2
    g = Generator(nn.Sequential(nn.Linear(shape.z_dim + shape.num_classes, 128), nn.ReLU(), nn.Linear(128, pixels), nn.Tanh(), Reshape(shape.channels, shape.size, shape.size)), shape)
    d = Discriminator(nn.Sequential(nn.Linear(d_input_dim(shape), 128), nn.LeakyReLU(0.2)), 128, shape, flat=True)
    initialise(g, nn.init.xavier_uniform_), initialise(d, nn.init.xavier_uniform_)
    return g, d
