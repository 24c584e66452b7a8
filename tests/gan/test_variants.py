"""Every named variant builds, trains and produces images of the right shape and range."""

import math

import pytest
import torch

from bench import trainer
from bench.data.batches import Batches
from bench.errors import BenchError
from bench.gan import variants
from bench.gan.model import GAN

def quick(name):
    """Small batches, and a short D pre-training where the variant has one."""
    return ["batch_size=8"] + (["d_pretrain=2"] if variants.get(name).config().d_pretrain else [])


@pytest.fixture(scope="module")
def mnist():
    return trainer.load_training_data("mnist", 28, torch.device("cpu"))


def _expected_range(gan):
    last = [m for m in gan.g.modules() if isinstance(m, (torch.nn.Tanh, torch.nn.Sigmoid))][-1]
    return (-1, 1) if isinstance(last, torch.nn.Tanh) else (0, 1)


@pytest.mark.parametrize("name", list(variants.VARIANTS))
def test_variant_trains_on_mnist_and_samples_in_range(name, mnist):
    config = variants.get(name).config(quick(name))
    torch.manual_seed(0)
    gan = GAN(config, 1)
    images, labels = mnist
    if config.image_size != 28:
        images, labels = trainer.load_training_data("mnist", config.image_size, torch.device("cpu"))
    batches = Batches(images, labels, config.image_range)
    for step in range(3):  # every option on every preset is trained by test_conformance
        stats = gan.train_step(batches, step)
    assert all(math.isfinite(float(v)) for v in stats.values())
    assert {"loss_d", "loss_g"} <= stats.keys()
    z = gan.noise(5)
    out = gan.generate(z, gan.random_labels(5))
    assert out.shape == (5, 1, config.image_size, config.image_size)
    low, high = _expected_range(gan)
    assert out.min() >= low and out.max() <= high
    samples, _ = trainer.sample(gan, 12, seed=0)
    assert samples.shape == (12, 1, 28, 28) and samples.dtype == torch.uint8


@pytest.mark.parametrize("name", list(variants.VARIANTS))
def test_variant_runs_on_stacked_mnist(name):
    config = variants.get(name).config(quick(name))
    gan = GAN(config, channels=3)
    size = config.image_size

    def batches(n):
        return torch.rand(n, 3, size, size), torch.randint(0, 10, (n,))

    stats = gan.train_step(batches, 1)
    assert all(math.isfinite(float(v)) for v in stats.values())
    assert gan.generate(gan.noise(2), gan.random_labels(2)).shape == (2, 3, size, size)


@pytest.mark.parametrize("name", [n for n, v in variants.VARIANTS.items() if v.config().conditional])
def test_conditional_variants_use_the_label(name):
    gan = GAN(variants.get(name).config(quick(name)), 1).eval()
    z = gan.noise(4).repeat(2, 1)
    labels = torch.tensor([3] * 4 + [5] * 4)
    images = gan.generate(z, labels)
    assert not torch.allclose(images[:4], images[4:])
    with torch.no_grad():
        assert not torch.allclose(gan.d(images, labels), gan.d(images, 9 - labels))
    drawn, drawn_labels = trainer.sample(gan, 20, seed=0, labels=torch.full((20,), 7))
    assert drawn_labels.tolist() == [7] * 20


@pytest.mark.parametrize(
    "settings, message",
    [
        (["lossy=ns"], "unknown setting 'lossy'; valid: architecture, loss"),
        (["loss=softmax"], "unknown loss 'softmax'; valid: mm, ns, lsgan, wgan, wgan-gp, dragan, hinge"),
        (["remedies=magic"], "unknown remedy 'magic'; valid: feature-matching"),
        (["pack=two"], "pack='two': expected an int"),
        (["noise=cauchy"], "noise='cauchy'; valid: normal, uniform"),
        (["batch_size=0"], "batch_size must be at least 1"),
        (["loss=hinge", "label_smoothing=0.1"], "label_smoothing needs a loss with targets"),
        (["conditional=true", "remedies=pacgan:2"], "pacgan packing is not combined with conditional"),
        (["bn_d"], "expected key=value"),
        (["architecture=seed000-fc", "remedies=no-bn-g"], "bn_g=false (no-bn-g): architecture seed000-fc has no batch-norm switch in G"),
        (["remedies=-ema"], "remedies: -ema removes nothing"),
        (["architecture=nosuch:build"], "architecture 'nosuch:build': cannot import 'nosuch'"),
        (["loss=relativistic"], "unknown loss 'relativistic'; valid: mm, ns"),
    ],
)
def test_bad_overrides_get_one_line_errors(settings, message):
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        variants.get("dcgan").config(settings)
    assert "\n" not in str(error.value)


def test_overrides_compose_and_explicit_settings_win():
    c = variants.get("dcgan").config(["loss=hinge", "remedies=pacgan:2,ema", "lr_d=4e-4"])
    assert (c.loss, c.pack, c.ema, c.lr_d) == ("hinge", 2, 0.999, 4e-4)
    c = variants.get("dcgan").config(["remedies=ttur", "lr_d=1e-3"])
    assert (c.lr_d, c.lr_g) == (1e-3, 1e-4)


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(BenchError, match="unknown variant 'gan'; valid: seed000-fc"):
        variants.get("gan")


def test_faithful_presets_keep_their_reports_settings():
    assert variants.get("seed004-dcgan").config().image_range == "0,1"  # the mismatch 004 trained with
    assert variants.get("seed004-dcgan-fixed").config().image_range == "-1,1"
    bn = [m for m in GAN(variants.get("seed002-dcgan").config()).g.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [m.eps for m in bn] == [1e-5, 0.8, 0.8]  # PyTorch-GAN's BatchNorm2d(C, 0.8) quirk
    c = variants.get("seed001-dcgan").config()
    assert (c.lr_g, c.lr_d, c.batch_size, c.d_pretrain, c.update) == (1e-4, 3e-4, 50, 300, "separate-d")


def test_every_report_preset_says_how_faithful_it_is():
    for v in variants.VARIANTS.values():
        assert v.faithfulness in variants.FAITHFULNESS, v.name
        from_a_report = v.name.startswith("seed")
        assert (v.faithfulness != "paper") == from_a_report or v.name == "dcgan-radford", v.name
        if v.faithfulness in ("completed", "guessed"):
            assert v.deviations, f"{v.name} is {v.faithfulness}: list what was assumed"
        assert all(len(row) == 3 for row in v.deviations)
    assert variants.get("seed003-cdcgan").faithfulness == "guessed"


def test_radford_dcgan_follows_the_recipe():
    gan = GAN(variants.get("dcgan-radford").config())
    assert gan.config.image_size == 32 and gan.config.batch_size == 128
    assert [type(m).__name__ for m in gan.g.body if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Upsample))] == ["ConvTranspose2d"] * 4
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gan.d.body[:2])  # none on D's input layer
    assert isinstance(gan.g.body[-1], torch.nn.Tanh)
    with pytest.raises(BenchError, match="radford32' cannot be built for 28x28 images"):
        variants.get("dcgan-radford").config(["image_size=28"])
