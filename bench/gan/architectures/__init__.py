"""G and D architectures, one module per family; ``ARCHITECTURES`` maps names to builders.

A builder takes a ``Shape`` (and the keyword options it supports: ``bn_g``, ``bn_d``,
``condition``) and returns ``(Generator, Discriminator)``. A plug-in builder, named
``"mypkg.models:build"``, has the same signature; its G is called as ``g(z, labels)``
and its D as ``d(images, labels)`` -> one logit per input.
"""

import functools
import inspect

import torch
from torch import nn

from bench.errors import BenchError
from bench.gan import plugins
from bench.gan.architectures import cdcgan, dcgan32, infogan, mlp, radford, seed001, seed004
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
    "radford32": radford.build,
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
    """G and D, built by the architecture's builder with the options it takes."""
    try:
        built = get(name)(shape, **{k: v for k, v in options.items() if k in options_of(name)})
    except Exception as e:
        raise BenchError(f"architecture {name!r} cannot be built for {_describe(shape)}: {type(e).__name__}: {plugins.first_line(e)}") from None
    if name not in ARCHITECTURES:
        _check_returned(name, built)
    return built


@functools.cache
def check(name: str, shape: Shape, options: tuple[tuple[str, object], ...] = ()) -> bool:
    """Build G and D once and pass a two-sample batch through them: one-line errors for a
    builder that fails, returns something else, or gives the wrong shapes (an image
    size the architecture does not support, a plug-in's bug). Whether D is a bench
    ``Discriminator`` (with ``features``) is returned."""
    with torch.random.fork_rng(devices=[]):  # a check must not move the seeded random stream
        g, d = build(name, shape, dict(options))
    n = 2 * shape.pack
    z = torch.zeros(n, shape.z_dim)
    labels = torch.zeros(n, dtype=torch.long) if shape.num_classes else None
    g.eval(), d.eval()
    try:
        with torch.no_grad():
            images = g(z, labels)
            expected = (n, shape.channels, shape.size, shape.size)
            if images.ndim == 4 and images.shape[:2] == expected[:2] and images.shape[2] == images.shape[3] != shape.size:
                side = images.shape[2]
                raise BenchError(f"architecture {name!r} makes {side}x{side} images, not image_size={shape.size}; set image_size={side}")
            if tuple(images.shape) != expected:
                raise BenchError(f"architecture {name!r}: the generator returned shape {tuple(images.shape)}, expected {expected} (N, channels, size, size)")
            packed = images.reshape(2, shape.pack * shape.channels, shape.size, shape.size)
            logits = d(packed, None if labels is None else labels[:2])
    except BenchError:
        raise
    except Exception as e:
        raise BenchError(f"architecture {name!r}: a forward pass on {_describe(shape)} failed: {type(e).__name__}: {plugins.first_line(e)}") from None
    if tuple(logits.shape) != (2,):
        raise BenchError(f"architecture {name!r}: the discriminator returned shape {tuple(logits.shape)}, expected (N,): one logit per input")
    return isinstance(d, Discriminator)


def _check_returned(name: str, built) -> None:
    if not (isinstance(built, tuple) and len(built) == 2 and all(isinstance(m, nn.Module) for m in built)):
        raise BenchError(f"architecture {name!r} returned {type(built).__name__}; it must return (generator, discriminator), two torch modules")


def _describe(shape: Shape) -> str:
    return f"{shape.size}x{shape.size} images (image_size={shape.size})"


__all__ = ["ARCHITECTURES", "Discriminator", "Generator", "Shape", "build", "get", "options_of"]
