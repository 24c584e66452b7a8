"""GAN losses as pure functions with one signature (after compare_gan):

    loss(real, fake, real_target=1.0) -> (d_loss, g_loss)

``real`` and ``fake`` are the discriminator's raw outputs (logits) on real and
generated samples. The D step uses ``d_loss``; the G step passes the D step's real
logits (detached) with fresh fake logits and uses ``g_loss``. ``real_target`` < 1
is one-sided label smoothing, meaningful for the losses that have targets. The G
step's ``g_loss`` may depend on ``fake`` only (the step passes a placeholder for
``real``). D's loss must be a real half plus a fake half (``Loss.separable``) for the
two-optimiser update of report 001.

Sigmoid-plus-log losses are written with ``softplus`` on logits: the same function,
without the log(0) = -inf that sigmoid outputs hit when D saturates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from bench.errors import BenchError


def _bce(logits: Tensor, target: float) -> Tensor:
    # -[t log s(x) + (1 - t) log(1 - s(x))], stable: log s(x) = -softplus(-x)
    return (target * F.softplus(-logits) + (1 - target) * F.softplus(logits)).mean()


def mm(real: Tensor, fake: Tensor, real_target: float = 1.0) -> tuple[Tensor, Tensor]:
    """Minimax (Goodfellow et al. 2014): G minimises log(1 - D(G(z)))."""
    return _bce(real, real_target) + _bce(fake, 0.0), -F.softplus(fake).mean()


def ns(real: Tensor, fake: Tensor, real_target: float = 1.0) -> tuple[Tensor, Tensor]:
    """Non-saturating: G maximises log D(G(z))."""
    return _bce(real, real_target) + _bce(fake, 0.0), F.softplus(-fake).mean()


def lsgan(real: Tensor, fake: Tensor, real_target: float = 1.0) -> tuple[Tensor, Tensor]:
    """Least squares (Mao et al. 2017), targets 0 for fake and 1 for real."""
    d = 0.5 * ((real - real_target) ** 2).mean() + 0.5 * (fake**2).mean()
    return d, 0.5 * ((fake - 1) ** 2).mean()


def wgan(real: Tensor, fake: Tensor, real_target: float = 1.0) -> tuple[Tensor, Tensor]:
    """Wasserstein critic loss (Arjovsky et al. 2017); the Lipschitz constraint comes
    from weight clipping (``wgan``) or a gradient penalty (``wgan-gp``)."""
    return fake.mean() - real.mean(), -fake.mean()


def hinge(real: Tensor, fake: Tensor, real_target: float = 1.0) -> tuple[Tensor, Tensor]:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean(), -fake.mean()


@dataclass(frozen=True)
class Loss:
    """A loss and what the train step needs to know about it. A plug-in loss
    (``loss = "mypkg.losses:name"``) is a ``Loss`` or a bare function (no targets,
    no penalty, separable)."""

    fn: Callable[..., tuple[Tensor, Tensor]]
    penalty: str | None = None  # the gradient penalty it implies (a name in ``PENALTIES``)
    targets: bool = False  # real_target (one-sided label smoothing) applies
    separable: bool = True  # D's loss = f(real) + g(fake)


LOSSES = {
    "mm": Loss(mm, targets=True),
    "ns": Loss(ns, targets=True),
    "lsgan": Loss(lsgan, targets=True),
    "wgan": Loss(wgan),
    "wgan-gp": Loss(wgan, penalty="wgan-gp"),
    "dragan": Loss(ns, penalty="dragan", targets=True),  # Kodali et al. 2017: NS loss plus its penalty
    "hinge": Loss(hinge),
}


def get(name: str) -> Loss:
    """A registered loss, or a plug-in named ``module:attribute``."""
    from bench.gan import plugins

    if name in LOSSES:
        return LOSSES[name]
    if not plugins.is_reference(name):
        raise BenchError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}, or a plug-in 'module:function'")
    found = plugins.load(name, "loss")
    if isinstance(found, Loss):
        return found
    if not callable(found):
        raise BenchError(f"loss {name!r} is neither a bench.gan.losses.Loss nor a function")
    return Loss(found)
