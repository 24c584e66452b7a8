"""Your own architecture, loss and remedy, named by import path; bad references get one
line before anything is written."""

import textwrap
from pathlib import Path

import pytest
import torch

from bench.errors import BenchError
from bench.gan import variants
from bench.gan.model import GAN

BAD = '''
import torch
from torch import nn
from bench.gan.architectures import build as _unused
from bench.gan.remedies import Remedy

NOT_CALLABLE = 3

def returns_one(shape):
    return nn.Linear(1, 1)

class _G(nn.Module):
    def forward(self, z, labels=None):
        return torch.zeros(len(z), 1, 14, 14)

class _D(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
    def forward(self, x, labels=None):
        return x.flatten(1).sum(1, keepdim=True) * self.w

def wrong_image_shape(shape):
    return _G(), _D()

class _RightG(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = shape
        self.w = nn.Parameter(torch.zeros(1))
    def forward(self, z, labels=None):
        return torch.zeros(len(z), self.shape.channels, self.shape.size, self.shape.size) + self.w

def wrong_logit_shape(shape):
    return _RightG(shape), _D()

def plain_modules(shape):
    class D(_D):
        def forward(self, x, labels=None):
            return super().forward(x).squeeze(1)
    return _RightG(shape), D()

class NotARemedy:
    pass

class NeedsANumber(Remedy):
    def __init__(self, weight):
        super().__init__()
        self.weight = float(weight)
'''


@pytest.fixture
def bad_module(tmp_path, monkeypatch):
    (tmp_path / "badplugins.py").write_text(textwrap.dedent(BAD))
    (tmp_path / "broken.py").write_text("raise RuntimeError('at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("settings, message", [
    (["architecture=nosuch.models:build"], "architecture 'nosuch.models:build': cannot import 'nosuch.models'"),
    (["architecture=broken:build"], "importing 'broken' failed: RuntimeError: at import"),
    (["architecture=badplugins:missing"], "module 'badplugins' has no attribute 'missing'"),
    (["architecture=badplugins:NOT_CALLABLE"], "architecture 'badplugins:NOT_CALLABLE' is not callable"),
    (["architecture=badplugins:returns_one"], "returned Linear; it must return (generator, discriminator)"),
    (["architecture=badplugins:wrong_image_shape"], "architecture 'badplugins:wrong_image_shape' makes 14x14 images, not image_size=28; set image_size=14"),
    (["architecture=badplugins:wrong_logit_shape"], "the discriminator returned shape (2, 1), expected (N,)"),
    (["architecture=badplugins:plain_modules", "remedies=feature-matching"], "feature_matching need D's features"),
    (["loss=badplugins:NOT_CALLABLE"], "loss 'badplugins:NOT_CALLABLE' is neither a bench.gan.losses.Loss nor a function"),
    (["remedies=badplugins:NotARemedy"], "remedy 'badplugins:NotARemedy' is not a subclass of bench.gan.remedies.Remedy"),
    (["remedies=badplugins:NeedsANumber:lots"], "could not be built with 'lots': ValueError"),
    (["remedies=badplugins:NeedsANumber"], "could not be built with 'no argument': TypeError"),
])
def test_bad_references_get_one_line_errors(bad_module, settings, message):
    with pytest.raises(BenchError) as error:
        variants.get("dcgan").config(settings)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_plain_modules_train_when_no_option_needs_bench_base_classes(bad_module):
    gan = GAN(variants.get("dcgan").config(["architecture=badplugins:plain_modules", "batch_size=4"]))
    stats = gan.train_step(lambda n: (torch.rand(n, 1, 28, 28), torch.zeros(n, dtype=torch.long)), 0)
    assert {"loss_d", "loss_g"} <= stats.keys()


def test_the_examples_plugins_train_and_their_remedy_is_in_gs_objective(monkeypatch):
    from bench.gan import plugins

    plugins.add_search_path(Path(__file__).resolve().parents[2] / "examples" / "tinygan")
    config = variants.get("dcgan-ns").config(["architecture=tinygan:build", "loss=tinygan:lsgan_symmetric",
                                              "remedies=tinygan:ModeSeeking:0.5", "batch_size=8"])
    torch.manual_seed(0)
    gan = GAN(config)
    assert gan.plugins[0].weight == 0.5
    stats = gan.train_step(lambda n: (torch.rand(n, 1, 28, 28), torch.zeros(n, dtype=torch.long)), 0)
    assert stats["g_modeseeking"] > 0
    fake_logits = []
    gan.d.register_forward_hook(lambda module, args, out: fake_logits.append(out.detach()))
    stats = gan.train_step(lambda n: (torch.rand(n, 1, 28, 28), torch.zeros(n, dtype=torch.long)), 1)
    real, fake = fake_logits[0], fake_logits[1]
    assert stats["loss_d"] == pytest.approx(float(0.5 * ((real - 1) ** 2).mean() + 0.5 * ((fake + 1) ** 2).mean()))
    without = variants.get("dcgan-ns").config(["architecture=tinygan:build", "loss=tinygan:lsgan_symmetric",
                                               "remedies=tinygan:ModeSeeking:0.5,-tinygan:ModeSeeking"])
    assert without.remedies == "" and not GAN(without).plugins
