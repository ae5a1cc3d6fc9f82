"""Depth accuracy on a foreground mask: alignment, standard metrics, the original project's L1 and "perfects".

Conventions
-----------
- **Depth maps** are camera-space z-depth in EG3D world units (faces lie at about 2.2–3.4), torch tensors of
  shape (N, 1, H, W) or (N, H, W); a single (H, W) map counts as N = 1.
- **Masks** are bool tensors of the same spatial shape. A pixel is *valid* (scored) when the mask is true and the
  target depth is finite and > 0 (depth 0 = no surface). ``mask=None`` means "every pixel with a target surface".
- Every metric is computed **per image** over its valid pixels and returned as an (N,) float64 tensor on the
  input's device (pure torch, batched, CPU or GPU). Dataset figures are means of the per-image values
  (:class:`MetricsTable`), as in Eigen et al. and Unsup3D.

Metrics (keys of :func:`compute_depth_metrics`)
-----------------------------------------------
p = prediction (aligned z-depth), g = target z-depth, d = log p − log g, means over the valid pixels.

- ``abs_rel`` mean |p−g|/g; ``sq_rel`` mean (p−g)²/g (world units); ``mae`` mean |p−g| (world units);
  ``rmse`` sqrt(mean (p−g)²) (world units); ``rmse_log`` sqrt(mean d²).
- ``silog`` 100·sqrt(mean(d²) − mean(d)²) (KITTI / Eigen); ``side`` the same without the ×100, Unsup3D's
  scale-invariant depth error (it reports it ×10⁻²).
- ``delta1``, ``delta2``, ``delta3``: fraction of pixels with max(p/g, g/p) < 1.25, 1.25², 1.25³.
- ``normal_mean_deg``, ``normal_median_deg``: angle between the surface normals of p and g in degrees (only
  with intrinsics); the mean is Unsup3D's "mean angle deviation" (see :func:`normal_angle_error`).
- ``original_l1``, ``original_l1_masked``, ``original_perfect``: the original project's measure (below).
- ``scale``, ``shift``: the alignment applied; ``n_pixels``: valid pixel count; ``valid``: sample scored.

The original project's measure
------------------------------
Found in the original notebooks (``colab_notebooks/unet_depthmap_training.ipynb``, evaluation cell "Evaluate
model" with ``perfect``; the training/validation loops of both notebooks use the same L1):

- the ground truth is its 8-bit depth PNG (per-image min–max normalised when written, bright = near) read as
  ``x / 255`` and mapped with a fixed ``2·x − 1`` (MiDaS ``NormalizeImage(mean=0.5, std=0.5)``), so it lies in
  [-1, 1] with 1 = nearest and the background at the far end;
- the network output is compared **as is** (the network regresses that [-1, 1] map directly; its
  re-normalisation calls are commented out);
- L1 = ``nn.L1Loss(reduction='mean')``: the mean absolute difference over **all** H·W pixels of the image (no mask);
  the reported figure is the mean of the per-image L1 over the evaluated images;
- a sample is a "perfect" when its L1 is **strictly below 0.08**; the notebook prints the count ("Perfects: k
  Out of: n"). (A ``< 0.18`` test in its ``validate`` function has no effect.)

Here the target is metric z-depth, so :func:`original_normalize` rebuilds that [-1, 1] map: min–max over the
valid pixels of −z (nearest = 1, farthest = −1) and −1 where there is no surface, exactly what
:func:`helpers.depth_png.encode_legacy_depth_png` writes and the original read back (``quantize=True`` adds its
8-bit rounding). The prediction is either normalised the same way over the same pixels (``original_pred=
"normalize"``, for any depth model) or taken as is (``"raw"``, for a network trained in the original's convention,
as the original did). ``original_l1`` is over the whole image (faithful), ``original_l1_masked`` over the valid
pixels only. Data that only exists in the original 8-bit format (Prosopo, the published set) has no metric
depth: call :func:`original_l1` and :func:`original_perfects` directly on
:func:`helpers.depth_png.read_legacy_depth_png` maps.

Alignment of relative predictions
---------------------------------
MiDaS / DPT predict *inverse relative depth* (disparity up to an unknown scale and shift). ``space="disparity"``
fits ``s·pred + t`` to the target's disparity 1/z by least squares over the valid pixels, clamps the result to at
least ``1/depth_cap`` and inverts it (the MiDaS evaluation protocol); ``space="depth"`` fits ``s·pred + t`` to z
directly (a relative *depth* model, or a network in the original's [-1, 1] convention, whose output is affine in z
with a negative scale). ``alignment="scale"`` fits s only (t = 0).

Degenerate samples
------------------
A sample is *degenerate* when no metric can be defined for it: its valid mask is empty; its (aligned) predicted
depth is NaN/inf or ≤ 0 on a valid pixel (AbsRel, log and δ metrics need positive depth; this happens with
depth-space alignment, disparity-space alignment never produces it); or normals are requested and no valid
pixel has its whole 3×3 neighbourhood valid. With ``on_degenerate="raise"`` (default) :func:`compute_depth_metrics`
raises a ValueError naming each such sample and why. With ``"skip"`` it returns NaN for every metric of those
samples and ``valid = False``; :class:`MetricsTable` leaves them out of every mean (all columns are averaged over
the same samples) and reports how many were skipped, so its tables are NaN-free. A constant target or
prediction is not degenerate: the original normalisation then maps every valid pixel to 1, and a constant
prediction aligns to the target's mean (scale 0).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from ..atomic import write_text_atomic

Alignment = Literal["none", "scale", "scale_shift"]
Space = Literal["depth", "disparity"]

#: The original project's "perfect" threshold on the per-image L1 (strict ``<``).
ORIGINAL_PERFECT_THRESHOLD = 0.08
#: δ accuracy thresholds.
DELTA_BASE = 1.25

#: Per-image keys of :func:`compute_depth_metrics` with a one-line meaning and which direction is better.
METRIC_INFO: dict[str, tuple[str, str]] = {
    "abs_rel": ("mean |p−g|/g", "↓"),
    "sq_rel": ("mean (p−g)²/g, world units", "↓"),
    "mae": ("mean |p−g|, world units", "↓"),
    "rmse": ("sqrt mean (p−g)², world units", "↓"),
    "rmse_log": ("sqrt mean (log p − log g)²", "↓"),
    "silog": ("100·sqrt(mean d² − (mean d)²), d = log p − log g", "↓"),
    "side": ("Unsup3D scale-invariant depth error (silog / 100)", "↓"),
    "delta1": ("fraction max(p/g, g/p) < 1.25", "↑"),
    "delta2": ("fraction max(p/g, g/p) < 1.25²", "↑"),
    "delta3": ("fraction max(p/g, g/p) < 1.25³", "↑"),
    "normal_mean_deg": ("mean normal angle error, degrees (Unsup3D MAD)", "↓"),
    "normal_median_deg": ("median normal angle error, degrees", "↓"),
    "original_l1": ("original L1 on [-1, 1] depth, whole image", "↓"),
    "original_l1_masked": ("original L1 on [-1, 1] depth, valid pixels", "↓"),
    "original_perfect": ("fraction of samples with original L1 < threshold (0.08)", "↑"),
    "scale": ("alignment scale", ""),
    "shift": ("alignment shift", ""),
    "n_pixels": ("valid pixels per sample", ""),
}
#: Per-image 0/1 keys whose count (not only their mean) :class:`MetricsTable` reports.
COUNT_KEYS = ("original_perfect",)
#: Bookkeeping keys left out of comparison tables by default.
_BOOKKEEPING = ("scale", "shift", "n_pixels")


# --------------------------------------------------------------------------------------------
# Shapes and masked reductions
# --------------------------------------------------------------------------------------------


def as_batch(x: torch.Tensor, name: str = "depth") -> torch.Tensor:
    """(N, 1, H, W), (N, H, W) or (H, W) → an (N, H, W) view."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        return x[None]
    raise ValueError(f"{name} must have shape (N, 1, H, W), (N, H, W) or (H, W), got {tuple(x.shape)}")


def valid_mask(target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N, H, W) bool: ``mask`` and a finite target depth > 0 (0 = no surface)."""
    g = as_batch(target, "target")
    valid = torch.isfinite(g) & (g > 0)
    if mask is not None:
        m = as_batch(mask, "mask")
        if m.shape != g.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match target shape {tuple(target.shape)}")
        valid = valid & m.bool()
    return valid


def _check_same_shape(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) mean of (N, H, W) ``x`` over ``mask``; 0 for an empty mask. NaN/inf off the mask are ignored."""
    count = mask.sum(dim=(1, 2))
    total = torch.where(mask, x, torch.zeros_like(x)).sum(dim=(1, 2))
    return total / count.clamp(min=1).to(x.dtype)


def masked_median(x: torch.Tensor, mask: torch.Tensor, empty: float = math.nan) -> torch.Tensor:
    """(N,) median of (N, H, W) ``x`` over ``mask`` (mean of the two middle values for an even count).

    Differentiable (through the sort); ``empty`` is returned for an empty mask.
    """
    flat = torch.where(mask, x, torch.full_like(x, math.inf)).flatten(1)
    count = mask.flatten(1).sum(dim=1)
    ordered, _ = flat.sort(dim=1)
    low = ((count - 1).clamp(min=0) // 2)[:, None]
    high = (count // 2).clamp(max=flat.shape[1] - 1)[:, None]
    median = 0.5 * (ordered.gather(1, low) + ordered.gather(1, high))[:, 0]
    return torch.where(count > 0, median, torch.full_like(median, empty))


def _masked_extreme(x: torch.Tensor, mask: torch.Tensor, largest: bool) -> torch.Tensor:
    fill = -math.inf if largest else math.inf
    filled = torch.where(mask, x, torch.full_like(x, fill)).flatten(1)
    return filled.amax(dim=1) if largest else filled.amin(dim=1)


# --------------------------------------------------------------------------------------------
# Least-squares alignment
# --------------------------------------------------------------------------------------------


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
    _check_literal("alignment", alignment, ("none", "scale", "scale_shift"))
    _check_literal("space", space, ("depth", "disparity"))
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


# --------------------------------------------------------------------------------------------
# The original project's measure
# --------------------------------------------------------------------------------------------


def original_normalize(depth: torch.Tensor, mask: torch.Tensor, *, quantize: bool = False) -> torch.Tensor:
    """z-depth → the original's per-image [-1, 1] depth map: 1 = nearest, −1 = farthest and no surface.

    Per image, ``2·(max − z)/(max − min) − 1`` with min/max over the ``mask`` pixels (finite values only); pixels
    off the mask get −1 (the 8-bit format stores them as 0, as far as the farthest surface). A constant depth
    maps to 1 on the mask. ``quantize=True`` rounds to the 256 levels of the 8-bit PNG (``rint``, as
    :func:`helpers.depth_png.encode_legacy_depth_png`) and reads them back with the original's fixed
    ``2·x/255 − 1``. Same shape and dtype as ``depth``; no gradient is needed through it (targets).
    """
    d, m = as_batch(depth), as_batch(mask, "mask").bool()
    if m.shape != d.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match depth shape {tuple(depth.shape)}")
    m = m & torch.isfinite(d)
    low = _masked_extreme(d, m, largest=False)[:, None, None]
    high = _masked_extreme(d, m, largest=True)[:, None, None]
    span = high - low
    flat = ~(span > 0)  # constant depth or empty mask
    normalized = 2 * (high - d) / torch.where(flat, torch.ones_like(span), span) - 1
    normalized = torch.where(flat, torch.ones_like(normalized), normalized)
    if quantize:
        normalized = 2 * torch.round((normalized + 1) / 2 * 255) / 255 - 1
    out = torch.where(m, normalized, -torch.ones_like(normalized))
    return out.view(depth.shape)


def original_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) the original's L1: mean |pred − target| per image, both in its [-1, 1] convention.

    ``mask=None`` averages over all H·W pixels, as the original's ``nn.L1Loss(reduction='mean')`` did; with a
    mask, over the mask pixels only (NaN for an empty mask).
    """
    _check_same_shape(pred, target)
    p, g = as_batch(pred, "pred"), as_batch(target, "target").to(pred.dtype)
    error = (p - g).abs()
    if mask is None:
        return error.mean(dim=(1, 2))
    m = as_batch(mask, "mask").bool()
    count = m.sum(dim=(1, 2))
    return torch.where(count > 0, masked_mean(error, m), torch.full_like(error[:, 0, 0], math.nan))


def original_perfects(l1: torch.Tensor, threshold: float = ORIGINAL_PERFECT_THRESHOLD) -> torch.Tensor:
    """(N,) bool: the original's "perfect" samples, per-image L1 strictly below ``threshold`` (0.08)."""
    return l1 < threshold


# --------------------------------------------------------------------------------------------
# Depth error metrics
# --------------------------------------------------------------------------------------------


def depth_error_metrics(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """(N,) AbsRel, SqRel, MAE, RMSE, RMSE-log, SIlog, SIDE and δ1–3 of z-depth over ``mask`` per image.

    ``pred`` and ``target`` must be > 0 on the mask (log/ratio metrics); other pixels are ignored, whatever
    they hold. Metric definitions in the module docstring. Use :func:`compute_depth_metrics` for alignment and
    the handling of degenerate samples; here an empty mask gives 0 and non-positive depth NaN.
    """
    _check_same_shape(pred, target)
    p, g = as_batch(pred, "pred"), as_batch(target, "target").to(pred.dtype)
    m = as_batch(mask, "mask").bool()
    one = torch.ones((), dtype=p.dtype, device=p.device)
    p, g = torch.where(m, p, one), torch.where(m, g, one)  # harmless values off the mask
    diff = p - g
    log_diff = torch.log(p) - torch.log(g)
    ratio = torch.maximum(p / g, g / p)
    mean_log, mean_log_sq = masked_mean(log_diff, m), masked_mean(log_diff**2, m)
    scale_invariant = (mean_log_sq - mean_log**2).clamp(min=0).sqrt()
    out = {
        "abs_rel": masked_mean(diff.abs() / g, m),
        "sq_rel": masked_mean(diff**2 / g, m),
        "mae": masked_mean(diff.abs(), m),
        "rmse": masked_mean(diff**2, m).sqrt(),
        "rmse_log": mean_log_sq.sqrt(),
        "silog": 100 * scale_invariant,
        "side": scale_invariant,
    }
    for k in (1, 2, 3):
        out[f"delta{k}"] = masked_mean((ratio < DELTA_BASE**k).to(p.dtype), m)
    return out


# --------------------------------------------------------------------------------------------
# Surface normals
# --------------------------------------------------------------------------------------------


def _intrinsics_batch(intrinsics: object, n: int, like: torch.Tensor) -> torch.Tensor:
    k = torch.as_tensor(intrinsics, dtype=like.dtype, device=like.device)
    if k.shape == (3, 3):
        k = k[None]
    if k.ndim != 3 or k.shape[1:] != (3, 3) or k.shape[0] not in (1, n):
        raise ValueError(f"intrinsics must be (3, 3) or ({n}, 3, 3) normalised matrices, got {tuple(k.shape)}")
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=k.dtype, device=k.device)
    if not torch.allclose(k[:, 2], bottom.expand_as(k[:, 2])):
        raise ValueError("intrinsics must have the last row [0, 0, 1] (normalised pinhole K)")
    return k


def depth_to_points(depth: torch.Tensor, intrinsics: object) -> torch.Tensor:
    """(N, H, W, 3) camera-frame points ``z · K⁻¹ [u, v, 1]`` from z-depth.

    ``intrinsics``: normalised K, (3, 3) or (N, 3, 3) (EG3D: ``[[f, 0, 0.5], [0, f, 0.5], [0, 0, 1]]``); pixel
    (i, j) has its centre at ``u = (j + 0.5)/W, v = (i + 0.5)/H`` (as :func:`helpers.cameras.pixel_directions`).
    """
    d = as_batch(depth)
    n, h, w = d.shape
    k = _intrinsics_batch(intrinsics, n, d)
    u = (torch.arange(w, dtype=d.dtype, device=d.device) + 0.5) / w
    v = (torch.arange(h, dtype=d.dtype, device=d.device) + 0.5) / h
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    pixels = torch.stack([uu, vv, torch.ones_like(uu)], dim=-1)  # (H, W, 3)
    rays = torch.einsum("hwc,nrc->nhwr", pixels, torch.linalg.inv(k))  # (N or 1, H, W, 3), z component 1
    return d[..., None] * rays


def depth_normals(depth: torch.Tensor, intrinsics: object) -> torch.Tensor:
    """(N, H, W, 3) unit surface normals of a z-depth map, zero on the one-pixel border.

    Central differences of the back-projected points, as Unsup3D: ``n = (P[i, j+1] − P[i, j−1]) × (P[i+1, j] −
    P[i−1, j])``, normalised (zero where degenerate). For a surface facing the camera the normal points away from
    it (+z); only angles between two such maps are used, so the orientation only has to be consistent.
    """
    points = depth_to_points(depth, intrinsics)
    tangent_u = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]
    tangent_v = points[:, 2:, 1:-1] - points[:, :-2, 1:-1]
    normal = torch.linalg.cross(tangent_u, tangent_v, dim=-1)
    length = normal.norm(dim=-1, keepdim=True)
    normal = torch.where(length > 0, normal / torch.where(length > 0, length, torch.ones_like(length)), normal)
    return F.pad(normal.permute(0, 3, 1, 2), (1, 1, 1, 1)).permute(0, 2, 3, 1)


def normal_mask(valid: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool: valid pixels whose whole 3×3 neighbourhood is valid (so never the image border).

    Unsup3D erodes its mask the same way before its normal error.
    """
    m = as_batch(valid, "mask").bool()
    neighbours = F.avg_pool2d(m[:, None].float(), 3, stride=1, padding=1, count_include_pad=True)[:, 0] * 9
    return m & (neighbours > 8.5)


def angle_between(n1: torch.Tensor, n2: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between vectors along the last axis; atan2(|a×b|, a·b) is exact near 0°."""
    cross = torch.linalg.cross(n1, n2, dim=-1).norm(dim=-1)
    return torch.rad2deg(torch.atan2(cross, (n1 * n2).sum(dim=-1)))


def normal_angle_error(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, intrinsics: object
) -> dict[str, torch.Tensor]:
    """(N,) mean and median angle (degrees) between the normals of two z-depth maps, and the pixel count.

    Scored on :func:`normal_mask` of ``mask``: pixels whose 3×3 neighbourhood lies in the mask, so every finite
    difference uses valid depths. The mean is Unsup3D's "mean angle deviation" (MAD): its normal error map,
    acos of the dot product of the normals in degrees, averaged over the eroded mask per image, then over images.
    NaN where no pixel qualifies.
    """
    _check_same_shape(pred, target)
    scored = normal_mask(mask)
    angles = angle_between(depth_normals(pred, intrinsics), depth_normals(target.to(pred.dtype), intrinsics))
    count = scored.sum(dim=(1, 2))
    nan = torch.full_like(angles[:, 0, 0], math.nan)
    return {
        "normal_mean_deg": torch.where(count > 0, masked_mean(angles, scored), nan),
        "normal_median_deg": masked_median(angles, scored),
        "normal_pixels": count,
    }


# --------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------


def _check_literal(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


@dataclass(frozen=True)
class DepthMetricsConfig:
    """How :func:`compute_depth_metrics` scores a prediction.

    Attributes:
        alignment: ``"none"`` (metric depth models), ``"scale"`` or ``"scale_shift"`` (relative models), a
            per-image least-squares fit over the valid pixels.
        space: what the prediction is and where the fit happens: ``"depth"`` (z-depth, or the original's [-1, 1]
            convention with ``scale_shift``) or ``"disparity"`` (inverse depth, e.g. MiDaS / DPT).
        depth_cap: largest depth (world units) a disparity-space prediction can map to (disparity clamped to
            ``1/depth_cap``).
        intrinsics: normalised 3×3 K for the normal metrics (e.g. ``helpers.cameras.intrinsics()``); None skips
            them. Per-sample K can be passed to :func:`compute_depth_metrics` instead.
        original_pred: ``"normalize"``: the (aligned) prediction is normalised like the target for the original's
            L1; ``"raw"``: the prediction tensor is already in the original's [-1, 1] convention and is used as is.
        original_quantize: round the target's [-1, 1] map to the 8-bit levels of the original's PNGs.
        perfect_threshold: the original's "perfect" threshold on the per-image L1 (strict ``<``).
        on_degenerate: ``"raise"`` a ValueError naming degenerate samples, or ``"skip"`` them (NaN metrics,
            ``valid = False``); see the module docstring.
    """

    alignment: Alignment = "none"
    space: Space = "depth"
    depth_cap: float = 10.0
    intrinsics: tuple[tuple[float, ...], ...] | Sequence[Sequence[float]] | torch.Tensor | None = None
    original_pred: Literal["normalize", "raw"] = "normalize"
    original_quantize: bool = False
    perfect_threshold: float = ORIGINAL_PERFECT_THRESHOLD
    on_degenerate: Literal["raise", "skip"] = "raise"

    def __post_init__(self) -> None:
        _check_literal("alignment", self.alignment, ("none", "scale", "scale_shift"))
        _check_literal("space", self.space, ("depth", "disparity"))
        _check_literal("original_pred", self.original_pred, ("normalize", "raw"))
        _check_literal("on_degenerate", self.on_degenerate, ("raise", "skip"))
        if not self.depth_cap > 0:
            raise ValueError(f"depth_cap must be > 0 world units, got {self.depth_cap}")
        if not self.perfect_threshold > 0:
            raise ValueError(f"perfect_threshold must be > 0, got {self.perfect_threshold}")
        if self.intrinsics is not None:
            # Stored as nested tuples so the frozen config stays comparable and hashable.
            k = torch.as_tensor(self.intrinsics, dtype=torch.float64)
            if k.shape != (3, 3):
                raise ValueError(f"config intrinsics must be one (3, 3) matrix, got shape {tuple(k.shape)}")
            object.__setattr__(self, "intrinsics", tuple(tuple(float(x) for x in row) for row in k.tolist()))


def _sample_ids(ids: Sequence[str] | None, n: int) -> list[str]:
    if ids is None:
        return [str(i) for i in range(n)]
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} sample ids for a batch of {n}")
    return ids


def _degenerate_reasons(
    valid: torch.Tensor, depth: torch.Tensor, normal_pixels: torch.Tensor | None, metrics: dict[str, torch.Tensor]
) -> list[list[str]]:
    """Per sample, why no metric can be defined (empty list: the sample is fine)."""
    count = valid.sum(dim=(1, 2)).tolist()
    bad_pred = (valid & ~(torch.isfinite(depth) & (depth > 0))).sum(dim=(1, 2)).tolist()
    finite = {key: torch.isfinite(value).tolist() for key, value in metrics.items()}
    reasons: list[list[str]] = [[] for _ in count]
    for i, (c, b) in enumerate(zip(count, bad_pred)):
        if c == 0:
            reasons[i].append("empty mask: no pixel has mask true and target depth > 0")
            continue
        if b:
            reasons[i].append(
                f"{b} of {c} predicted depths on the mask are <= 0 or not finite after alignment, but AbsRel, "
                "log and δ metrics need positive depth (align in disparity space, or on_degenerate='skip')"
            )
        if normal_pixels is not None and int(normal_pixels[i]) == 0:
            reasons[i].append("no mask pixel has its whole 3×3 neighbourhood in the mask: normal error undefined")
        if not reasons[i]:
            # Safety net, e.g. a NaN raw prediction off the mask in the whole-image original L1.
            broken = [key for key, flags in finite.items() if not flags[i]]
            if broken:
                reasons[i].append(f"non-finite {', '.join(broken)} (is the prediction NaN/inf somewhere?)")
    return reasons


@torch.no_grad()
def compute_depth_metrics(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    config: DepthMetricsConfig | None = None,
    *,
    ids: Sequence[str] | None = None,
    intrinsics: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Every metric of this module for a batch, per image.

    Args:
        pred: (N, 1, H, W) or (N, H, W) prediction: z-depth, inverse depth or the original's [-1, 1] map,
            as ``config.space`` / ``config.original_pred`` say.
        target: same shape, z-depth in world units (0 = no surface).
        mask: bool foreground mask of the same shape, or None (every pixel with target depth > 0).
        config: alignment, space, intrinsics, degenerate policy (defaults: no alignment, depth space).
        ids: sample names for error messages (default: batch indices).
        intrinsics: (3, 3) or (N, 3, 3) normalised K, overriding ``config.intrinsics``.

    Returns:
        ``{key: (N,) tensor}`` on ``pred``'s device, float64 except ``n_pixels`` (int64) and ``valid`` (bool);
        keys in :data:`METRIC_INFO` order plus ``valid`` (normal keys only with intrinsics). Degenerate samples
        raise or are NaN with ``valid = False`` (``config.on_degenerate``).
    """
    config = config or DepthMetricsConfig()
    _check_same_shape(pred, target)
    p = as_batch(pred, "pred").to(torch.float64)
    g = as_batch(target, "target").to(device=p.device, dtype=torch.float64)
    valid = valid_mask(g, None if mask is None else as_batch(mask, "mask").to(p.device))
    names = _sample_ids(ids, p.shape[0])
    fit = align_prediction(p, g, valid, alignment=config.alignment, space=config.space, depth_cap=config.depth_cap)
    depth = fit.aligned

    out = depth_error_metrics(depth, g, valid)
    k = intrinsics if intrinsics is not None else config.intrinsics
    normal_pixels = None
    if k is not None:
        normals = normal_angle_error(depth, g, valid, k)
        normal_pixels = normals.pop("normal_pixels")
        out.update(normals)

    target_n = original_normalize(g, valid, quantize=config.original_quantize)
    pred_n = p if config.original_pred == "raw" else original_normalize(depth, valid)
    out["original_l1"] = original_l1(pred_n, target_n)
    out["original_l1_masked"] = original_l1(pred_n, target_n, valid)
    out["original_perfect"] = original_perfects(out["original_l1"], config.perfect_threshold).to(torch.float64)
    out["scale"], out["shift"] = fit.scale, fit.shift

    reasons = _degenerate_reasons(valid, depth, normal_pixels, out)
    bad = [i for i, r in enumerate(reasons) if r]
    if bad and config.on_degenerate == "raise":
        lines = [f"sample {names[i]!r}: {'; '.join(reasons[i])}" for i in bad[:10]]
        more = f"\n... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise ValueError(f"{len(bad)} degenerate sample(s) cannot be scored:\n" + "\n".join(lines) + more)
    ok = torch.tensor([not r for r in reasons], device=p.device)
    out = {key: torch.where(ok, value, torch.full_like(value, math.nan)) for key, value in out.items()}
    out["n_pixels"] = valid.sum(dim=(1, 2))
    out["valid"] = ok
    return out


# --------------------------------------------------------------------------------------------
# Accumulating a table
# --------------------------------------------------------------------------------------------


def _format(value: float, digits: int) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return "" if math.isnan(value) else f"{value:.{digits}g}"


class MetricsTable:
    """Per-sample metric rows with sample ids: mean table, CSV and Markdown.

    Rows come from :func:`compute_depth_metrics` batches (:meth:`add`) or single dicts (:meth:`add_row`). Means
    are over the *valid* rows only (skipped degenerate samples are counted, never averaged), so every column is
    averaged over the same samples and the table has no NaN.
    """

    def __init__(self) -> None:
        self._rows: list[dict[str, object]] = []
        self._ids: set[str] = set()
        self._columns: list[str] = []

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def columns(self) -> list[str]:
        """Metric columns in first-seen order (without ``id`` and ``valid``)."""
        return list(self._columns)

    @property
    def rows(self) -> list[dict[str, object]]:
        """Copies of the rows: ``{"id": str, "valid": bool, metric: float, ...}``."""
        return [dict(row) for row in self._rows]

    @property
    def n_valid(self) -> int:
        return sum(bool(row["valid"]) for row in self._rows)

    @property
    def n_skipped(self) -> int:
        return len(self._rows) - self.n_valid

    def add_row(self, sample_id: str, values: Mapping[str, float], valid: bool = True) -> None:
        """Append one sample; ``values`` maps metric names to numbers. Ids must be unique."""
        sample_id = str(sample_id)
        if sample_id in self._ids:
            raise ValueError(f"sample id {sample_id!r} is already in the table")
        row: dict[str, object] = {"id": sample_id, "valid": bool(valid)}
        for key, value in values.items():
            if key in ("id", "valid"):
                continue
            row[key] = int(value) if key == "n_pixels" else float(value)
            if key not in self._columns:
                self._columns.append(key)
        self._ids.add(sample_id)
        self._rows.append(row)

    def add(self, metrics: Mapping[str, torch.Tensor], ids: Sequence[str] | None = None) -> None:
        """Append a batch: ``metrics`` as returned by :func:`compute_depth_metrics` ((N,) tensors).

        ``ids`` default to running indices ("0", "1", ...). A missing ``valid`` key means all rows are valid.
        """
        columns = {key: value.detach().cpu().tolist() for key, value in metrics.items()}
        n = len(next(iter(columns.values()))) if columns else 0
        if any(len(v) != n for v in columns.values()):
            raise ValueError("every metric must hold one value per sample")
        names = [str(len(self._rows) + i) for i in range(n)] if ids is None else _sample_ids(ids, n)
        valid = columns.pop("valid", [True] * n)
        duplicate = [name for name in names if name in self._ids]
        if duplicate or len(set(names)) != len(names):
            raise ValueError(f"duplicate sample ids: {sorted(set(duplicate) or names)[:5]}")
        for i, name in enumerate(names):
            self.add_row(name, {key: values[i] for key, values in columns.items()}, valid=bool(valid[i]))

    def mean(self) -> dict[str, float]:
        """Mean of each metric over the valid rows (NaN for a column if no row is valid)."""
        valid = [row for row in self._rows if row["valid"]]
        out: dict[str, float] = {}
        for key in self._columns:
            values = [float(row[key]) for row in valid if key in row]  # type: ignore[arg-type]
            out[key] = math.fsum(values) / len(values) if values else math.nan
        return out

    def summary(self) -> dict[str, float]:
        """``samples``, ``scored``, ``skipped``, the means, and ``<key>_count`` for 0/1 keys such as perfects."""
        out: dict[str, float] = {"samples": len(self), "scored": self.n_valid, "skipped": self.n_skipped}
        out.update(self.mean())
        for key in COUNT_KEYS:
            if key in self._columns:
                out[f"{key}_count"] = sum(
                    int(row[key] == 1.0) for row in self._rows if row["valid"] and key in row  # type: ignore[misc]
                )
        return out

    def to_csv(self, digits: int = 9) -> str:
        """Per-sample rows: ``id,valid,<metrics...>``; skipped samples have empty metric cells."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "valid", *self._columns])
        for row in self._rows:
            cells = [_format(row[key], digits) if key in row else "" for key in self._columns]  # type: ignore[arg-type]
            writer.writerow([row["id"], int(bool(row["valid"])), *cells])
        return buffer.getvalue()

    def to_markdown(self, title: str | None = None, digits: int = 4) -> str:
        """A Markdown mean table (metric, mean, better direction, meaning) with sample and perfect counts."""
        summary = self.summary()
        lines = [f"## {title}", ""] if title else []
        lines.append(f"{self.n_valid} samples scored, {self.n_skipped} skipped (degenerate).")
        for key in COUNT_KEYS:
            if f"{key}_count" in summary:
                lines.append(f"Perfects (original L1 < threshold): {int(summary[f'{key}_count'])} of {self.n_valid}.")
        lines += ["", "| metric | mean | better | meaning |", "|---|---:|:---:|---|"]
        for key, value in self.mean().items():
            meaning, better = METRIC_INFO.get(key, ("", ""))
            meaning = meaning.replace("|", "\\|")  # a bare | would split the Markdown cell
            lines.append(f"| {key} | {_format(value, digits) or 'n/a'} | {better} | {meaning} |")
        return "\n".join(lines) + "\n"

    def write_csv(self, path: str | os.PathLike[str], digits: int = 9) -> Path:
        """Write :meth:`to_csv` atomically; returns the path."""
        return write_text_atomic(path, self.to_csv(digits))

    def write_markdown(self, path: str | os.PathLike[str], title: str | None = None, digits: int = 4) -> Path:
        """Write :meth:`to_markdown` atomically; returns the path."""
        return write_text_atomic(path, self.to_markdown(title, digits))


def compare_markdown(tables: Mapping[str, MetricsTable], keys: Sequence[str] | None = None, digits: int = 4) -> str:
    """A Markdown table with one row per named table (e.g. model) and one column per metric mean.

    ``keys`` default to the first table's columns without the bookkeeping ones (scale, shift, n_pixels);
    ``scored`` / ``skipped`` columns come first.
    """
    if not tables:
        raise ValueError("no tables to compare")
    if keys is None:
        first = next(iter(tables.values()))
        keys = [key for key in first.columns if key not in _BOOKKEEPING]
    header = ["model", "scored", "skipped", *(f"{key} {METRIC_INFO.get(key, ('', ''))[1]}".strip() for key in keys)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name, table in tables.items():
        means = table.mean()
        cells = [_format(means.get(key, math.nan), digits) or "n/a" for key in keys]
        lines.append("| " + " | ".join([name, str(table.n_valid), str(table.n_skipped), *cells]) + " |")
    return "\n".join(lines) + "\n"
