"""Discriminator penalties as pure functions with one signature:

    penalty(critic, real, fake) -> scalar tensor (before its weight)

``critic`` is a ``Critic``: D (or any function of images) with its other arguments
(the labels) bound.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from bench.gan import draws


class Critic:
    """``d(x, *args)`` as a penalty judges it, with the gradient of its sum w.r.t. x."""

    def __init__(self, d: Callable, *args):
        self.d, self.args = d, args

    def __call__(self, x: Tensor) -> Tensor:
        return self.d(x, *self.args)

    def input_grad(self, x: Tensor) -> Tensor:
        """d sum D(x) / dx, itself differentiable w.r.t. D's weights (autograd.grad's
        create_graph=True). torch.func.grad, not autograd.grad: it also runs per member
        under a population's vmap. A transform may not mutate tensors it captures, and
        batch norm updates its running statistics in place, so D's buffers go in as an
        argument (the updates still land in D's buffers)."""
        buffers = dict(self.d.named_buffers()) if isinstance(self.d, nn.Module) else {}

        def total(x: Tensor, buffers: dict) -> Tensor:
            return (functional_call(self.d, buffers, (x, *self.args)) if buffers else self(x)).sum()

        return torch.func.grad(total)(x.detach(), buffers)


def _grad_norm(critic: Critic, x: Tensor) -> Tensor:
    return critic.input_grad(x).flatten(1).norm(dim=1)


def wgan_gp(critic: Critic, real: Tensor, fake: Tensor) -> Tensor:
    """Gulrajani et al. 2017: (||grad D(x_hat)|| - 1)^2 on random interpolates."""
    alpha = draws.uniform((len(real), *[1] * (real.ndim - 1)), real)
    return ((_grad_norm(critic, alpha * real + (1 - alpha) * fake) - 1) ** 2).mean()


def dragan(critic: Critic, real: Tensor, fake: Tensor) -> Tensor:
    """Kodali et al. 2017: the same penalty around noisy copies of the real data."""
    noise = 0.5 * real.std() * draws.uniform_like(real)
    alpha = draws.uniform((len(real), *[1] * (real.ndim - 1)), real)
    return ((_grad_norm(critic, real + alpha * noise) - 1) ** 2).mean()


def r1(critic: Critic, real: Tensor, fake: Tensor) -> Tensor:
    """Mescheder et al. 2018: 1/2 ||grad D(x)||^2 on real data."""
    return 0.5 * (_grad_norm(critic, real) ** 2).mean()


PENALTIES = {"wgan-gp": wgan_gp, "dragan": dragan, "r1": r1}
