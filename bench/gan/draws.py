"""The random draws a train step makes, and the same draws member by member in a population.

A solo run draws from torch's global stream. A population member must draw exactly
what its solo run would, from its own stream, although the stacked step runs under
``vmap``, whose own ``randomness="different"`` draws every member from one shared
stream. So the step's draws go through these functions: alone they are the plain torch
calls (``torch.randn``, ``torch.rand``, dropout's ``bernoulli_``), and under
``member_streams(generators)`` they are custom ops whose vmap rule makes the same call
once per member with that member's generator, in the step's program order. Each takes a
``like`` tensor: the device and dtype to draw for and, under vmap, the member axis.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

_streams: list[torch.Generator] | None = None


@contextmanager
def member_streams(generators: list[torch.Generator]) -> Iterator[None]:
    """Draws inside this block, under vmap, come from ``generators[k]`` for member k."""
    global _streams
    outer, _streams = _streams, generators
    try:
        yield
    finally:
        _streams = outer


def normal(shape: Sequence[int], like: Tensor) -> Tensor:
    """``torch.randn(shape)`` with ``like``'s device and dtype."""
    if _streams is None:
        return torch.randn(shape, dtype=like.dtype, device=like.device)
    return _member_draw(like.detach(), list(shape), "normal", 0.0)


def uniform(shape: Sequence[int], like: Tensor) -> Tensor:
    """``torch.rand(shape)`` with ``like``'s device and dtype."""
    if _streams is None:
        return torch.rand(shape, dtype=like.dtype, device=like.device)
    return _member_draw(like.detach(), list(shape), "uniform", 0.0)


def normal_like(x: Tensor) -> Tensor:
    """``torch.randn_like(x)`` (x's strides too, alone)."""
    return torch.randn_like(x) if _streams is None else _member_draw(x.detach(), list(x.shape), "normal", 0.0)


def uniform_like(x: Tensor) -> Tensor:
    """``torch.rand_like(x)`` (x's strides too, alone)."""
    return torch.rand_like(x) if _streams is None else _member_draw(x.detach(), list(x.shape), "uniform", 0.0)


def dropout(x: Tensor, p: float, feature: bool = False) -> Tensor:
    """``F.dropout`` (``F.dropout2d`` with ``feature``) in training mode, drawn as torch's
    CPU kernel draws it: a Bernoulli(1 - p) mask, scaled by 1 / (1 - p)."""
    if _streams is None:
        return (F.dropout2d if feature else F.dropout)(x, p, training=True)
    shape = [*x.shape[:2], *[1] * (x.dim() - 2)] if feature else list(x.shape)
    return x * _member_draw(x.detach(), shape, "bernoulli", 1 - p).div_(1 - p)


def _draw(kind: str, shape: list[int], like: Tensor, p: float, generator: torch.Generator) -> Tensor:
    if kind == "normal":
        return torch.randn(shape, dtype=like.dtype, device=like.device, generator=generator)
    if kind == "uniform":
        return torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    return torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(p, generator=generator)


@torch.library.custom_op("bench::member_draw", mutates_args=())
def _member_draw(like: Tensor, shape: list[int], kind: str, p: float) -> Tensor:
    raise RuntimeError("a member's draw outside the population's vmap would come from the shared stream")


@_member_draw.register_fake
def _(like, shape, kind, p):
    return like.new_empty(shape)


def _member_rule(info, in_dims, like, shape, kind, p):
    if in_dims[0] is None or info.batch_size != len(_streams):
        raise RuntimeError(f"a member's draw needs a like tensor with the member axis ({len(_streams)} members)")
    # vmap's randomness check sits on a dispatch key that stays on inside a vmap rule;
    # these draws are per member by construction, so they step past it
    with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.FuncTorchVmapMode)):
        return torch.stack([_draw(kind, shape, like, p, generator) for generator in _streams]), 0


_member_draw.register_vmap(_member_rule)
