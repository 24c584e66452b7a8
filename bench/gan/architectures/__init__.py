"""G and D architectures, one module per family; ``ARCHITECTURES`` maps names to builders.

A builder takes a ``Shape`` (and the keyword options it supports: ``bn_g``, ``bn_d``,
``condition``) and returns ``(Generator, Discriminator)``. A plug-in builder, named
``"mypkg.models:build"``, has the same signature; its G is called as ``g(z, labels)``
and its D as ``d(images, labels)`` -> one logit per input.
"""

import inspect

import torch
from torch import nn

from bench.errors import BenchError
from bench.gan import plugins
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
OPTIONS = ("bn_g", "bn_d", "condition")  # settings passed to builders that accept them


def get(name: str):
    """The builder of a registered architecture or of a plug-in ``module:function``."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    if not plugins.is_reference(name):
        raise BenchError(f"unknown architecture {name!r}; valid: {', '.join(ARCHITECTURES)}, or a plug-in 'module:function'")
    builder = plugins.load(name, "architecture")
    if not callable(builder):
        raise BenchError(f"architecture {name!r} is not callable; it should be a function (shape) -> (generator, discriminator)")
    return builder


def options_of(name: str) -> set[str]:
    """The settings among ``OPTIONS`` that the builder takes."""
    try:
        parameters = inspect.signature(get(name)).parameters
    except (TypeError, ValueError):
        return set()
    return {option for option in OPTIONS if option in parameters}


def build(name: str, shape: Shape, options: dict) -> tuple[nn.Module, nn.Module]:
    """G and D; a plug-in's are checked on a two-sample batch (one-line errors)."""
    builder = get(name)
    try:
        built = builder(shape, **{k: v for k, v in options.items() if k in options_of(name)})
    except Exception as e:
        raise BenchError(f"architecture {name!r} failed to build for {shape}: {type(e).__name__}: {plugins.first_line(e)}") from None
    if name not in ARCHITECTURES:
        _check(name, built, shape)
    return built


def _check(name: str, built, shape: Shape) -> None:
    if not (isinstance(built, tuple) and len(built) == 2 and all(isinstance(m, nn.Module) for m in built)):
        raise BenchError(f"architecture {name!r} returned {type(built).__name__}; it must return (generator, discriminator), two torch modules")
    g, d = built
    n = 2 * shape.pack
    z = torch.zeros(n, shape.z_dim)  # zeros, not random: a check must not move the seeded random stream
    labels = torch.zeros(n, dtype=torch.long) if shape.num_classes else None
    modes = g.training, d.training
    g.eval(), d.eval()  # no batch-norm statistics are updated by the check
    try:
        with torch.no_grad():
            images = g(z, labels)
            expected = (n, shape.channels, shape.size, shape.size)
            if tuple(images.shape) != expected:
                raise BenchError(f"architecture {name!r}: the generator returned shape {tuple(images.shape)}, expected {expected} (N, channels, size, size)")
            packed = images.reshape(2, shape.pack * shape.channels, shape.size, shape.size)
            logits = d(packed, None if labels is None else labels[:2])
    except BenchError:
        raise
    except Exception as e:
        raise BenchError(f"architecture {name!r}: a forward pass on {shape} failed: {type(e).__name__}: {plugins.first_line(e)}") from None
    finally:
        g.train(modes[0]), d.train(modes[1])
    if tuple(logits.shape) != (2,):
        raise BenchError(f"architecture {name!r}: the discriminator returned shape {tuple(logits.shape)}, expected (N,): one logit per input")


__all__ = ["ARCHITECTURES", "Discriminator", "Generator", "Shape", "build", "get", "options_of"]
