"""Named GAN variants: an architecture, a loss, remedies and default hyperparameters.

The ``seed*`` presets reproduce the reports in ``shared/seeds`` with their own
settings. Each says how faithful it is (``FAITHFULNESS``) and lists, beside it, every
place where it differs from its report or fills a gap the report leaves
(``deviations``: what, the report, here); ``bench variants --detail NAME`` prints
them. The other variants put the standard losses and remedies on one reference
backbone (Lucic et al. 2018), or follow a paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.errors import BenchError
from bench.gan.config import Config, resolve, resolve_saved

TF_ADAM = {"beta1": 0.9, "beta2": 0.999}  # TensorFlow's Adam defaults, used by the TF reports
MNIST_TRAIN = 60_000


FAITHFULNESS = {
    "faithful": "every layer and setting from the report",
    "completed": "the report leaves some out: what was assumed, and from where, is listed",
    "guessed": "the report specifies nothing of the model: an outside stand-in",
    "paper": "not a report's model: a standard one from the literature",
}
LOADER_55K = ("data", "TF's MNIST loader: 55,000 training images", "the canonical 60,000")
NO_LOADER = ("data", "the loader is not shown", "the canonical 60,000 training images")
LOGITS = ("losses", "sigmoid, then log", "the same function on logits (softplus): finite where the sigmoid saturates")


@dataclass(frozen=True)
class Variant:
    name: str
    source: str
    description: str
    settings: dict = field(default_factory=dict)
    notes: str = ""
    faithfulness: str = "paper"
    deviations: tuple[tuple[str, str, str], ...] = ()  # (what, the report, here)

    def config(self, overrides: list[str] | dict = ()) -> Config:
        return resolve(self.settings, overrides)

    def saved_config(self, saved: dict, overrides: list[str] = ()) -> Config:
        """A configuration saved by 'bench best' (``bench.gan.config.resolve_saved``)."""
        return resolve_saved(self.settings, saved, overrides)


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
            "TF code runs both optimisers in one sess.run: simultaneous updates from one forward pass.",
            "faithful", (LOGITS, LOADER_55K)),
    Variant("seed000-fc-cnnd", "000 part 2", "000's G with a small CNN discriminator",
            _SEED000 | {"architecture": "seed000-cnnd"}, "", "faithful",
            (LOGITS, LOADER_55K, ("padding", "TF 'SAME'", "PyTorch padding=2 (the same for 5x5, stride 1)"))),
    Variant("seed001-dcgan", "001", "resize-conv G, average-pooling D, 300 D pre-training steps",
            {"architecture": "seed001-dcgan", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "0,1",
             "batch_size": 50, "steps": 10_000, "lr_g": 1e-4, "lr_d": 3e-4, **TF_ADAM, "d_pretrain": 300, "d_pretrain_every": 2000,
             "update": "separate-d"},
            "results after 10,000 cumulative loops: five sessions of train_loop = 2000, each restoring the checkpoint and "
            "pre-training D for 300 loops first; D's real and fake losses have separate Adam optimisers (one sess.run, the "
            "same weights).", "faithful",
            (LOGITS, LOADER_55K,
             ("padding", "TF 'SAME' with stride 2 pads bottom/right only", "PyTorch pads both sides: same sizes, the grid shifted half a pixel"),
             ("bicubic resize", "tf.image.resize_images (bicubic, TF 1.x)", "torch bicubic interpolation; the kernels differ slightly at the borders"),
             ("checkpoint sessions", "five runs of the script, each restoring the last save", "one run that repeats D's pre-training every 2,000 steps"))),
    Variant("seed002-fc", "002 3.1/3.2", "fully connected 32-64-128 G and D with dropout 0.3",
            {"architecture": "seed002-fc", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "-1,1",
             "batch_size": 64, "steps": 200 * MNIST_TRAIN // 64, "beta1": 0.5, "beta2": 0.999, "update": "g-first"},
            "optimiser not shown for the FC GAN: we take the same report's PyTorch-GAN settings (Adam 2e-4, betas 0.5/0.999, "
            "batch 64, 200 epochs, G updated before D on the same fakes).", "completed",
            (("optimiser, batch, epochs", "not shown for the FC GAN", "the report's PyTorch-GAN settings: Adam 2e-4, betas 0.5/0.999, batch 64, 200 epochs"),
             ("update order", "not shown for the FC GAN", "PyTorch-GAN's: G, then D on the same fakes"),
             ("loss", "nn.BCELoss on a sigmoid", "the same on logits"))),
    Variant("seed002-dcgan", "002 3.3/3.4/6", "PyTorch-GAN DCGAN on 32x32 images (BatchNorm eps=0.8 quirk kept)",
            {"architecture": "seed002-dcgan", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "-1,1",
             "image_size": 32, "batch_size": 64, "steps": 200 * MNIST_TRAIN // 64, "beta1": 0.5, "beta2": 0.999,
             "update": "g-first"},
            "BCELoss on a sigmoid is computed on logits; G is updated before D on the same fakes, as in PyTorch-GAN; "
            "the report's several-D-steps experiment (5.6) is --set n_critic=K.", "faithful",
            (("loss", "nn.BCELoss on a sigmoid", "the same on logits"),
             ("D's loss", "halved: (real + fake) / 2", "not halved: Adam is invariant to the scale of the gradient"))),
    Variant("seed003-cgan", "003", "conditional fully connected GAN, one-hot labels concatenated",
            {"architecture": "seed003-cgan", "conditional": True, "loss": "ns", "z_dim": 100, "noise": "normal",
             "image_range": "-1,1", "batch_size": 150, "steps": 200 * MNIST_TRAIN // 150, "lr_g": 1e-3, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999},
            "200 epochs of the 60k training set (the report's TF loader held 55k); G is trained on random labels; the optimiser line "
            "is not shown: Adam with beta1=0.5 as in the TF cGAN code the report follows.", "completed",
            (LOADER_55K, LOGITS, ("optimiser", "the line is not shown", "Adam, beta1 0.5 / beta2 0.999, as in the TF cGAN code the report follows"))),
    Variant("seed003-cdcgan", "003", "conditional DCGAN, labels as extra input channels",
            {"architecture": "seed003-cdcgan", "conditional": True, "loss": "ns", "z_dim": 100, "noise": "normal",
             "image_range": "-1,1", "batch_size": 100, "steps": 20 * MNIST_TRAIN // 100, "beta1": 0.5, "beta2": 0.999},
            "architecture not given in 003: the common TF cDCGAN (z+one-hot deconvolved from 7x7; D sees ten label "
            "channels), Adam 2e-4/0.5, batch 100, 20 epochs.", "guessed",
            (("architecture", "not given (only ~80 s per epoch, fewer epochs than the CGAN)", "the common TF cDCGAN: z + one-hot deconvolved from 7x7, D sees ten label channels"),
             ("optimiser, batch, epochs", "not given", "Adam 2e-4 / 0.5, batch 100, 20 epochs"))),
    Variant("seed004-dcgan", "004", "two-conv D, three-deconv G; real images in [0,1] but G ends in tanh", _SEED004,
            "faithful mismatch kept: G can only match real pixels with its upper half. z is 100 as in the code "
            "(the text says 128); weight init assumed to be the TF tutorial's.", "completed",
            (LOGITS, NO_LOADER, ("z size", "100 in the code, 128 in the text", "100, as the code ran"),
             ("weight init", "not shown", "the TF DCGAN tutorial's"))),
    Variant("seed004-dcgan-fixed", "004", "004 with real images scaled to [-1,1] to match G's tanh",
            _SEED004 | {"image_range": "-1,1"}, "", "completed",
            (LOGITS, NO_LOADER, ("real images", "in [0, 1] while G ends in tanh", "scaled to [-1, 1]: the fix, on purpose"),
             ("z size", "100 in the code, 128 in the text", "100, as the code ran"), ("weight init", "not shown", "the TF DCGAN tutorial's"))),
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
    Variant("dcgan-radford", "Radford et al. 2016; 002 5.4/5.5", "the DCGAN recipe at 32x32: transposed convolutions, batch 128",
            {"architecture": "radford32", "loss": "ns", "z_dim": 100, "noise": "normal", "image_range": "-1,1", "image_size": 32,
             "batch_size": 128, "steps": 25 * MNIST_TRAIN // 128, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999},
            "002 5.4/5.5 lists the recipe (strided and transposed convolutions, BN but not on G's output or D's input, ReLU/tanh "
            "in G, leaky ReLU 0.2 in D, images in [-1, 1], batch 128, N(0, 0.02), Adam 2e-4 with beta1 0.5); the widths and the "
            "32x32 size follow the PyTorch DCGAN example; 25 epochs as that example.", "completed",
            (("image size", "64x64 in the paper", "32x32: MNIST resized, one stride-2 layer fewer"),
             ("widths", "4x4x1024 at the start of G (64x64)", "4x4x256 -> 128 -> 64, halved with the image side"),
             ("length", "not given for MNIST", "25 epochs, as the PyTorch DCGAN example"))),
    Variant("cgan", "Mirza & Osindero 2014; Miyato & Koyama 2018", "conditional reference DCGAN with a projection discriminator",
            _REFERENCE | {"loss": "ns", "conditional": True, "condition": "projection"}),
]
VARIANTS = {v.name: v for v in _VARIANTS}


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise BenchError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)} (see 'bench variants')")
    return VARIANTS[name]
