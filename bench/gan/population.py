"""Population training: the K trials of one study entry as one stacked model (issue 11).

Small GANs (batch 64, tiny layers) leave the hardware idle between kernels. A
population trains K members that share the architecture, loss, remedies and update
order, and differ in hyperparameters and seeds, as one model whose every weight has
a leading member axis. Each member must end with the weights and losses it would have
had trained alone; ``tests/gan/test_population.py`` checks that.

Stacking. Each member is first built as a solo ``GAN`` under ``torch.manual_seed(seed)``,
exactly as ``trainer.train`` builds it, so its initial weights are its solo weights;
``torch.func.stack_module_state`` then stacks the members' parameters and buffers
(``[K, ...]``). One member's ``GAN`` stays as the template: its objectives
(``d_objective``, ``g_objective``, ``d_input``, ``_d_stats``) run unchanged under
``torch.func.vmap`` over ``functional_call``, each member seeing its own slice. The
gradients come from one ``autograd.grad`` of the members' summed losses: members
share no weights, so each slice is exactly that member's gradient.

Per-member hyperparameters (``PER_MEMBER``): ``lr_g``, ``lr_d``, ``beta1`` and ``beta2`` live
in the stacked optimisers; the weights of the objectives' terms (``penalty_weight``,
``r1``, ``historical_averaging``) and the unrolled D's lr are GAN buffers, stacked like
the weights; ``clip`` bounds each member's D by its own value. Members must agree on
which terms are on (``SWITCHES``: a weight of 0 drops the term), and on everything else.

Optimiser. ``torch.optim.Adam`` takes one lr and one pair of betas per parameter
group, and its foreach/fused paths want scalar or 1-element tensors, so it cannot
step a stacked tensor with K learning rates. ``StackedAdam`` is a small functional
Adam that reproduces the math of torch's single-tensor path (what CPU training runs)
operation by operation, including its rounding order (``lerp_``, ``mul_``/``addcmul_``,
``sqrt / bias_correction2_sqrt + eps``, ``addcdiv_``), with the bias corrections
computed per member in Python doubles as torch does, then rounded to float32 as
torch rounds its scalars.

Random streams. Solo training draws everything from the global generator after
``torch.manual_seed(seed)``: the initial weights, ``Batches``' first permutation, then
per step the epoch permutations and the noise, in the order the update order asks for
them. A member gets a ``torch.Generator`` that continues from the global state right
after its solo construction, and every draw of the step is made per member from it, in
the solo order: data order, z and conditional labels here, then stacked; the draws inside
the objectives (instance noise, penalty interpolates, the unrolled D's z, dropout masks)
through ``draws``, whose vmap rule draws member by member. ``vmap(randomness="error")``
guarantees nothing inside the stacked step draws from another stream.

Gradients inside the objectives (gradient penalties, R1, the unrolled D) are taken with
``torch.func.grad``, which runs under vmap; the solo step takes them the same way.

Batch norm. Running statistics are stacked buffers passed to ``functional_call``;
batch norm updates them in place under vmap, each member over its own batch only.

Averages. Each member's averaged generator (``g_ema``, not trained) is stacked with the
rest and moved towards its G after every G step, with ``remedies.ema_update``'s decay;
historical averaging's means are (non-persistent) GAN buffers, stacked the same way.

Members as trials. ``trainer.train_population`` gives each member a trial's bookkeeping
(``trainer.TrialLoop``: logging, evaluation, checkpoints, divergence), as ``trainer.train``
does alone. ``member(k)`` writes member k's weights and Adam moments back into its own
solo ``GAN``, which is what is checkpointed: a member's checkpoint is a solo run's (its
random stream is the member's generator), so a population resumes from its members'
checkpoints and any member can go on alone. Members due an evaluation are evaluated
together (``trainer.evaluate_members``): ``sample`` draws each one's samples from its own
fixed noise, all in one stacked forward per chunk, and the evaluator scores them in one pass.

Update orders. ``alternating`` (with ``n_critic`` and D pre-training), ``g-first``,
``simultaneous`` and ``separate-d`` (two stacked Adams over D's halves) are the solo
orders (``orders.py``) rewritten over stacked tensors (the solo ones take ``len(real)``
as the batch size, which here is K).

Exactness. Members share no weights, so only rounding can differ, and Adam turns
rounding in near-zero gradients into full steps: a solo dcgan run on 1 thread and on 2
already differs by 1e-2 in its losses after 20 steps. Where vmap's batched kernels round
differently from solo's (linear layers, spectral norm) or cannot batch a layer at all,
``member_layers`` rewrites the template's layers: fully connected members (seed000-fc)
end with exactly their solo weights (with spectral norm, losses to 1e-5 and one gradient
an ulp off). Convolutions under vmap are not bit for bit solo's, so conv members (dcgan)
match solo on the first step (losses, batch-norm statistics) and then drift as a solo
run does on another thread count.

Speed (CPU, measured with ``bench speed --population``): at one thread a seed000-fc step
is half GEMMs, which are no faster batched, and a quarter Adam, whose K-times larger
state leaves the cache; a population of 8 gains ~1.1x, and dcgan's stacked convolutions
are slower than solo ones (~0.5x). Stacking pays where the step is overhead-bound (two
contended threads here; GPUs, the next step).

On CUDA the whole population step is one CUDA graph (``graphed.population_step_function``),
under the rules of a solo step's graph; it is written for that (device-side Adam scalars,
batches through index buffers) but not verified on a GPU yet.

Trained solo instead (``why_solo`` says which and why): members differing in a field
other than the per-member ones; plug-in remedies (Python-side state and hooks per GAN);
dropout layers other than ``Dropout``/``Dropout2d``; bf16 (not verified); and non-CPU
devices (not verified yet).
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from bench.data.batches import Batches
from bench.gan import architectures, draws, member_layers
from bench.gan.architectures import Shape
from bench.gan.checkpoint import restore
from bench.gan.config import Config, plugin_remedies
from bench.gan.model import GAN, NUM_CLASSES, Batch

PER_MEMBER = ("lr_g", "lr_d", "beta1", "beta2", "penalty_weight", "r1", "historical_averaging", "clip")
SWITCHES = ("r1", "historical_averaging", "clip")  # 0 turns these off: members must agree on on or off
# remedies= only records what set the fields above it (a plug-in remedy trains solo anyway)
_BOOKKEEPING = ("log_every", "eval_every", "eval_samples", "final_samples", "checkpoint_every", "remedies")


def why_solo(configs: list[Config], device: str | torch.device = "cpu", any_device: bool = False) -> str | None:
    """Why these configs cannot train as one population, or None when they can.
    ``any_device``: skip the device check, to measure or verify a population on a device
    where it is not verified yet (``bench speed``, the GPU tests)."""
    first = configs[0].to_dict()
    for config in configs[1:]:
        values = config.to_dict()
        differing = [k for k, v in values.items() if v != first[k] and k not in PER_MEMBER + _BOOKKEEPING]
        differing += [k for k in SWITCHES if bool(values[k]) != bool(first[k])]
        if differing:
            return (f"members differ in {', '.join(differing)}; a population shares everything but "
                    f"{', '.join(PER_MEMBER)} (of which {', '.join(SWITCHES)} on in all or none)")
    c = configs[0]
    if not any_device and (unverified := unverified_on(device)):
        return unverified
    rejected = [
        (c.precision != "fp32", "bf16 populations are not verified"),
        (any(plugin_remedies(x.remedies) for x in configs), "plug-in remedies keep Python-side state and hooks per GAN"),
    ]
    for rejected_, reason in rejected:
        if rejected_:
            return reason
    shape = Shape(1, c.image_size, c.z_dim, NUM_CLASSES if c.conditional else 0, c.pack)
    other = _dropout_layers(c.architecture, shape, tuple((k, getattr(c, k)) for k in architectures.OPTIONS)) - {"Dropout", "Dropout2d"}
    if other:
        return f"{c.architecture} has {', '.join(sorted(other))}, whose masks are not drawn per member"
    return None


def unverified_on(device: str | torch.device) -> str | None:
    """Why no population trains on ``device`` (whatever its members), or None."""
    if torch.device(device).type != "cpu":
        return "populations are verified on CPU only so far"
    return None


@functools.cache  # workers ask for every claimed trial; the answer is the architecture's
def _dropout_layers(architecture: str, shape: Shape, options: tuple) -> frozenset[str]:
    with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave the caller's stream as it was
        nets = architectures.build(architecture, shape, dict(options))
    return frozenset(type(m).__name__ for net in nets for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd))


class MemberBatches(Batches):
    """``Batches`` whose new epochs draw their permutation from the member's generator."""

    def __init__(self, images: Tensor, labels: Tensor, image_range: str, generator: torch.Generator):
        super().__init__(images, labels, image_range)  # the first permutation: drawn in the solo seed's order
        self.generator = generator

    def next_index(self, n: int) -> Tensor:
        if self.cursor + n > len(self.order):
            self.order = torch.randperm(len(self.images), device=self.images.device, generator=self.generator)
            self.cursor = 0
        self.cursor += n
        return self.order[self.cursor - n : self.cursor]


class StackedBatches:
    """The members' ``Batches`` as one: each draws its own indices, stacked ``[K, n]``."""

    def __init__(self, members: list[Batches]):
        self.members = members

    def __call__(self, n: int) -> Batch:
        return self.gather(self.next_index(n))

    def next_index(self, n: int) -> Tensor:
        return torch.stack([batches.next_index(n) for batches in self.members])

    def gather(self, index: Tensor) -> Batch:
        reals, labels = zip(*(batches.gather(i) for batches, i in zip(self.members, index)))
        return torch.stack(reals), torch.stack(labels)


class StackedAdam:
    """``torch.optim.Adam`` (single-tensor path, no weight decay or amsgrad) over stacked
    weights ``[K, ...]``, with one lr and one pair of betas per member.

    Its step count and per-member scalars live on the device (float64, rounded to the
    weights' dtype as torch rounds its Python-double scalars), so a step launches no
    host-to-device copy and can be captured in a CUDA graph (``graphed``)."""

    def __init__(self, params: dict[str, Tensor], lr: list[float], beta1: list[float], beta2: list[float], eps: float = 1e-8):
        self.params, self.eps = params, eps
        like = next(iter(params.values()))
        self.lr, self.beta1, self.beta2 = (torch.tensor(v, dtype=torch.float64, device=like.device) for v in (lr, beta1, beta2))
        self.one_minus_beta1, self.one_minus_beta2 = 1 - self.beta1, 1 - self.beta2
        self.count = torch.zeros((), dtype=torch.float64, device=like.device)  # Adam steps taken
        self.exp_avg = {k: torch.zeros_like(p) for k, p in params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(p) for k, p in params.items()}

    @property
    def steps(self) -> int:
        return int(self.count)

    @classmethod
    def stack(cls, params: dict[str, Tensor], adams: list[torch.optim.Adam]) -> "StackedAdam":
        """Over the members' own Adams: their hyperparameters, and their moments where they
        have stepped (members resumed from checkpoints, all at the same step)."""
        groups = [adam.param_groups[0] for adam in adams]
        stacked = cls(params, [g["lr"] for g in groups], [g["betas"][0] for g in groups], [g["betas"][1] for g in groups], groups[0]["eps"])
        states = [[adam.state.get(p, {}) for p in adam.param_groups[0]["params"]] for adam in adams]
        steps = {int(state["step"]) if state else 0 for member in states for state in member}
        if len(steps) > 1:
            raise ValueError(f"members resumed at different steps {sorted(steps)}: a population steps together")
        stacked.count.fill_(steps.pop())
        if stacked.steps:
            for i, name in enumerate(params):
                stacked.exp_avg[name].copy_(torch.stack([member[i]["exp_avg"] for member in states]))
                stacked.exp_avg_sq[name].copy_(torch.stack([member[i]["exp_avg_sq"] for member in states]))
        return stacked

    def unstack(self, k: int, adam: torch.optim.Adam) -> None:
        """Member ``k``'s moments into its own Adam, as the Adam would hold them had it stepped."""
        group = adam.param_groups[0]
        on_device = group["capturable"] or group["fused"]  # where torch keeps the count (solo Adam on CUDA)
        for p, name in zip(group["params"], self.params):
            adam.state[p] = {"step": torch.tensor(float(self.steps), device=p.device if on_device else None),
                             "exp_avg": self.exp_avg[name][k].clone(), "exp_avg_sq": self.exp_avg_sq[name][k].clone()}

    @torch.no_grad()
    def step(self, grads: dict[str, Tensor]) -> None:
        self.count.add_(1)
        t = self.count
        # what torch computes in Python doubles from its float hyperparameters, per member
        scalars = {"one_minus_beta1": self.one_minus_beta1, "beta2": self.beta2, "one_minus_beta2": self.one_minus_beta2,
                   "neg_step_size": -(self.lr / (1 - self.beta1**t)), "bias_correction2_sqrt": (1 - self.beta2**t) ** 0.5}
        rounded = {}  # torch rounds each scalar to the tensor's dtype: so do we, once per member
        for name, p in self.params.items():
            if p.dtype not in rounded:
                rounded[p.dtype] = {key: value.to(p.dtype) for key, value in scalars.items()}
            shape = (-1, *[1] * (p.dim() - 1))
            c = {key: value.view(shape) for key, value in rounded[p.dtype].items()}
            grad, m, v = grads[name], self.exp_avg[name], self.exp_avg_sq[name]
            m.lerp_(grad, c["one_minus_beta1"])
            # addcmul_(grad, grad, value=w) rounds value * grad first, then fuses the rest
            v.mul_(c["beta2"]).addcmul_(c["one_minus_beta2"] * grad, grad)
            denom = (v.sqrt() / c["bias_correction2_sqrt"]).add_(self.eps)
            p.add_(c["neg_step_size"] * m / denom)  # addcdiv_: (value * t1) / t2


class _Call(nn.Module):
    """``fn(gan, *args)`` as a module's forward, which is what ``functional_call`` calls."""

    def __init__(self, gan: GAN, fn):
        super().__init__()
        self.gan, self.fn = gan, fn

    def forward(self, *args):
        return self.fn(self.gan, *args)


class Population:
    """K members trained as one stacked model; ``train_step`` returns ``[K]`` stats."""

    def __init__(self, configs: list[Config], seeds: list[int], images: Tensor, labels: Tensor, device: str = "cpu",
                 checkpoints: list[dict | None] | None = None, any_device: bool = False):
        """Members built as ``trainer.train`` builds a solo run, each resumed from its
        checkpoint where ``checkpoints`` has one (all at the same step)."""
        reason = why_solo(configs, device, any_device)
        if reason:
            raise ValueError(f"cannot train as a population: {reason}")
        self.gans, self.batches, self.generators = [], [], []
        for config, seed, state in zip(configs, seeds, checkpoints or [None] * len(configs)):
            torch.manual_seed(seed)
            gan = GAN(config, images.shape[1], device)
            generator = torch.Generator(device)
            batches = MemberBatches(images, labels, config.image_range, generator)
            if state is not None:
                restore(gan, batches, state)  # sets the global stream to the member's saved one
            # the member's stream goes on where solo's would (on CUDA solo draws from the device's stream)
            generator.set_state(torch.cuda.get_rng_state(device) if generator.device.type == "cuda" else torch.get_rng_state())
            self.gans.append(gan)
            self.batches.append(batches)
            self.generators.append(generator)
        self.stacked_batches = StackedBatches(self.batches)
        self.config, self.size = configs[0], len(configs)
        self.clip = torch.tensor([c.clip for c in configs], device=device)
        self.template = copy.deepcopy(self.gans[0])  # runs every member's weights; the solo GANs stay plain
        member_layers.per_member(self.template)
        self.params, self.buffers = stack_module_state(self.gans)  # history means are (non-persistent) buffers
        self.g_params = {k: p for k, p in self.params.items() if k.startswith("g.")}  # g_ema.*, when there, is not trained
        self.d_params = {k: p for k, p in self.params.items() if k.startswith("d.")}
        self.opt_g = StackedAdam.stack(self.g_params, [gan.opt_g for gan in self.gans])
        self.opt_d = StackedAdam.stack(self.d_params, [gan.opt_d for gan in self.gans])
        self.opt_d_fake = StackedAdam.stack(self.d_params, [gan.opt_d_fake for gan in self.gans]) if self.config.update == "separate-d" else None

    # -- per-member draws, in each member's solo order ------------------------------------
    def next_batch(self) -> Batch:
        return self._feed(self.template.batch)

    def noise(self, real: Tensor) -> Tensor:
        """``GAN.noise`` per member, one z per sample of its real batch (inside ``train_step``:
        each from the member's own stream)."""
        return vmap(lambda real: self.template.noise(len(real), real), randomness="error")(real)  # reads no weights

    def random_labels(self) -> Tensor | None:
        """What ``GAN.random_labels`` draws, per member (None for unconditional members)."""
        if not self.config.conditional:
            return None
        return torch.stack([torch.randint(0, NUM_CLASSES, (self.template.batch,), generator=g, device=g.device) for g in self.generators])

    # -- the stacked step ------------------------------------------------------------------
    def members(self, fn, detach_d: bool = False, only: list[int] | None = None):
        """``fn(gan, *data)`` once per member (or per member of ``only``), vmapped: the
        template GAN with that member's weights and buffers; data has a leading member axis."""
        params = {k: p.detach() if detach_d and k.startswith("d.") else p for k, p in self.params.items()}
        picked = None if only is None or list(only) == list(range(self.size)) else torch.tensor(only, device=self.template.device)
        state = {f"gan.{k}": v if picked is None else v.index_select(0, picked) for k, v in (params | self.buffers).items()}
        call = _Call(self.template, fn)

        def run(*data):
            in_dims = (0, *(None if d is None else 0 for d in data))  # None: unconditional members' labels
            return vmap(lambda s, *d: functional_call(call, s, d), in_dims, randomness="error")(state, *data)

        return run

    def generate(self, z: Tensor, labels: Tensor | None) -> Tensor:
        return self.members(lambda gan, z, labels: gan.g(z, labels))(z, labels)

    @torch.no_grad()
    def sample(self, only: list[int], z: Tensor, labels: Tensor | None) -> Tensor:
        """What ``GAN.generate`` gives members ``only`` (their EMA generators where they have
        one, in eval mode) for their noise ``z`` [len(only), N, z_dim]: what is evaluated."""
        return self.members(lambda gan, z, labels: gan.generate(z, labels), only=only)(z, labels)

    def train_step(self, step: int, feed=None) -> dict[str, Tensor]:
        """One step of every member; ``feed(n)`` gives the real batches [K, n, ...] (default:
        each member's ``Batches``; a CUDA graph's gathers through its index buffers)."""
        self._feed = self.stacked_batches if feed is None else feed
        with draws.member_streams(self.generators):  # draws inside the step: each member's own
            if self.template.pretrains_d(step):
                for _ in range(self.config.d_pretrain):
                    self.d_update(*self.next_batch(), step)
            return ORDERS[self.config.update](self, step)

    def d_update(self, real: Tensor, labels: Tensor, step: int, fake: Tensor | None = None) -> dict[str, Tensor]:
        if fake is None:
            with torch.no_grad():
                fake = self.generate(self.noise(real), labels)
        halves = self.opt_d_fake is not None

        def objective(gan, real, fake, labels):
            terms, real_logits, fake_logits = gan.d_objective(gan.d_input(real, step), gan.d_input(fake, step), labels)
            losses = gan.d_halves(terms, real_logits, fake_logits) if halves else (sum(terms.values()),)
            return losses, gan._d_stats(terms, real_logits, fake_logits)

        losses, stats = self.members(objective)(real, fake.detach(), labels)
        if halves:  # 001: each half by its own Adam, both gradients from the same weights
            params = list(self.d_params.values())
            real_grads = torch.autograd.grad(losses[0].sum(), params, retain_graph=True)
            fake_grads = torch.autograd.grad(losses[1].sum(), params)
            self.opt_d.step(dict(zip(self.d_params, real_grads)))
            self.opt_d_fake.step(dict(zip(self.d_params, fake_grads)))
        else:
            self._minimise(self.opt_d, losses[0])
        self._after_d_step()
        return stats

    def g_update(self, real: Tensor, real_labels: Tensor, step: int, fake: Tensor | None = None,
                 labels: Tensor | None = None) -> dict[str, Tensor]:
        if fake is None:
            labels = self.random_labels()
            fake = self.generate(self.noise(real), labels)
        unrolled = self.config.unrolled

        def objective(gan, fake, labels, real, real_labels):
            discriminator = gan._unrolled(real, real_labels, step) if unrolled else None
            terms = gan.g_objective(gan.d_input(fake, step), labels, real, real_labels, step, discriminator)
            return sum(terms.values()), {k: v.detach() for k, v in terms.items()}

        loss, stats = self.members(objective, detach_d=True)(fake, labels, real, real_labels)
        self._minimise(self.opt_g, loss)
        self._after_g_step()
        return stats

    def simultaneous_update(self, real: Tensor, labels: Tensor, step: int) -> dict[str, Tensor]:
        fake = self.generate(self.noise(real), labels)
        unrolled = self.config.unrolled

        def objectives(gan, real, fake, labels):
            fake_in = gan.d_input(fake, step)
            d_terms, real_logits, fake_logits = gan.d_objective(gan.d_input(real, step), fake_in, labels)
            discriminator = gan._unrolled(real, labels, step) if unrolled else None
            g_terms = gan.g_objective(fake_in, labels, real, labels, step, discriminator, None if discriminator else fake_logits)
            stats = gan._d_stats(d_terms, real_logits, fake_logits) | {k: v.detach() for k, v in g_terms.items()}
            return sum(d_terms.values()), sum(g_terms.values()), stats

        d_loss, g_loss, stats = self.members(objectives)(real, fake, labels)
        d_grads = torch.autograd.grad(d_loss.sum(), list(self.d_params.values()), retain_graph=True)
        g_grads = torch.autograd.grad(g_loss.sum(), list(self.g_params.values()))
        self.opt_d.step(dict(zip(self.d_params, d_grads)))  # both from the same weights, as solo
        self.opt_g.step(dict(zip(self.g_params, g_grads)))
        self._after_d_step()
        self._after_g_step()
        return stats

    def _minimise(self, optimizer: StackedAdam, loss: Tensor) -> None:
        # members share no weights: the gradient of the sum is each member's own, slice by slice
        grads = torch.autograd.grad(loss.sum(), list(optimizer.params.values()))
        optimizer.step(dict(zip(optimizer.params, grads)))

    @torch.no_grad()
    def _after_d_step(self) -> None:
        if self.config.clip:
            for p in self.d_params.values():
                bound = self.clip.view(-1, *[1] * (p.dim() - 1))
                p.clamp_(-bound, bound)
        self._update_history("d")

    @torch.no_grad()
    def _after_g_step(self) -> None:
        self._update_history("g")
        self._update_ema()

    def _update_history(self, net: str) -> None:
        """``HistoricalAverage.update`` over the stacked means (members step together, so
        they share the count)."""
        history = getattr(self.template, f"history_{net}")
        if history is None:
            return
        history.count += 1
        for i, name in enumerate(history.names):
            self.buffers[f"history_{net}.mean{i}"].lerp_(self.params[f"{net}.{name}"], 1 / history.count)

    def _update_ema(self) -> None:
        """EMA of each member's G, as ``remedies.ema_update`` makes it alone, with a decay
        per member (their update counts agree, but a resumed member's is its own)."""
        if not self.config.ema:
            return
        updates = self.buffers["ema_updates"]
        updates.add_(1)
        t = updates.float()
        weight = 1 - torch.clamp((1 + t) / (10 + t), max=self.config.ema) * (t > 1)  # 1 at the first update: a copy
        for name, average in self.params.items():
            if name.startswith("g_ema."):
                trained = self.params["g." + name.removeprefix("g_ema.")]
                average.lerp_(trained.detach(), weight.view(-1, *[1] * (trained.dim() - 1)))
        for name, average in self.buffers.items():
            if name.startswith("g_ema."):
                average.copy_(self.buffers["g." + name.removeprefix("g_ema.")])

    # -- members back as solo GANs ---------------------------------------------------------
    def member_state(self, k: int) -> dict[str, Tensor]:
        """Member ``k``'s ``GAN.state_dict()`` entries for G and D."""
        return {name: t[k].detach() for name, t in (self.params | self.buffers).items()}

    def member_finite(self, k: int) -> bool:
        return bool(torch.stack([p[k].detach().isfinite().all() for p in self.params.values()]).all())

    def member(self, k: int) -> GAN:
        """Member ``k`` as the solo ``GAN`` it would be now, optimiser state included: what
        ``trainer`` evaluates and checkpoints (a member's checkpoint is a solo run's)."""
        gan, state = self.gans[k], self.member_state(k)
        with torch.no_grad():  # every tensor, the non-persistent history means too
            for name, tensor in [*gan.named_parameters(), *gan.named_buffers()]:
                tensor.copy_(state[name])
        for net in ("g", "d"):
            if getattr(gan, f"history_{net}") is not None:
                getattr(gan, f"history_{net}").count = getattr(self.template, f"history_{net}").count
        for stacked, adam in ((self.opt_g, gan.opt_g), (self.opt_d, gan.opt_d), (self.opt_d_fake, gan.opt_d_fake)):
            if stacked is not None:
                stacked.unstack(k, adam)
        return gan


# -- update orders over stacked tensors (orders.py's, which size fakes by len(real)) ----------
def alternating(pop: Population, step: int) -> dict[str, Tensor]:
    for _ in range(pop.config.n_critic):
        real, labels = pop.next_batch()
        stats = pop.d_update(real, labels, step)
    return stats | pop.g_update(real, labels, step)


def g_first(pop: Population, step: int) -> dict[str, Tensor]:
    real, labels = pop.next_batch()
    fake = pop.generate(pop.noise(real), labels)
    stats = pop.g_update(real, labels, step, fake, labels)
    stats |= pop.d_update(real, labels, step, fake)
    for _ in range(pop.config.n_critic - 1):
        stats |= pop.d_update(*pop.next_batch(), step)
    return stats


def simultaneous(pop: Population, step: int) -> dict[str, Tensor]:
    for _ in range(pop.config.n_critic - 1):
        pop.d_update(*pop.next_batch(), step)
    return pop.simultaneous_update(*pop.next_batch(), step)


ORDERS = {"alternating": alternating, "g-first": g_first, "simultaneous": simultaneous, "separate-d": alternating}
