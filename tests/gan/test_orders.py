"""The update orders share one D and one G objective: what was once ignored in some
loops now happens in all of them (the reproducers of the train-step issue)."""

import math

import pytest
import torch

from bench.errors import BenchError
from bench.gan import losses, variants
from bench.gan.config import CHOICES
from bench.gan.model import GAN


def _gan(variant, settings=()):
    torch.manual_seed(0)
    return GAN(variants.get(variant).config(["batch_size=8", *settings]))


def _batches(config, channels=1):
    def next_batch(n):
        x = torch.rand(n, channels, config.image_size, config.image_size)
        return (x * 2 - 1 if config.image_range == "-1,1" else x), torch.randint(0, 10, (n,))

    return next_batch


@pytest.mark.parametrize("order", CHOICES["update"])
def test_every_order_adds_the_penalties_to_ds_objective(order):
    gan = _gan("seed002-fc", [f"update={order}", "loss=wgan-gp", "remedies=r1"])
    stats = gan.train_step(_batches(gan.config), 0)
    assert stats["d_penalty"] > 0 and stats["d_r1"] > 0


@pytest.mark.parametrize("order", CHOICES["update"])
def test_every_order_clips_the_critic(order):
    gan = _gan("seed000-fc", [f"update={order}", "loss=wgan", "clip=0.01"])
    gan.train_step(_batches(gan.config), 0)
    assert max(p.abs().max().item() for p in gan.d.parameters()) <= 0.01 + 1e-7


def test_separate_d_minimises_the_configured_loss():
    gan = _gan("seed001-dcgan", ["loss=hinge", "d_pretrain=0", "d_pretrain_every=0"])
    logits = []
    gan.d.register_forward_hook(lambda module, args, out: logits.append(out.detach()))
    stats = gan.train_step(_batches(gan.config), 0)
    hinge, _ = losses.hinge(logits[0], logits[1])  # D's first update: real, then fake
    assert stats["loss_d"] == pytest.approx(float(hinge))
    assert float(stats["loss_d"]) != pytest.approx(2 * math.log(2), abs=1e-3)


def test_separate_d_steps_each_half_with_its_own_optimiser():
    gan = _gan("seed001-dcgan", ["d_pretrain=0", "d_pretrain_every=0"])
    grads = {}

    def keep_first_gradient(optimizer, *_):
        grads.setdefault(optimizer, optimizer.param_groups[0]["params"][0].grad.clone())

    for optimizer in (gan.opt_d, gan.opt_d_fake):
        optimizer.register_step_pre_hook(keep_first_gradient)
    gan.train_step(_batches(gan.config), 0)
    assert not torch.allclose(grads[gan.opt_d], grads[gan.opt_d_fake])


def test_remedies_add_to_a_presets_own():
    c = variants.get("pacdcgan2").config(["remedies=ema"])
    assert (c.pack, c.ema, c.remedies) == (2, 0.999, "pacgan:2,ema")
    gan = GAN(c)
    seen = []
    gan.d.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    gan.train_step(_batches(c), 0)
    assert set(seen) == {2} and gan.g_ema is not None  # two packed grey images per D input, and EMA


def test_remedies_can_be_removed_or_cleared():
    assert variants.get("pacdcgan3").config(["remedies=-pacgan"]).pack == 1
    c = variants.get("pacdcgan3").config(["remedies=none,ema"])
    assert (c.pack, c.ema, c.remedies) == (1, 0.999, "ema")
    assert variants.get("pacdcgan3").config(["remedies=pacgan:4"]).remedies == "pacgan:4"  # re-valued, not doubled
    with pytest.raises(BenchError, match="remedies: -ema removes nothing; the remedies at that point are: pacgan"):
        variants.get("pacdcgan3").config(["remedies=-ema"])


def test_conditional_simultaneous_d_judges_fakes_with_the_labels_g_was_given():
    gan = _gan("seed003-cgan", ["update=simultaneous"])
    g_labels, d_labels = [], []
    gan.g.register_forward_pre_hook(lambda module, args: g_labels.append(args[1]))
    gan.d.register_forward_pre_hook(lambda module, args: d_labels.append(args[1]))
    gan.train_step(_batches(gan.config), 0)
    assert torch.equal(d_labels[1], g_labels[0])  # D's second call judges the fakes


@pytest.mark.parametrize("order", ["alternating", "g-first", "simultaneous"])
def test_pacgan_sees_the_same_number_of_samples_in_every_order(order):
    gan = _gan("pacdcgan3", [f"update={order}", "batch_size=5"])  # 5 does not divide by 3: packs of 15 samples do
    sizes = []
    gan.d.register_forward_pre_hook(lambda module, args: sizes.append(tuple(args[0].shape[:2])))
    gan.train_step(_batches(gan.config), 0)
    assert set(sizes) == {(5, 3)}


def test_feature_matching_with_unrolling_matches_the_unrolled_ds_features():
    def g_grad(settings):
        gan = _gan("dcgan", ["feature_matching=true", "bn_d=false", *settings])
        gan.opt_g.step = lambda: None  # compare gradients only
        torch.manual_seed(1)
        gan.g_update(torch.rand(8, 1, 28, 28), None, 0)
        return torch.cat([p.grad.flatten() for p in gan.g.parameters()])

    assert not torch.allclose(g_grad([]), g_grad(["unrolled=2"]))


def test_d_pretraining_and_n_critic_apply_in_g_first_and_simultaneous():
    for order in ("g-first", "simultaneous"):
        gan = _gan("seed002-fc", [f"update={order}", "d_pretrain=3", "n_critic=2"])
        steps = []
        gan.opt_d.register_step_post_hook(lambda *_: steps.append("d"))
        gan.opt_g.register_step_post_hook(lambda *_: steps.append("g"))
        gan.train_step(_batches(gan.config), 0)
        assert steps.count("d") == 3 + 2 and steps.count("g") == 1, order


def test_d_pretraining_repeats_at_the_start_of_each_session():  # report 001's five sessions
    gan = _gan("seed001-dcgan", ["d_pretrain=2", "d_pretrain_every=3"])
    updates = []
    gan.opt_d.register_step_post_hook(lambda *_: updates.append("d"))
    gan.opt_g.register_step_post_hook(lambda *_: updates.append("g"))
    for step in range(7):
        gan.train_step(_batches(gan.config), step)
    sessions = "dddg" + "dg" * 2
    assert "".join(updates) == sessions * 2 + "dddg"  # pre-training before steps 0, 3 and 6
    with pytest.raises(BenchError, match="d_pretrain_every=3 repeats the D pre-training, but d_pretrain is 0"):
        variants.get("dcgan").config(["d_pretrain_every=3"])


def test_seed001_normalises_as_tensorflow_did():
    gan = _gan("seed001-dcgan")
    norms = [m for m in gan.g.modules() if type(m).__name__ == "TFBatchNorm"]
    assert [m.beta.numel() for m in norms] == [1, 50, 25]  # one statistic for the 56x56 map; beta only
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in gan.g.modules())
    assert not list(gan.g.buffers())  # batch statistics always, at sampling too


def test_report_002s_several_d_steps_per_g_step():
    gan = _gan("seed002-dcgan", ["n_critic=3"])
    updates = []
    gan.opt_d.register_step_post_hook(lambda *_: updates.append("d"))
    gan.opt_g.register_step_post_hook(lambda *_: updates.append("g"))
    gan.train_step(_batches(gan.config), 0)
    assert "".join(updates) == "gddd"  # G, D on the same fakes, two more D steps on fresh batches
