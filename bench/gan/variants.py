"""Named GAN variants: an architecture, a loss, remedies and default hyperparameters.

The ``seed*`` presets reproduce the reports in ``shared/seeds`` with their own
settings; ``notes`` records every ambiguity resolved. The other variants put the
standard losses and remedies on one reference backbone (Lucic et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.errors import BenchError
from bench.gan.config import Config, resolve

TF_ADAM = {"beta1": 0.9, "beta2": 0.999}  # TensorFlow's Adam defaults, used by the TF reports
MNIST_TRAIN = 60_000


@dataclass(frozen=True)
class Variant:
    name: str
    source: str
    description: str
    settings: dict = field(default_factory=dict)
    notes: str = ""

    def config(self, overrides: list[str] | dict = ()) -> Config:
        return resolve(self.settings, overrides)


_SEED000 = {"architecture": "seed000-fc", "loss": "ns", "z_dim": 100, "noise": "uniform", "image_range": "0,1",
            "batch_size": 128, "steps": 40_001, "lr_g": 2e-4, "lr_d": 2e-4, **TF_ADAM, "update": "simultaneous"}
_SEED004 = {"architecture": "seed004-dcgan", "loss": "ns", "z_dim": 100, "noise": "uniform", "image_range": "0,1",
            "batch_size": 256, "steps": 20_000, "lr_g": 1e-4, "lr_d": 1e-4, **TF_ADAM}
_REFERENCE = {"architecture": "infogan", "z_dim": 64, "batch_size": 64, "steps": 15_625, "lr_g": 2e-4, "lr_d": 2e-4,
              "beta1": 0.5, "beta2": 0.999, "image_range": "0,1"}
_LOSS_DEFAULTS = {  # the settings each loss is usually trained with
    "wgan": {"n_critic": 5, "clip": 0.01},
    "wgan-gp": {"n_critic": 5, "beta1": 0.5, "beta2": 0.9, "bn_d": False},
    "dragan": {"bn_d": False},
}

_VARIANTS = [
    Variant("seed000-fc", "000 part 1", "fully connected G and D, 256 hidden units", _SEED000,
            "TF code runs both optimisers in one sess.run: simultaneous updates from one forward pass; "
            "sigmoid + log losses computed stably on logits."),
    Variant("seed000-fc-cnnd", "000 part 2", "000's G with a small CNN discriminator",
            _SEED000 | {"architecture": "seed000-cnnd"}),
    Variant("seed001-dcgan", "001", "resize-conv G, average-pooling D, 300 D pre-training steps",
            {"architecture": "seed001-dcgan", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "0,1",
             "batch_size": 50, "steps": 2000, "lr_g": 1e-4, "lr_d": 3e-4, **TF_ADAM, "d_pretrain": 300, "update": "separate-d"},
            "train_loop = 2000 steps after 300 pre-training steps; D's real and fake losses have separate Adam optimisers."),
    Variant("seed002-fc", "002 3.1/3.2", "fully connected 32-64-128 G and D with dropout 0.3",
            {"architecture": "seed002-fc", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "-1,1",
             "batch_size": 64, "steps": 200 * MNIST_TRAIN // 64, "beta1": 0.5, "beta2": 0.999, "update": "g-first"},
            "optimiser not shown for the FC GAN: we take the same report's PyTorch-GAN settings (Adam 2e-4, betas 0.5/0.999, "
            "batch 64, 200 epochs, G updated before D on the same fakes)."),
    Variant("seed002-dcgan", "002 3.3/3.4/6", "PyTorch-GAN DCGAN on 32x32 images (BatchNorm eps=0.8 quirk kept)",
            {"architecture": "seed002-dcgan", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "-1,1",
             "image_size": 32, "batch_size": 64, "steps": 200 * MNIST_TRAIN // 64, "beta1": 0.5, "beta2": 0.999,
             "update": "g-first"},
            "BCELoss on a sigmoid is computed on logits; G is updated before D on the same fakes, as in PyTorch-GAN; "
            "PyTorch-GAN halves D's loss, which Adam's scale invariance makes immaterial, so we do not."),
    Variant("seed003-cgan", "003", "conditional fully connected GAN, one-hot labels concatenated",
            {"architecture": "seed003-cgan", "conditional": True, "loss": "ns", "z_dim": 100, "noise": "normal",
             "image_range": "-1,1", "batch_size": 150, "steps": 200 * MNIST_TRAIN // 150, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999},
            "200 epochs of the 60k training set (the report's TF loader held 55k); G is trained on random labels; the optimiser line "
            "is not shown: Adam with beta1=0.5 as in the TF cGAN code the report follows."),
    Variant("seed003-cdcgan", "003", "conditional DCGAN, labels as extra input channels",
            {"architecture": "seed003-cdcgan", "conditional": True, "loss": "ns", "z_dim": 100, "noise": "normal",
             "image_range": "-1,1", "batch_size": 100, "steps": 20 * MNIST_TRAIN // 100, "beta1": 0.5, "beta2": 0.999},
            "architecture not given in 003: the common TF cDCGAN (z+one-hot deconvolved from 7x7; D sees ten label "
            "channels), Adam 2e-4/0.5, batch 100, 20 epochs."),
    Variant("seed004-dcgan", "004", "two-conv D, three-deconv G; real images in [0,1] but G ends in tanh", _SEED004,
            "faithful mismatch kept: G can only match real pixels with its upper half. z is 100 as in the code "
            "(the text says 128); weight init assumed to be the TF tutorial's."),
    Variant("seed004-dcgan-fixed", "004", "004 with real images scaled to [-1,1] to match G's tanh",
            _SEED004 | {"image_range": "-1,1"}),
    Variant("dcgan", "Lucic et al. 2018", "reference InfoGAN-style DCGAN, non-saturating loss", _REFERENCE | {"loss": "ns"}),
    *[
        Variant(f"dcgan-{loss}", "Lucic et al. 2018", f"reference DCGAN with the {loss} loss",
                _REFERENCE | {"loss": loss} | _LOSS_DEFAULTS.get(loss, {}))
        for loss in ("mm", "ns", "lsgan", "wgan", "wgan-gp", "dragan", "hinge")
    ],
    *[
        Variant(f"pacdcgan{m}", "Lin et al. 2018 (PacGAN)", f"reference DCGAN whose D judges {m} samples at once",
                _REFERENCE | {"loss": "ns", "remedies": f"pacgan:{m}"})
        for m in (2, 3, 4)
    ],
    Variant("cgan", "Mirza & Osindero 2014; Miyato & Koyama 2018", "conditional reference DCGAN with a projection discriminator",
            _REFERENCE | {"loss": "ns", "conditional": True, "condition": "projection"}),
]
VARIANTS = {v.name: v for v in _VARIANTS}


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise BenchError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)} (see 'bench variants')")
    return VARIANTS[name]
