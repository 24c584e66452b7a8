"""Each remedy changes what it should."""

import copy
import math

import pytest
import torch

from bench.gan import remedies, variants
from bench.gan.model import GAN


def _batches(channels=1, size=28, conditional=False):
    def next_batch(n):
        return torch.rand(n, channels, size, size), torch.randint(0, 10, (n,))

    return next_batch


def _gan(variant="dcgan", settings=()):
    torch.manual_seed(0)
    return GAN(variants.get(variant).config(["batch_size=8", *settings]))


def test_pacgan_discriminator_sees_m_samples_per_input():
    gan = _gan("pacdcgan3")
    seen = []
    gan.d.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    gan.train_step(_batches(), 0)
    assert seen[0] == (8, 3, 28, 28)  # 8 inputs of 3 packed samples each
    assert remedies.pack(torch.arange(12.0).view(6, 2, 1, 1), 3).shape == (2, 6, 1, 1)


def test_unrolled_generator_gradient_differs_from_plain():
    def g_grad(k):
        gan = _gan("dcgan", [f"unrolled={k}", "bn_d=false"])
        real = torch.rand(8, 1, 28, 28)
        torch.manual_seed(1)
        gan.opt_g.step = lambda: None  # keep weights: compare gradients only
        gan.g_update(real, None, 0)
        return torch.cat([p.grad.flatten() for p in gan.g.parameters()])

    plain, unrolled = g_grad(0), g_grad(3)
    assert not torch.allclose(plain, unrolled)


def test_label_smoothing_changes_the_discriminator_loss_only_on_real():
    a, b = _gan("dcgan"), _gan("dcgan", ["label_smoothing=0.1"])
    torch.manual_seed(2)
    la = a.d_update(torch.rand(8, 1, 28, 28), None, 0)["loss_d"]
    torch.manual_seed(2)
    lb = b.d_update(torch.rand(8, 1, 28, 28), None, 0)["loss_d"]
    assert la != lb


def test_feature_matching_changes_the_generator_loss():
    plain, matched = _gan("dcgan"), _gan("dcgan", ["feature_matching=true"])
    real = torch.rand(8, 1, 28, 28)
    torch.manual_seed(3)
    a = plain.g_update(real, None, 0)["loss_g"]
    torch.manual_seed(3)
    b = matched.g_update(real, None, 0)["loss_g"]
    assert a != b and b >= 0  # a squared distance


def test_minibatch_features_widen_the_discriminator_head():
    assert _gan("dcgan", ["minibatch_discrimination=true"]).d.head.in_features == 1024 + 50
    assert _gan("dcgan", ["minibatch_std=true"]).d.head.in_features == 1024 + 1
    both = _gan("dcgan", ["remedies=minibatch-discrimination,minibatch-std"])
    assert both.d.head.in_features == 1024 + 50 + 1
    assert all(torch.isfinite(v) for v in both.train_step(_batches(), 0).values())
    h = torch.randn(6, 1024)
    out = remedies.MinibatchDiscrimination(1024)(h)
    assert out.shape == (6, 50) and torch.all(out >= 0)
    identical = remedies.MinibatchDiscrimination(1024)(h[:1].repeat(6, 1))
    assert torch.allclose(identical, torch.full_like(identical, 5.0), atol=1e-3)  # 5 other identical samples


def test_ema_generator_averages_trained_weights_only():
    """50 steps at decay 0.999: the EMA generator is a weighted average of G's weights
    after each step (the first update copies G, update t decays by min(0.999, (1+t)/(10+t))),
    with no share left to the initial weights and most on the recent steps."""
    decay, steps = 0.999, 50
    gan = _gan("seed000-fc", [f"ema={decay}"])
    trained = []
    for step in range(steps):
        gan.train_step(_batches(), step)
        trained.append(copy.deepcopy(gan.g.state_dict()))
    decays = [0.0] + [min(decay, (1 + t) / (10 + t)) for t in range(2, steps + 1)]
    weights = [(1 - decays[s]) * math.prod(decays[s + 1:]) for s in range(steps)]
    assert sum(weights) == pytest.approx(1.0) and sum(weights[-10:]) > 0.5
    for name, value in gan.g_ema.named_parameters():
        expected = sum(w * t[name] for w, t in zip(weights, trained))
        assert torch.allclose(value, expected, atol=1e-6), name
        assert not torch.allclose(value, trained[-1][name], atol=1e-6)  # an average that lags G, not a copy


def test_historical_averaging_penalises_distance_from_the_past():
    net = torch.nn.Linear(3, 1)
    history = remedies.HistoricalAverage(net)
    assert history.penalty(net).item() == 0
    with torch.no_grad():
        net.weight.add_(1.0)
    assert history.penalty(net).item() > 0
    history.update(net)
    assert torch.allclose(history.mean[0], net.weight - 0.5)  # mean of the two weights seen


def test_instance_noise_is_annealed_to_zero():
    assert remedies.instance_noise_std(0.2, 0, 100) == 0.2
    assert remedies.instance_noise_std(0.2, 50, 100) == 0.1
    assert remedies.instance_noise_std(0.2, 100, 100) == 0.0


def test_spectral_norm_bounds_each_layer():
    gan = _gan("dcgan", ["spectral_norm=true", "bn_d=false"])
    for _ in range(3):
        gan.train_step(_batches(), 0)
    linear = gan.d.body[-2]  # the FC 1024 layer
    assert torch.linalg.matrix_norm(linear.weight, ord=2) < 1.1


def test_wgan_clipping_bounds_the_critic_weights():
    gan = _gan("dcgan-wgan", ["n_critic=1"])
    gan.train_step(_batches(), 0)
    assert max(p.abs().max().item() for p in gan.d.parameters()) <= 0.01 + 1e-7


def test_n_critic_and_pretraining_count_discriminator_updates():
    gan = _gan("dcgan", ["n_critic=3", "d_pretrain=2"])
    calls = []
    original = gan.d_update
    gan.d_update = lambda *args: calls.append(args[2]) or original(*args)
    gan.train_step(_batches(), 0)
    gan.train_step(_batches(), 1)
    assert len(calls) == 2 + 3 + 3


def test_ttur_sets_separate_learning_rates():
    gan = _gan("dcgan", ["remedies=ttur"])
    assert gan.opt_d.param_groups[0]["lr"] == 4e-4 and gan.opt_g.param_groups[0]["lr"] == 1e-4


def test_g_first_update_trains_g_then_d_on_the_same_fakes():
    gan = _gan("seed002-dcgan")
    order = []
    gan.opt_g.register_step_post_hook(lambda *a: order.append("g"))
    gan.opt_d.register_step_post_hook(lambda *a: order.append("d"))
    generated = []
    gan.g.register_forward_hook(lambda module, args, out: generated.append(out))
    gan.train_step(lambda n: (torch.rand(n, 1, 32, 32) * 2 - 1, torch.zeros(n, dtype=torch.long)), 0)
    assert order == ["g", "d"] and len(generated) == 1  # one batch of fakes serves both updates


def test_bf16_autocast_trains_in_bfloat16_with_fp32_weights():
    gan = _gan("dcgan", ["precision=bf16"])
    dtypes = []
    gan.d.body[0].register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    stats = gan.train_step(_batches(), 0)
    assert torch.bfloat16 in dtypes
    assert all(torch.isfinite(v) for v in stats.values())
    assert all(p.dtype == torch.float32 for p in gan.parameters())
