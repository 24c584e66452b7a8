"""Every option that validation accepts changes the train step, in every update order and
on every architecture; every combination it rejects is listed here with its message.

The cases are generated from the registries (presets, update orders, losses, remedies,
architectures), so a new entry in any of them is covered without touching this file.
Two suites keep it inside the CI budget:

- orders: each preset's settings (loss, clipping, n_critic, packing, conditioning...)
  in each update order, with each loss and remedy, on a small plug-in architecture
  (``examples/tinygan``) that has every switch;
- architectures: each registered architecture, on the first preset that uses it,
  with each remedy.

A case trains 2 steps from the same initial weights and random stream as the same
configuration without the option, and must end with different weights or samples.
Then the option's own observable must hold (``_check_observables``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError
from bench.gan import plugins, variants
from bench.gan.architectures import ARCHITECTURES
from bench.gan.config import CHOICES, FIELDS, REMEDIES, Config
from bench.gan.losses import LOSSES
from bench.gan.model import GAN
from bench.gan.orders import ORDERS

TINY = "tinygan:build"
plugins.add_search_path(Path(__file__).resolve().parents[2] / "examples" / "tinygan")
STEPS = 2
DEFAULTS = Config()
# settings that change the numbers a step computes but not which code runs
FREE = {"architecture", "remedies", "noise", "image_range", "image_size", "z_dim", "batch_size", "steps", "lr_g", "lr_d",
        "beta1", "beta2", "log_every", "eval_every", "eval_samples", "final_samples", "checkpoint_every"}
COUNTS = sorted({k for overrides in REMEDIES.values() for k, v in overrides.items() if isinstance(v, int) and not isinstance(v, bool)})


def _small(name: str) -> str:
    """A remedy with its default, or with 2 where its default count is larger (n-critic, d-pretrain, unrolled)."""
    first, value = next(iter(REMEDIES[name].items()))
    return f"{name}:2" if first in COUNTS and value > 2 else name


OPTIONS = [f"loss={name}" for name in LOSSES] + [f"remedies={_small(name)}" for name in REMEDIES]


def _signature(config: Config, ignore=()) -> tuple:
    return tuple((k, v if isinstance(v, str) else v != getattr(DEFAULTS, k))
                 for k, v in config.to_dict().items() if k not in FREE | set(ignore))


def _base(preset: str, **changes) -> list[str]:
    """The preset's settings, tiny: batch 4, counts above 2 cut to 2."""
    config = variants.get(preset).config()
    smaller = [f"{k}={min(getattr(config, k), 2)}" for k in COUNTS if getattr(config, k) > 2]
    return ["batch_size=4", *smaller, *(f"{k}={v}" for k, v in changes.items())]


def _distinct(presets, ignore=()):
    seen, kept = set(), []
    for name in presets:
        key = _signature(variants.get(name).config(), ignore)
        if key not in seen:
            seen.add(key)
            kept.append(name)
    return kept


def _cases():
    """(suite, preset, base settings, option) for every combination, accepted or not."""
    for preset in _distinct(variants.VARIANTS, ignore=("update",)):
        for order in CHOICES["update"]:
            for option in OPTIONS:
                yield "orders", preset, tuple(_base(preset, architecture=TINY, update=order)), option
    for architecture in ARCHITECTURES:
        preset = next(n for n, v in variants.VARIANTS.items() if v.config().architecture == architecture)
        for option in OPTIONS[len(LOSSES):]:
            yield "architectures", preset, tuple(_base(preset)), option


def _resolve(preset: str, settings) -> Config | BenchError:
    try:
        return variants.get(preset).config(list(settings))
    except BenchError as e:
        return e


ACCEPTED, REJECTED = [], []
for _suite, _preset, _settings, _option in _cases():
    _config = _resolve(_preset, (*_settings, _option))
    _plain = _resolve(_preset, _settings)
    _id = f"{_suite}:{_preset}:{','.join(s for s in _settings if not s.startswith('batch_size'))}:{_option}"
    if isinstance(_config, BenchError):
        REJECTED.append(pytest.param(_option, str(_config), id=_id))
    elif dataclasses.replace(_config, remedies="") != dataclasses.replace(_plain, remedies=""):  # else the preset has it already
        ACCEPTED.append(pytest.param(_plain, _config, id=_id))


# -- training a case -------------------------------------------------------------------
def _batches(config: Config, channels: int = 1):
    stream = torch.Generator().manual_seed(1)
    low = -1.0 if config.image_range == "-1,1" else 0.0

    def next_batch(n):
        images = low + (1 - low) * torch.rand(n, channels, config.image_size, config.image_size, generator=stream)
        return images, torch.randint(0, 10, (n,), generator=stream)

    return next_batch


@dataclasses.dataclass
class Trained:
    gan: GAN
    initial: dict
    stats: dict
    updates: Counter
    d_batch_sizes: set
    samples: torch.Tensor

    @property
    def config(self) -> Config:
        return self.gan.config


def _train(config: Config, start_from: dict | None = None) -> Trained:
    torch.manual_seed(0)
    gan = GAN(config)
    if start_from is not None:  # the same initial weights wherever the shapes agree
        own = gan.state_dict()
        gan.load_state_dict({k: v for k, v in start_from.items() if k in own and own[k].shape == v.shape}, strict=False)
    initial = {k: v.clone() for k, v in gan.state_dict().items()}
    updates, sizes = Counter(), set()
    for name in ("opt_g", "opt_d", "opt_d_fake"):
        if getattr(gan, name) is not None:
            getattr(gan, name).register_step_post_hook(lambda *_, name=name: updates.update([name]))
    gan.d.register_forward_pre_hook(lambda module, args: sizes.add(len(args[0])))
    next_batch = _batches(config)
    torch.manual_seed(1)  # the same random stream for training
    for step in range(STEPS):
        stats = gan.train_step(next_batch, step)
    samples = gan.generate(*_fixed_noise(config))
    return Trained(gan, initial, {k: float(v) for k, v in stats.items()}, updates, sizes, samples)


def _fixed_noise(config: Config) -> tuple[torch.Tensor, torch.Tensor | None]:
    z = torch.randn(6, config.z_dim, generator=torch.Generator().manual_seed(2))
    return z, torch.arange(6) if config.conditional else None


_BASELINES: dict[Config, Trained] = {}


def _baseline(config: Config) -> Trained:
    if config not in _BASELINES:
        _BASELINES[config] = _train(config)
    return _BASELINES[config]


def _changed(a: Trained, b: Trained) -> list[str]:
    """What differs after training: tensors both have (same name and shape), the samples
    and the logged values. (Hinge and WGAN give D the same gradients while every logit
    is within (-1, 1); only the logged loss tells them apart there.)"""
    a_state, b_state = a.gan.state_dict(), b.gan.state_dict()
    shared = [k for k in a_state if k in b_state and a_state[k].shape == b_state[k].shape and a_state[k].is_floating_point()]
    changed = [k for k in shared if not torch.equal(a_state[k], b_state[k])]
    if a.samples.shape != b.samples.shape or not torch.equal(a.samples, b.samples):
        changed.append("samples")
    return changed + [k for k in a.stats.keys() | b.stats.keys() if a.stats.get(k) != b.stats.get(k)]


def _check_observables(t: Trained) -> None:
    """What each setting promises, checked on every trained case."""
    c, gan = t.config, t.gan
    assert all(map(torch.isfinite, map(torch.tensor, t.stats.values()))), t.stats
    # n_critic D updates per G update in every order, d_pretrain where it is due
    assert t.updates["opt_g"] == STEPS
    assert t.updates["opt_d"] == c.d_pretrain * sum(map(gan.pretrains_d, range(STEPS))) + STEPS * c.n_critic
    assert t.updates["opt_d_fake"] == (t.updates["opt_d"] if c.update == "separate-d" else 0)
    # PacGAN: D always judges batch_size inputs of `pack` samples
    assert t.d_batch_sizes == {c.batch_size}
    if c.clip:
        assert max(float(p.abs().max()) for p in gan.d.parameters()) <= c.clip + 1e-7
    # every regulariser is in the logged objective, and active by the second step
    expected = {"d_penalty": gan.loss.penalty is not None, "d_r1": bool(c.r1),
                "d_history": bool(c.historical_averaging), "g_history": bool(c.historical_averaging)}
    for term, on in expected.items():
        assert (term in t.stats) == on, term
        if on:
            assert t.stats[term] > 0, term
    if c.ema:
        assert any(not torch.equal(a, b) for a, b in zip(gan.g_ema.parameters(), gan.g.parameters()))
        with torch.no_grad():
            assert torch.equal(t.samples, gan.g_ema.eval()(*_fixed_noise(c)))  # samples come from the EMA copy


@pytest.mark.parametrize("plain, config", ACCEPTED)
def test_an_accepted_option_changes_the_step_and_does_what_it_says(plain, config):
    without = _baseline(plain)
    trained = _train(config, start_from=without.initial)
    assert _changed(without, trained), f"{config.remedies or config.loss}: accepted, but the step computed the same"
    _check_observables(without)
    _check_observables(trained)


@pytest.mark.parametrize("option, message", REJECTED)
def test_a_rejected_combination_says_why_in_one_line(option, message):
    key, _, value = option.partition("=")
    names = {key, value.partition(":")[0]} | set(REMEDIES.get(value.partition(":")[0], {}))
    assert "\n" not in message
    assert any(name in message for name in names), message


def test_the_suites_cover_every_registered_option_order_and_architecture():
    ids = [case.id for case in ACCEPTED]
    for option in OPTIONS:
        for order in CHOICES["update"]:
            assert any(f"update={order}" in i and i.endswith(option) for i in ids), (order, option)
    for architecture in ARCHITECTURES:
        preset = next(n for n, v in variants.VARIANTS.items() if v.config().architecture == architecture)
        assert any(i.startswith(f"architectures:{preset}:") for i in ids), architecture
    assert set(CHOICES["update"]) == set(ORDERS)
    assert {k for overrides in REMEDIES.values() for k in overrides} <= set(FIELDS)
