"""Per-image least-squares alignment of a relative depth prediction to a target, in depth or disparity space.

Conventions: as :mod:`helpers.depth.metrics.masked` (shapes (N, 1, H, W), (N, H, W) or (H, W); the target is z-depth in
EG3D world units, 0 = no surface; the fit uses the valid pixels only). MiDaS / DPT predict *inverse relative depth*
(disparity up to an unknown scale and shift). ``space="disparity"`` fits ``s·pred + t`` to the target's disparity
1/z (1/world units) by least squares over the valid pixels, clamps the result to at least ``1/depth_cap`` and
inverts it (the MiDaS evaluation protocol); ``space="depth"`` fits ``s·pred + t`` to z directly (a relative *depth*
model, or a network in the original's [-1, 1] convention, whose output is affine in z with a negative scale).
``alignment="scale"`` fits s only (t = 0); ``"none"`` leaves the prediction as is (s = 1, t = 0). ``scale`` and
``shift`` are (N,) tensors in the space of the fit. Every fit is differentiable, with no NaN gradients in the
degenerate cases (constant prediction, empty mask).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import torch

from helpers.depth.metrics.masked import _check_same_shape, as_batch, valid_mask

__all__ = ["Alignment", "AlignmentResult", "Space", "align_prediction", "align_scale", "align_scale_shift"]

Alignment = Literal["none", "scale", "scale_shift"]
Space = Literal["depth", "disparity"]
#: The allowed values of :data:`Alignment` and :data:`Space`, for argument checks.
_ALIGNMENTS: tuple[str, ...] = get_args(Alignment)
_SPACES: tuple[str, ...] = get_args(Space)


def _check_literal(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


class AlignmentResult(NamedTuple):
    """``aligned = scale·pred + shift`` (same shape as ``pred``) and the per-image (N,) ``scale`` and ``shift``."""

    aligned: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor


def _broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N,) → shape broadcastable against ``like`` ((N, 1, H, W), (N, H, W) or (H, W))."""
    if like.ndim == 2:
        return values[0]
    return values.view(-1, *([1] * (like.ndim - 1)))


def _fit_inputs(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
    _check_same_shape(pred, target)
    p, g, m = as_batch(pred, "pred"), as_batch(target, "target"), as_batch(mask, "mask").bool()
    if m.shape != p.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match prediction shape {tuple(pred.shape)}")
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    # where() rather than multiplication: NaN/inf off the mask must not leak into the sums.
    return torch.where(m, p, zero), torch.where(m, g.to(p.dtype), zero), m


def align_scale_shift(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> AlignmentResult:
    """Per image, the least-squares ``s, t`` minimising Σ_mask (s·pred + t − target)².

    Solved in centred form (s = cov(p, g) / var(p), t = ḡ − s·p̄) for accuracy. A prediction that is constant on
    the mask gives s = 0, t = mean target (its best fit); an empty mask gives s = t = 0. Differentiable; no
    NaN gradients in the degenerate cases. Works in whatever space the inputs are (depth or disparity).
    """
    p, g, m = _fit_inputs(pred, target, mask)
    count = m.sum(dim=(1, 2)).to(p.dtype)
    n = count.clamp(min=1)
    p_mean, g_mean = p.sum(dim=(1, 2)) / n, g.sum(dim=(1, 2)) / n
    zero = torch.zeros((), dtype=p.dtype, device=p.device)
    dp = torch.where(m, p - p_mean[:, None, None], zero)
    dg = torch.where(m, g - g_mean[:, None, None], zero)
    var, cov = (dp * dp).sum(dim=(1, 2)), (dp * dg).sum(dim=(1, 2))
    # Rounding leaves var ≈ n·(eps·|p|)² for a constant prediction: treat that as zero.
    magnitude = p.abs().flatten(1).amax(dim=1).detach()
    ok = var.detach() > count * (8 * torch.finfo(p.dtype).eps * magnitude) ** 2
    scale = torch.where(ok, cov / torch.where(ok, var, torch.ones_like(var)), torch.zeros_like(var))
    shift = g_mean - scale * p_mean
    return AlignmentResult(_broadcast(scale, pred) * pred + _broadcast(shift, pred), scale, shift)


def align_scale(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> AlignmentResult:
    """Per image, the least-squares ``s`` minimising Σ_mask (s·pred − target)²: s = Σpg / Σp² (shift 0).

    A prediction that is zero on the mask (or an empty mask) gives s = 0. Differentiable.
    """
    p, g, _ = _fit_inputs(pred, target, mask)
    pp, pg = (p * p).sum(dim=(1, 2)), (p * g).sum(dim=(1, 2))
    ok = pp.detach() > 0
    scale = torch.where(ok, pg / torch.where(ok, pp, torch.ones_like(pp)), torch.zeros_like(pp))
    return AlignmentResult(_broadcast(scale, pred) * pred, scale, torch.zeros_like(scale))


def _no_alignment(pred: torch.Tensor) -> AlignmentResult:
    n = as_batch(pred, "pred").shape[0]
    ones = torch.ones(n, dtype=pred.dtype, device=pred.device)
    return AlignmentResult(pred, ones, torch.zeros_like(ones))


def align_prediction(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    alignment: Alignment = "scale_shift",
    space: Space = "depth",
    depth_cap: float = 10.0,
) -> AlignmentResult:
    """Map a prediction to z-depth aligned with ``target`` (z-depth) over the valid pixels.

    ``space="depth"``: ``pred`` is a (relative) depth; the fit is ``s·pred + t ≈ z`` and ``aligned`` is the
    fitted depth (it may be ≤ 0 where the fit extrapolates). ``space="disparity"``: ``pred`` is an inverse
    depth (MiDaS / DPT output); the fit is ``s·pred + t ≈ 1/z``, the fitted disparity is clamped to at least
    ``1/depth_cap`` (world units; EG3D faces lie below 3.4, so the default cap of 10 only stops division by
    ≤ 0) and ``aligned = 1 / disparity``. ``scale``/``shift`` are those of the fit, in its own space.
    """
    _check_literal("alignment", alignment, _ALIGNMENTS)
    _check_literal("space", space, _SPACES)
    if not depth_cap > 0:
        raise ValueError(f"depth_cap must be > 0 world units, got {depth_cap}")
    _check_same_shape(pred, target)
    valid = valid_mask(target, mask).view(pred.shape)
    goal = target.to(pred.dtype)
    if space == "disparity":
        goal = torch.where(valid, 1.0 / torch.where(valid, goal, torch.ones_like(goal)), torch.zeros_like(goal))
    if alignment == "none":
        fit = _no_alignment(pred)
    elif alignment == "scale":
        fit = align_scale(pred, goal, valid)
    else:
        fit = align_scale_shift(pred, goal, valid)
    if space == "depth":
        return fit
    return AlignmentResult(1.0 / fit.aligned.clamp(min=1.0 / depth_cap), fit.scale, fit.shift)
