"""The template GAN's layers rewritten to run each population member exactly as alone.

Under ``vmap`` some layers compute the same function as solo but round differently, or
cannot be batched at all; ``Population`` calls ``per_member(template)`` once, and these
rewrites take their place in the template only (solo GANs are never touched):

- linear layers: vmap's rule adds the bias after the matmul, solo's addmm inside it;
- dropout: its masks must come from each member's own stream (``draws``);
- spectral norm: its power iteration writes with ``out=``, which vmap cannot batch, and
  batched ``mv``/``vdot`` round differently from solo's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import _SpectralNorm

from bench.gan import draws


def per_member(module: nn.Module) -> None:
    """Rewrite ``module``'s layers (a population's template) as described above."""
    _use_member_linear(module)
    _use_member_dropout(module)
    _use_member_spectral_norm(module)


# -- a linear layer whose stacked form rounds as the solo one does -----------------------------
# vmap's rule for F.linear adds the bias after a batched matmul, where solo's addmm adds it
# inside the GEMM: a rounding apart, which Adam amplifies over steps. This function's vmap
# rule is baddbmm, the batched addmm: bit for bit the solo forward (and its gradients) on one
# thread (measured on this CPU build; D's one-output head keeps solo's kernel, one call per
# member). An autograd.Function, not a custom op: those do not run under torch.func.grad,
# which gradient penalties and unrolled GANs call inside the stacked step.
class MemberLinear(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])

    @staticmethod
    def backward(ctx, grad):  # differentiable ops: penalties differentiate it again
        x, weight = ctx.saved_tensors
        return grad @ weight, grad.t() @ x, grad.sum(0)

    @staticmethod
    def vmap(info, in_dims, x, weight, bias):
        x, weight, bias = _member_first(info, in_dims, x, weight, bias)
        if weight.shape[1] == 1:  # one output (D's head): solo's addmm takes a matrix-vector path that baddbmm does not
            return torch.stack([torch.addmm(b, xk, w.t()) for xk, w, b in zip(x, weight, bias)]), 0
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2)), 0


def _use_member_dropout(module: nn.Module) -> None:
    """The template's dropout layers draw their masks through ``draws``: each member's own."""
    for layer in module.modules():
        if type(layer) in (nn.Dropout, nn.Dropout2d):
            feature = type(layer) is nn.Dropout2d
            layer.forward = lambda x, layer=layer, feature=feature: draws.dropout(x, layer.p, feature) if layer.training else x


def _use_member_spectral_norm(module: nn.Module) -> None:
    """Spectral norm as torch computes it, with its matrix-vector products made member by
    member: vmap cannot batch the power iteration's ``out=`` writes, and its batched
    ``mv``/``vdot`` round differently from solo's."""
    for layer in module.modules():
        if isinstance(layer, _SpectralNorm):
            layer.forward = lambda weight, layer=layer: _spectral_norm(layer, weight)


def _spectral_norm(layer: _SpectralNorm, weight: Tensor) -> Tensor:
    """``_SpectralNorm.forward`` for 2-D and larger weights."""
    weight_mat = layer._reshape_weight_to_matrix(weight)
    if layer.training:
        with torch.no_grad():
            for _ in range(layer.n_power_iterations):
                u, v = _PowerIteration.apply(weight_mat, layer._v, layer.eps)
                layer._u.copy_(u)
                layer._v.copy_(v)
    return weight / _Sigma.apply(weight_mat, layer._u.clone(), layer._v.clone())


def _member_first(info, in_dims, *tensors) -> list[Tensor]:
    """A vmap rule's inputs with the member axis first (those without one repeated)."""
    return [t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape) for t, d in zip(tensors, in_dims)]


def _per_member(info, in_dims, *tensors):
    return zip(*_member_first(info, in_dims, *tensors))


class _PowerIteration(torch.autograd.Function):
    """One step of spectral norm's power iteration (no gradient), per member under vmap."""

    @staticmethod
    def forward(weight_mat: Tensor, v: Tensor, eps: float) -> tuple[Tensor, Tensor]:
        u = F.normalize(torch.mv(weight_mat, v), dim=0, eps=eps)
        return u, F.normalize(torch.mv(weight_mat.H, u), dim=0, eps=eps)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def vmap(info, in_dims, weight_mat, v, eps):
        u, v = zip(*(_PowerIteration.forward(w, vk, eps) for w, vk in _per_member(info, in_dims[:2], weight_mat, v)))
        return (torch.stack(u), torch.stack(v)), (0, 0)


class _Sigma(torch.autograd.Function):
    """u . (W v) with u and v constants, per member under vmap; its gradient is solo
    autograd's, (grad * u) outer v."""

    @staticmethod
    def forward(weight_mat: Tensor, u: Tensor, v: Tensor) -> Tensor:
        return torch.vdot(u, torch.mv(weight_mat, v))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[1], inputs[2])

    @staticmethod
    def backward(ctx, grad):
        u, v = ctx.saved_tensors
        return torch.outer(grad * u, v), None, None

    @staticmethod
    def vmap(info, in_dims, weight_mat, u, v):
        return torch.stack([_Sigma.forward(*member) for member in _per_member(info, in_dims, weight_mat, u, v)]), 0


def _use_member_linear(module: nn.Module) -> None:
    """The template's 2-D linear layers (with bias) through ``MemberLinear``."""
    for layer in module.modules():
        if type(layer) is nn.Linear and layer.bias is not None:
            plain = layer.forward
            layer.forward = lambda x, layer=layer, plain=plain: MemberLinear.apply(x, layer.weight, layer.bias) if x.dim() == 2 else plain(x)
