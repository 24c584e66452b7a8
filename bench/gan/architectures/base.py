"""What every generator and discriminator has in common.

A ``Discriminator`` is ``features`` (image -> vector) followed by ``head`` (vector ->
logit), so feature matching, minibatch features and projection conditioning work
the same way on every architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Shape:
    channels: int = 1  # 3 for stacked MNIST
    size: int = 28  # side of the square image the networks see
    z_dim: int = 100
    num_classes: int = 0  # > 0: conditional on a class label
    pack: int = 1  # PacGAN: the discriminator judges `pack` samples at once


class Generator(nn.Module):
    """``body`` maps noise (with the one-hot label appended, if conditional) to images."""

    def __init__(self, body: nn.Module, shape: Shape):
        super().__init__()
        self.body, self.shape = body, shape

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.shape.num_classes:
            z = torch.cat([z, F.one_hot(labels, self.shape.num_classes).to(z.dtype)], 1)
        return self.body(z)


class Discriminator(nn.Module):
    """``body``: (images, and one-hot label maps or vector if ``condition == "input"``) -> features.

    ``flat`` bodies take the image as one vector. ``minibatch`` holds modules that add
    statistics across the batch to the features (mode-collapse remedies), in order.
    """

    def __init__(self, body: nn.Module, feature_dim: int, shape: Shape, flat: bool = False, condition: str = "input"):
        super().__init__()
        self.body, self.shape, self.flat, self.condition = body, shape, flat, condition
        self.feature_dim = feature_dim  # of ``features``, before any minibatch features
        self.minibatch = nn.ModuleList()
        self.head = nn.Linear(feature_dim, 1)
        if shape.num_classes and condition == "projection":  # Miyato & Koyama 2018
            self.embed = nn.Embedding(shape.num_classes, feature_dim)
            nn.init.xavier_uniform_(self.embed.weight)  # N(0, 1) would swamp the logit at the start

    def add_minibatch_features(self, module: nn.Module, extra_dim: int) -> None:
        """Append ``extra_dim`` features computed by ``module`` from the body's features."""
        self.minibatch.append(module)
        self.head = nn.Linear(self.head.in_features + extra_dim, 1)

    def features(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        conditional = self.shape.num_classes and self.condition == "input"
        if conditional:  # (packing is not combined with labels; variants reject it)
            one_hot = F.one_hot(labels, self.shape.num_classes).to(x.dtype)
        if self.flat:
            x = x.flatten(1)
            if conditional:
                x = torch.cat([x, one_hot], 1)
        elif conditional:
            x = torch.cat([x, one_hot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.body(x)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        h = self.features(x, labels)
        if len(self.minibatch):
            h = torch.cat([h, *(module(h) for module in self.minibatch)], 1)
        logits = self.head(h).squeeze(1)
        if self.shape.num_classes and self.condition == "projection":
            logits = logits + (self.embed(labels) * h[:, : self.embed.embedding_dim]).sum(1)
        return logits


def d_input_channels(shape: Shape, condition: str = "input") -> int:
    """Channels a convolutional D body receives: packed samples plus label maps."""
    return shape.channels * shape.pack + (shape.num_classes if condition == "input" else 0)


def d_input_dim(shape: Shape, condition: str = "input") -> int:
    """Length of a flat D body's input vector."""
    return shape.channels * shape.pack * shape.size**2 + (shape.num_classes if condition == "input" else 0)


def initialise(module: nn.Module, init) -> None:
    """Apply ``init(weight)`` to every linear and convolution layer; zero their biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            init(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def normal_02(module: nn.Module) -> None:
    """The DCGAN initialisation: N(0, 0.02) weights, BatchNorm scales N(1, 0.02)."""
    initialise(module, lambda w: nn.init.normal_(w, 0.0, 0.02))
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Reshape(nn.Module):
    def __init__(self, *shape: int):
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(len(x), *self.shape)
