"""A GAN that owns its train step (after mimicry): the trainer only feeds it batches.

The step is built from one D objective and one G objective, whatever the update order
(``orders.py``) that calls them:

- D's objective: the loss (one-sided label smoothing where it has targets) + the loss's
  gradient penalty + R1 + historical averaging + plug-in remedies' terms;
- G's objective: the loss, or feature matching, against D or its unrolled copy +
  historical averaging + plug-in remedies' terms.

After each optimiser step one place applies clipping, the history update, EMA and the
plug-in hooks. ``train_step`` returns device tensors (no host synchronisation), the
terms of both objectives included.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from bench.gan import architectures, draws, losses, orders, remedies
from bench.gan.architectures import Shape
from bench.gan.config import Config, build_remedy, plugin_remedies
from bench.gan.penalties import PENALTIES, Critic

NUM_CLASSES = 10
Batch = tuple[Tensor, Tensor]  # images scaled to the config's range, labels
Terms = dict[str, Tensor]  # an objective, term by term, as logged


class GAN(nn.Module):
    def __init__(self, config: Config, channels: int = 1, device: str | torch.device = "cpu"):
        super().__init__()
        c = self.config = config
        shape = Shape(channels, c.image_size, c.z_dim, NUM_CLASSES if c.conditional else 0, c.pack)
        self.g, self.d = architectures.build(c.architecture, shape, {k: getattr(c, k) for k in architectures.OPTIONS})
        if c.minibatch_discrimination:
            self.d.add_minibatch_features(remedies.MinibatchDiscrimination(self.d.feature_dim), 50)
        if c.minibatch_std:
            self.d.add_minibatch_features(remedies.MinibatchStd(), 1)
        if c.spectral_norm:
            remedies.spectral_norm(self.d)
        self.plugins = nn.ModuleList(build_remedy(reference, argument) for reference, argument in plugin_remedies(c.remedies))
        for remedy in self.plugins:
            remedy.setup(self)
        self.g_ema = copy.deepcopy(self.g).requires_grad_(False) if c.ema else None
        if c.ema:
            self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        # what the objectives weigh their terms by: buffers, not Python floats, so that a
        # population stacks them and its members may differ in them (population.PER_MEMBER)
        for name, value in (("penalty_weight", c.penalty_weight), ("r1_weight", c.r1),
                            ("history_weight", c.historical_averaging), ("unrolled_lr", c.lr_d)):
            self.register_buffer(name, torch.tensor(float(value)), persistent=False)
        self.loss = losses.get(c.loss)
        self.penalty = PENALTIES[self.loss.penalty] if self.loss.penalty else None
        self.real_target = 1 - c.label_smoothing
        self.batch = c.batch_size * c.pack  # samples per batch: D judges batch_size inputs of `pack` samples
        self.to(device)
        self.device = torch.device(device)

        def adam(params, lr):  # on GPU: fused kernels (one launch, not one per tensor), and CUDA-graph safe
            cuda = self.device.type == "cuda"
            return torch.optim.Adam(params, lr, betas=(c.beta1, c.beta2), fused=cuda, capturable=cuda)

        self.opt_g, self.opt_d = adam(self.g.parameters(), c.lr_g), adam(self.d.parameters(), c.lr_d)
        # 001 trains D's real and fake halves with two Adam optimisers over the same weights
        self.opt_d_fake = adam(self.d.parameters(), c.lr_d) if c.update == "separate-d" else None
        self.history_g = remedies.HistoricalAverage(self.g) if c.historical_averaging else None
        self.history_d = remedies.HistoricalAverage(self.d) if c.historical_averaging else None

    # -- sampling -----------------------------------------------------------------
    def noise(self, n: int, like: Tensor | None = None) -> Tensor:
        """z for n samples; inside a step, drawn ``like`` a real batch (``draws``)."""
        if like is None:
            like = torch.empty(0, device=self.device)
        shape = (n, self.config.z_dim)
        if self.config.noise == "uniform":
            return draws.uniform(shape, like) * 2 - 1
        return draws.normal(shape, like)

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
        """D pre-training where it is due, then the update order's D and G updates;
        ``next_batch(n)`` gives real data."""
        # no cast cache: CUDA graph capture forbids it, and these weights are small
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.config.precision == "bf16", cache_enabled=False):
            if self.pretrains_d(step):
                for _ in range(self.config.d_pretrain):
                    self.d_update(*next_batch(self.batch), step)
            return orders.ORDERS[self.config.update](self, next_batch, step)

    def pretrains_d(self, step: int) -> bool:
        """Whether ``step`` starts with D pre-training: the first, and every ``d_pretrain_every``-th."""
        every = self.config.d_pretrain_every
        return self.config.d_pretrain > 0 and (step == 0 or (every > 0 and step % every == 0))

    def d_input(self, x: Tensor, step: int) -> Tensor:
        """What D sees: instance noise, then PacGAN packing."""
        sigma = remedies.instance_noise_std(self.config.instance_noise, step, self.config.steps)
        if sigma:
            x = x + sigma * draws.normal_like(x)
        return remedies.pack(x, self.config.pack)

    # -- the two objectives ------------------------------------------------------------
    def d_objective(self, real: Tensor, fake: Tensor, labels: Tensor | None) -> tuple[Terms, Tensor, Tensor]:
        """D's objective on what D sees of a real and a fake batch (both judged with
        ``labels``), term by term, with D's logits on each."""
        c = self.config
        real_logits, fake_logits = self.d(real, labels), self.d(fake, labels)
        terms = {"loss_d": self.loss.fn(real_logits, fake_logits, self.real_target)[0]}
        critic = Critic(self.d, labels)
        if self.penalty is not None:
            terms["d_penalty"] = self.penalty_weight * self.penalty(critic, real, fake)
        if c.r1:
            terms["d_r1"] = self.r1_weight * PENALTIES["r1"](critic, real, fake)
        if self.history_d is not None:
            terms["d_history"] = self.history_weight * self.history_d.penalty(self.d)
        for remedy in self.plugins:
            term = remedy.d_loss(self, real, fake, labels)
            if term is not None:
                terms[f"d_{remedy.name}"] = term
        return terms, real_logits, fake_logits

    def g_objective(self, fake: Tensor, labels: Tensor | None, real: Tensor, real_labels: Tensor | None, step: int,
                    discriminator=None, fake_logits: Tensor | None = None) -> Terms:
        """G's objective on what D sees of a fake batch, term by term. ``discriminator``
        is D or its unrolled copy; ``real`` is the batch feature matching aims at;
        ``fake_logits`` are D's logits on ``fake`` when already computed."""
        c = self.config
        d = discriminator or self.d
        if c.feature_matching:  # Salimans et al. 2016: match D's mean features on real data
            with torch.no_grad():
                target = d.features(self.d_input(real, step), real_labels).mean(0)
            terms = {"loss_g": ((d.features(fake, labels).mean(0) - target) ** 2).sum()}
        else:
            if fake_logits is None:
                fake_logits = d(fake, labels)
            terms = {"loss_g": self.loss.fn(fake_logits.detach(), fake_logits)[1]}
        if self.history_g is not None:
            terms["g_history"] = self.history_weight * self.history_g.penalty(self.g)
        for remedy in self.plugins:
            term = remedy.g_loss(self, fake, labels)
            if term is not None:
                terms[f"g_{remedy.name}"] = term
        return terms

    # -- updates: an objective, its optimiser step(s), then what follows a step ----------
    def d_update(self, real: Tensor, labels: Tensor | None, step: int, fake: Tensor | None = None) -> dict[str, Tensor]:
        """One update of D on a real batch and a fake one (generated now unless given)."""
        if fake is None:
            with torch.no_grad():
                fake = self.g(self.noise(len(real)), labels)
        terms, real_logits, fake_logits = self.d_objective(self.d_input(real, step), self.d_input(fake.detach(), step), labels)
        if self.opt_d_fake is None:
            self._minimise(self.opt_d, sum(terms.values()))
        else:
            self._minimise_halves(terms, real_logits, fake_logits)
        self._after_d_step()
        return self._d_stats(terms, real_logits, fake_logits)

    def g_update(self, real: Tensor, real_labels: Tensor | None, step: int, fake: Tensor | None = None,
                 labels: Tensor | None = None) -> dict[str, Tensor]:
        """One update of G on fresh fakes (or the given ones, with their labels)."""
        if fake is None:
            labels = self.random_labels(len(real))  # 003: G is trained on random labels
            fake = self.g(self.noise(len(real)), labels)
        discriminator = self._unrolled(real, real_labels, step) if self.config.unrolled else None
        self.d.requires_grad_(False)
        terms = self.g_objective(self.d_input(fake, step), labels, real, real_labels, step, discriminator)
        self._minimise(self.opt_g, sum(terms.values()))
        self.d.requires_grad_(True)
        self._after_g_step()
        return {k: v.detach() for k, v in terms.items()}

    def simultaneous_update(self, real: Tensor, labels: Tensor | None, step: int) -> dict[str, Tensor]:
        """000: both objectives from one forward pass, both optimisers stepped from the
        same weights. The fakes are conditioned on the real batch's labels, and D judges
        them with those labels."""
        fake = self.g(self.noise(len(real)), labels)
        fake_in = self.d_input(fake, step)
        d_terms, real_logits, fake_logits = self.d_objective(self.d_input(real, step), fake_in, labels)
        discriminator = self._unrolled(real, labels, step) if self.config.unrolled else None
        g_terms = self.g_objective(fake_in, labels, real, labels, step, discriminator, None if discriminator else fake_logits)
        updates = ((self.d, d_terms, self.opt_d), (self.g, g_terms, self.opt_g))
        grads = [torch.autograd.grad(sum(terms.values()), list(net.parameters()), retain_graph=True, allow_unused=True)
                 for net, terms, _ in updates]
        for (net, _, optimizer), net_grads in zip(updates, grads):
            for p, g in zip(net.parameters(), net_grads):
                p.grad = g
            optimizer.step()
        self._after_d_step()
        self._after_g_step()
        return self._d_stats(d_terms, real_logits, fake_logits) | {k: v.detach() for k, v in g_terms.items()}

    def _minimise(self, optimizer: torch.optim.Optimizer, objective: Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()

    def d_halves(self, terms: Terms, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
        """001's D objective in two: its real half (with every other term of D's objective)
        and its fake half. A separable loss's half is the loss with the other half's
        logits detached."""
        regularisers = sum(v for k, v in terms.items() if k != "loss_d")
        real_half = self.loss.fn(real_logits, fake_logits.detach(), self.real_target)[0] + regularisers
        fake_half = self.loss.fn(real_logits.detach(), fake_logits, self.real_target)[0]
        return real_half, fake_half

    def _minimise_halves(self, terms: Terms, real_logits: Tensor, fake_logits: Tensor) -> None:
        """001: each half of D's objective minimised by its own Adam from the same weights."""
        real_half, fake_half = self.d_halves(terms, real_logits, fake_logits)
        params = list(self.d.parameters())
        grads_real = torch.autograd.grad(real_half, params, retain_graph=True, allow_unused=True)
        grads_fake = torch.autograd.grad(fake_half, params, allow_unused=True)
        for optimizer, grads in ((self.opt_d, grads_real), (self.opt_d_fake, grads_fake)):
            for p, g in zip(params, grads):
                p.grad = g
            optimizer.step()

    def _after_d_step(self) -> None:
        if self.config.clip:
            with torch.no_grad():
                for p in self.d.parameters():
                    p.clamp_(-self.config.clip, self.config.clip)
        if self.history_d is not None:
            self.history_d.update(self.d)
        for remedy in self.plugins:
            remedy.after_d_step(self)

    def _after_g_step(self) -> None:
        if self.history_g is not None:
            self.history_g.update(self.g)
        if self.g_ema is not None:
            remedies.ema_update(self.g_ema, self.g, self.config.ema, self.ema_updates)
        for remedy in self.plugins:
            remedy.after_g_step(self)

    def _d_stats(self, terms: Terms, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
        """D's terms, and D(x), D(G(z)): probabilities for losses with targets, raw critic values otherwise."""
        value = torch.sigmoid if self.loss.targets else (lambda x: x)
        return {k: v.detach() for k, v in terms.items()} | {"d_real": value(real_logits.detach()).mean(), "d_fake": value(fake_logits.detach()).mean()}

    def _unrolled(self, real: Tensor, labels: Tensor | None, step: int) -> Unrolled:
        """Metz et al. 2017: D after k differentiable SGD steps on D's loss, so G's
        gradient anticipates D's reaction. (The paper unrolls Adam; plain SGD at lr_d
        keeps the graph small.)"""
        c = self.config
        params = {name: p.detach().clone() for name, p in self.d.named_parameters()}
        buffers = {name: b.clone() for name, b in self.d.named_buffers()}
        real_in = self.d_input(real, step)
        for _ in range(c.unrolled):
            fake_in = self.d_input(self.g(self.noise(len(real), real), labels), step)

            def d_loss(params, buffers):
                unrolled = Unrolled(self.d, params, buffers)
                return self.loss.fn(unrolled(real_in, labels), unrolled(fake_in, labels), self.real_target)[0]

            # torch.func.grad, not autograd.grad: it also runs per member under a population's
            # vmap; the buffers go in as an argument because batch norm updates them in place
            grads = torch.func.grad(d_loss)(params, buffers)
            params = {name: p - self.unrolled_lr * grads[name] for name, p in params.items()}
        return Unrolled(self.d, params, buffers)


class Unrolled:
    """D evaluated with other weights: called like D, and with D's ``features``."""

    def __init__(self, d: nn.Module, params: dict, buffers: dict):
        self.d, self.params, self.buffers = d, params, buffers

    def __call__(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return functional_call(self.d, (self.params, self.buffers), (x, labels))

    def features(self, x: Tensor, labels: Tensor | None) -> Tensor:
        prefixed = ({f"d.{k}": v for k, v in self.params.items()}, {f"d.{k}": v for k, v in self.buffers.items()})
        return functional_call(_Features(self.d), prefixed, (x, labels))


class _Features(nn.Module):
    """D's ``features`` as a module's forward, which is what ``functional_call`` calls."""

    def __init__(self, d: nn.Module):
        super().__init__()
        self.d = d

    def forward(self, x: Tensor, labels: Tensor | None) -> Tensor:
        return self.d.features(x, labels)
