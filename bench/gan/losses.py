"""GAN losses as pure functions with one signature (after compare_gan):

    loss(real, fake, real_target=1.0) -> (d_loss, g_loss)

``real`` and ``fake`` are the discriminator's raw outputs (logits) on real and
generated samples. The D step uses ``d_loss``; the G step passes the D step's real
logits (detached) with fresh fake logits and uses ``g_loss``. ``real_target`` < 1
is one-sided label smoothing, meaningful for the losses that have targets.

Sigmoid-plus-log losses are written with ``softplus`` on logits: the same function,
without the log(0) = -inf that sigmoid outputs hit when D saturates.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


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


# name -> (loss function, penalty it implies, whether real_target applies)
LOSSES = {
    "mm": (mm, None, True),
    "ns": (ns, None, True),
    "lsgan": (lsgan, None, True),
    "wgan": (wgan, None, False),
    "wgan-gp": (wgan, "wgan-gp", False),
    "dragan": (ns, "dragan", True),  # Kodali et al. 2017: NS loss plus its penalty
    "hinge": (hinge, None, False),
}
