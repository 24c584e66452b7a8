"""Discriminator penalties as pure functions with one signature:

    penalty(discriminator, real, fake) -> scalar tensor (before its weight)

``discriminator`` maps images to logits; conditional models pass a closure that
binds the labels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Discriminator = Callable[[Tensor], Tensor]


def _grad_norm(discriminator: Discriminator, x: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return grad.flatten(1).norm(dim=1)


def wgan_gp(discriminator: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
    """Gulrajani et al. 2017: (||grad D(x_hat)|| - 1)^2 on random interpolates."""
    alpha = torch.rand(len(real), *[1] * (real.ndim - 1), device=real.device)
    return ((_grad_norm(discriminator, alpha * real + (1 - alpha) * fake) - 1) ** 2).mean()


def dragan(discriminator: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
    """Kodali et al. 2017: the same penalty around noisy copies of the real data."""
    noise = 0.5 * real.std() * torch.rand_like(real)
    alpha = torch.rand(len(real), *[1] * (real.ndim - 1), device=real.device)
    return ((_grad_norm(discriminator, real + alpha * noise) - 1) ** 2).mean()


def r1(discriminator: Discriminator, real: Tensor, fake: Tensor) -> Tensor:
    """Mescheder et al. 2018: 1/2 ||grad D(x)||^2 on real data."""
    return 0.5 * (_grad_norm(discriminator, real) ** 2).mean()


PENALTIES = {"wgan-gp": wgan_gp, "dragan": dragan, "r1": r1}
