"""G and D architectures, one module per family; ``ARCHITECTURES`` maps names to builders.

A builder takes a ``Shape`` (and keyword options such as batch norm on/off) and
returns ``(Generator, Discriminator)``.
"""

from bench.gan.architectures import cdcgan, dcgan32, infogan, mlp, seed001, seed004
from bench.gan.architectures.base import Discriminator, Generator, Shape

ARCHITECTURES = {
    "seed000-fc": mlp.seed000_fc,
    "seed000-cnnd": mlp.seed000_cnn_d,
    "seed001-dcgan": seed001.build,
    "seed002-fc": mlp.seed002_fc,
    "seed002-dcgan": dcgan32.build,
    "seed003-cgan": mlp.seed003_cgan,
    "seed003-cdcgan": cdcgan.build,
    "seed004-dcgan": seed004.build,
    "infogan": infogan.build,
}

__all__ = ["ARCHITECTURES", "Discriminator", "Generator", "Shape"]
