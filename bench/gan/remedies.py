"""Mode-collapse remedies that need code of their own (the rest are settings of the step).

Each is small and named after its paper; ``GAN`` wires them into its train step.
``Remedy`` is the seam for a remedy of your own.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Remedy(nn.Module):
    """A remedy of your own, named in ``remedies=`` as ``mypkg.module:Class`` (or
    ``mypkg.module:Class:ARG``: the class is built with the text ARG). Override the
    hooks it needs; each is called in every update order. ``real`` and ``fake`` are
    what D sees (after instance noise and packing). As a module, its parameters and
    buffers are checkpointed with the GAN."""

    def setup(self, gan) -> None:
        """Once, after G and D are built and before the optimisers: may change them."""

    def d_loss(self, gan, real: Tensor, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        """A term added to D's objective (logged as ``d_<name>``)."""

    def g_loss(self, gan, fake: Tensor, labels: Tensor | None) -> Tensor | None:
        """A term added to G's objective (logged as ``g_<name>``)."""

    def after_d_step(self, gan) -> None:
        """After every optimiser step of D."""

    def after_g_step(self, gan) -> None:
        """After every optimiser step of G."""

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: per sample, how close it is to the rest of the batch
    under ``kernels`` learned projections (L1 distance, negative exponential)."""

    def __init__(self, in_dim: int, kernels: int = 50, kernel_dim: int = 5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_dim, kernels * kernel_dim) * 0.1)

    def forward(self, h: Tensor) -> Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.kernel_dim)  # [N, B, C]
        l1 = (m[:, None] - m[None]).abs().sum(-1)  # [N, N, B]
        return torch.exp(-l1).sum(1) - 1  # minus each sample's match with itself


class MinibatchStd(nn.Module):
    """Karras et al. 2018: the batch's mean feature standard deviation, as one more feature."""

    def forward(self, h: Tensor) -> Tensor:
        return h.std(0, unbiased=False).mean().expand(len(h), 1)


def pack(x: Tensor, m: int) -> Tensor:
    """PacGAN (Lin et al. 2018): m consecutive samples become one input with m times the channels."""
    return x if m == 1 else x.reshape(len(x) // m, m * x.shape[1], *x.shape[2:])


def instance_noise_std(sigma: float, step: int, steps: int) -> float:
    """Sønderby et al. 2017: Gaussian noise on D's inputs, annealed linearly to zero."""
    return sigma * max(0.0, 1 - step / steps)


def spectral_norm(module: nn.Module) -> None:
    """Miyato et al. 2018 on every linear and convolution layer."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            setattr(module, name, nn.utils.parametrizations.spectral_norm(child))
        else:
            spectral_norm(child)


class HistoricalAverage(nn.Module):
    """Salimans et al. 2016: penalise ||theta - mean of all past theta||^2.

    It reads the weights of the module it is given at each call, so under
    ``functional_call`` (a population) it reads the member's. The means are buffers for
    the same reason, non-persistent: checkpoints keep them beside the GAN's weights,
    with the count (``state``)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.names = [name for name, p in module.named_parameters() if p.requires_grad]
        params = dict(module.named_parameters())
        for i, name in enumerate(self.names):
            self.register_buffer(f"mean{i}", params[name].detach().clone(), persistent=False)
        self.count = 1

    @property
    def mean(self) -> list[Tensor]:
        return [getattr(self, f"mean{i}") for i in range(len(self.names))]

    def _params(self, module: nn.Module) -> list[Tensor]:
        params = dict(module.named_parameters())
        return [params[name] for name in self.names]

    def penalty(self, module: nn.Module) -> Tensor:
        return sum(((p - m) ** 2).sum() for p, m in zip(self._params(module), self.mean))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.count += 1
        for m, p in zip(self.mean, self._params(module)):
            m.lerp_(p, 1 / self.count)

    def state(self) -> dict:
        return {"mean": self.mean, "count": self.count}

    def load_state(self, state: dict) -> None:
        for m, saved in zip(self.mean, state["mean"]):
            m.copy_(saved)
        self.count = state["count"]


@torch.no_grad()
def ema_update(average: nn.Module, model: nn.Module, decay: float, updates: Tensor) -> None:
    """Exponential moving average of G's weights (Yazıcı et al. 2019) that averages
    trained weights only: the first update copies G, and update t uses the decay
    min(decay, (1 + t) / (10 + t)), as TensorFlow's ExponentialMovingAverage does with
    num_updates. A plain EMA with decay 0.999 still holds 61 % of the initial weights
    after 500 steps, and an Adam-style bias correction averages the whole early
    trajectory nearly evenly; this one follows the last ~t/10 steps until t/10 reaches
    1/(1 - decay). ``updates`` (a 0-dim tensor, kept in the GAN's state and CUDA-graph
    safe) counts t. Buffers (batch-norm statistics) are copied."""
    updates.add_(1)
    t = updates.float()
    step_decay = torch.clamp((1 + t) / (10 + t), max=decay) * (t > 1)  # 0 at t = 1: a copy
    for a, p in zip(average.parameters(), model.parameters()):
        a.lerp_(p, 1 - step_decay)
    for a, b in zip(average.buffers(), model.buffers()):
        a.copy_(b)
