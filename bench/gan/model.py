"""A GAN that owns its train step (after mimicry): the trainer only feeds it batches.

``train_step(next_batch, step)`` runs the D update(s) and the G update the config
asks for and returns device tensors (no host synchronisation); every remedy is a
small, named branch here or a module in ``remedies``.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from bench.gan import remedies
from bench.gan.architectures import ARCHITECTURES, Shape
from bench.gan.config import Config
from bench.gan.losses import LOSSES, _bce
from bench.gan.penalties import PENALTIES

NUM_CLASSES = 10
Batch = tuple[Tensor, Tensor]  # images scaled to the config's range, labels


class GAN(nn.Module):
    def __init__(self, config: Config, channels: int = 1, device: str | torch.device = "cpu"):
        super().__init__()
        c = self.config = config
        shape = Shape(channels, c.image_size, c.z_dim, NUM_CLASSES if c.conditional else 0, c.pack)
        build = ARCHITECTURES[c.architecture]
        options = {k: getattr(c, k) for k in ("bn_g", "bn_d", "condition") if k in inspect.signature(build).parameters}
        self.g, self.d = build(shape, **options)
        if c.minibatch_discrimination:
            self.d.add_minibatch_features(remedies.MinibatchDiscrimination(self.d.head.in_features), 50)
        if c.minibatch_std:
            self.d.add_minibatch_features(remedies.MinibatchStd(), 1)
        if c.spectral_norm:
            remedies.spectral_norm(self.d)
        self.g_ema = copy.deepcopy(self.g).requires_grad_(False) if c.ema else None
        self.loss, penalty, self.has_targets = LOSSES[c.loss]
        self.penalty = PENALTIES[penalty] if penalty else None
        self.to(device)
        self.device = torch.device(device)

        def adam(params, lr):  # on GPU: fused kernels (one launch, not one per tensor), and CUDA-graph safe
            cuda = self.device.type == "cuda"
            return torch.optim.Adam(params, lr, betas=(c.beta1, c.beta2), fused=cuda, capturable=cuda)

        self.opt_g, self.opt_d = adam(self.g.parameters(), c.lr_g), adam(self.d.parameters(), c.lr_d)
        # 001 trains D's real and fake losses with two Adam optimisers over the same weights
        self.opt_d_fake = adam(self.d.parameters(), c.lr_d) if c.update == "separate-d" else None
        self.history_g = remedies.HistoricalAverage(self.g) if c.historical_averaging else None
        self.history_d = remedies.HistoricalAverage(self.d) if c.historical_averaging else None

    # -- sampling -----------------------------------------------------------------
    def noise(self, n: int) -> Tensor:
        if self.config.noise == "uniform":
            return torch.rand(n, self.config.z_dim, device=self.device) * 2 - 1
        return torch.randn(n, self.config.z_dim, device=self.device)

    def random_labels(self, n: int) -> Tensor | None:
        if not self.config.conditional:
            return None
        return torch.randint(0, NUM_CLASSES, (n,), device=self.device)

    @torch.no_grad()
    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """Images from the EMA generator when there is one, in eval mode."""
        g = self.g_ema if self.g_ema is not None else self.g
        was_training = g.training
        g.eval()
        images = g(z, labels)
        g.train(was_training)
        return images

    # -- the train step ----------------------------------------------------------------
    def train_step(self, next_batch: Callable[[int], Batch], step: int) -> dict[str, Tensor]:
        """One G update and the D updates before it; ``next_batch(n)`` gives real data."""
        # no cast cache: CUDA graph capture forbids it, and these weights are small
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.config.precision == "bf16", cache_enabled=False):
            return self._train_step(next_batch, step)

    def _train_step(self, next_batch: Callable[[int], Batch], step: int) -> dict[str, Tensor]:
        c = self.config
        if c.update == "simultaneous":
            return self._simultaneous_step(next_batch(c.batch_size), step)
        if c.update == "g-first":
            return self._g_first_step(next_batch(c.batch_size), step)
        if step == 0:
            for _ in range(c.d_pretrain):
                self._d_step(next_batch(c.batch_size * c.pack), step)
        for _ in range(c.n_critic):
            real, labels = next_batch(c.batch_size * c.pack)
            stats = self._d_step((real, labels), step)
        return stats | self._g_step(real, labels, step)

    def d_input(self, x: Tensor, step: int) -> Tensor:
        """What D sees: instance noise, then PacGAN packing."""
        sigma = remedies.instance_noise_std(self.config.instance_noise, step, self.config.steps)
        if sigma:
            x = x + sigma * torch.randn_like(x)
        return remedies.pack(x, self.config.pack)

    def _probability(self, logits: Tensor) -> Tensor:
        """D(x) as logged: a probability for losses with targets, the raw critic value otherwise."""
        return torch.sigmoid(logits).mean() if self.has_targets else logits.mean()

    def _d_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        c = self.config
        real, labels = batch
        with torch.no_grad():
            fake = self.g(self.noise(len(real)), labels)
        real_in, fake_in = self.d_input(real, step), self.d_input(fake, step)
        real_logits, fake_logits = self.d(real_in, labels), self.d(fake_in, labels)
        if c.update == "separate-d":
            return self._separate_d_update(real_logits, fake_logits)
        loss, _ = self.loss(real_logits, fake_logits, 1 - c.label_smoothing)
        d_of = lambda x: self.d(x, labels)  # noqa: E731
        if self.penalty is not None:
            loss = loss + c.penalty_weight * self.penalty(d_of, real_in, fake_in)
        if c.r1:
            loss = loss + c.r1 * PENALTIES["r1"](d_of, real_in, fake_in)
        if self.history_d is not None:
            loss = loss + c.historical_averaging * self.history_d.penalty()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if c.clip:
            with torch.no_grad():
                for p in self.d.parameters():
                    p.clamp_(-c.clip, c.clip)
        if self.history_d is not None:
            self.history_d.update()
        return {"loss_d": loss.detach(), "d_real": self._probability(real_logits.detach()), "d_fake": self._probability(fake_logits.detach())}

    def _separate_d_update(self, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
        """001: each half of D's loss is minimised by its own Adam optimiser, from the same weights."""
        params = list(self.d.parameters())
        loss_real, loss_fake = _bce(real_logits, 1 - self.config.label_smoothing), _bce(fake_logits, 0.0)
        grads_real = torch.autograd.grad(loss_real, params, retain_graph=True)
        grads_fake = torch.autograd.grad(loss_fake, params)
        for optimizer, grads in ((self.opt_d, grads_real), (self.opt_d_fake, grads_fake)):
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()
        return {"loss_d": (loss_real + loss_fake).detach(), "d_real": self._probability(real_logits.detach()), "d_fake": self._probability(fake_logits.detach())}

    def _g_step(self, real: Tensor, real_labels: Tensor | None, step: int) -> dict[str, Tensor]:
        c = self.config
        labels = self.random_labels(len(real))  # 003: G is trained on random labels
        discriminator = self._unrolled(real, real_labels) if c.unrolled else self.d
        self.d.requires_grad_(False)
        fake = self.d_input(self.g(self.noise(len(real)), labels), step)
        if c.feature_matching:  # Salimans et al. 2016: match D's mean features on real data
            with torch.no_grad():
                target = self.d.features(self.d_input(real, step), real_labels).mean(0)
            loss = ((self.d.features(fake, labels).mean(0) - target) ** 2).sum()
        else:
            fake_logits = discriminator(fake, labels)
            _, loss = self.loss(fake_logits.detach(), fake_logits)
        if self.history_g is not None:
            loss = loss + c.historical_averaging * self.history_g.penalty()
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        if self.history_g is not None:
            self.history_g.update()
        if self.g_ema is not None:
            remedies.ema_update(self.g_ema, self.g, c.ema)
        return {"loss_g": loss.detach()}

    def _unrolled(self, real: Tensor, labels: Tensor | None) -> Callable[[Tensor, Tensor | None], Tensor]:
        """Metz et al. 2017: D after k differentiable SGD steps, so G's gradient anticipates
        D's reaction. (The paper unrolls Adam; plain SGD at lr_d keeps the graph small.)"""
        c = self.config
        params = {name: p.detach().clone().requires_grad_(True) for name, p in self.d.named_parameters()}
        buffers = {name: b.clone() for name, b in self.d.named_buffers()}
        real_in = self.d_input(real, 0)
        for _ in range(c.unrolled):
            fake = self.g(self.noise(len(real)), labels)
            logits_real = functional_call(self.d, (params, buffers), (real_in, labels))
            logits_fake = functional_call(self.d, (params, buffers), (self.d_input(fake, 0), labels))
            loss, _ = self.loss(logits_real, logits_fake, 1 - c.label_smoothing)
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
            params = {name: p - c.lr_d * g for (name, p), g in zip(params.items(), grads)}
        return lambda x, y: functional_call(self.d, (params, buffers), (x, y))

    def _g_first_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        """002 (PyTorch-GAN): a G update, then a D update on the same generated images."""
        c = self.config
        real, labels = batch
        fake = self.g(self.noise(len(real)), labels)
        self.d.requires_grad_(False)
        fake_logits = self.d(self.d_input(fake, step), labels)
        _, loss_g = self.loss(fake_logits.detach(), fake_logits)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        real_logits, fake_logits = self.d(self.d_input(real, step), labels), self.d(self.d_input(fake.detach(), step), labels)
        loss_d, _ = self.loss(real_logits, fake_logits, 1 - c.label_smoothing)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        if self.g_ema is not None:
            remedies.ema_update(self.g_ema, self.g, c.ema)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": self._probability(real_logits.detach()), "d_fake": self._probability(fake_logits.detach())}

    def _simultaneous_step(self, batch: Batch, step: int) -> dict[str, Tensor]:
        """000: both losses from one forward pass, both optimisers stepped from the same weights."""
        c = self.config
        real, labels = batch
        fake = self.g(self.noise(len(real)), self.random_labels(len(real)) if c.conditional else None)
        real_logits, fake_logits = self.d(self.d_input(real, step), labels), self.d(self.d_input(fake, step), labels)
        loss_d, loss_g = self.loss(real_logits, fake_logits, 1 - c.label_smoothing)
        d_params, g_params = list(self.d.parameters()), list(self.g.parameters())
        grads_d = torch.autograd.grad(loss_d, d_params, retain_graph=True)
        grads_g = torch.autograd.grad(loss_g, g_params)
        for params, grads, optimizer in ((d_params, grads_d, self.opt_d), (g_params, grads_g, self.opt_g)):
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()
        if self.g_ema is not None:
            remedies.ema_update(self.g_ema, self.g, c.ema)
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": self._probability(real_logits.detach()), "d_fake": self._probability(fake_logits.detach())}
