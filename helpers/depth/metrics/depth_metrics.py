"""Depth accuracy on a foreground mask: standard metrics, the original project's L1 and "perfects", one entry point.

:func:`compute_depth_metrics` (settings: :class:`DepthMetricsConfig`) scores predictions against targets. Depth maps
are camera-space z-depth in EG3D world units (faces lie at about 2.2–3.4), torch tensors of shape (N, 1, H, W) or
(N, H, W) (a single (H, W) map counts as N = 1); masks are bool tensors of the same spatial shape. A pixel is *valid*
(scored) when the mask is true and the target depth is finite and > 0 (``mask=None``: every pixel with a target
surface). Every metric is computed **per image** over its valid pixels: an (N,) float64 tensor on the input's device.

Keys: ``abs_rel``, ``sq_rel``, ``mae``, ``rmse``, ``rmse_log``, ``silog``, ``side``, ``delta1``, ``delta2``,
``delta3``, ``normal_mean_deg`` and ``normal_median_deg`` (with intrinsics), the original project's measure
``original_l1``, ``original_l1_masked``, ``original_perfect`` (:func:`original_normalize`, :func:`original_l1`,
:func:`original_perfects`: a "perfect" has an L1 strictly below 0.08), ``scale`` / ``shift`` (the per-image alignment
of a relative prediction, ``config.alignment`` / ``config.space``), ``n_pixels`` and ``valid``. A degenerate sample
(empty valid mask, aligned depth ≤ 0, …) raises with ``on_degenerate="raise"`` (default); ``"skip"`` gives it NaN
metrics and ``valid = False``.

Helpers live in :mod:`helpers.depth.metrics.masked`, :mod:`helpers.depth.metrics.alignment`,
:mod:`helpers.depth.metrics.normals` and :mod:`helpers.depth.metrics.metrics_table` (dataset means, tables).

Design notes: docs/design/depth.md (depth_metrics): each metric's formula, the original's measure, degenerate samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from helpers.depth.metrics.alignment import (
    _ALIGNMENTS,
    _SPACES,
    Alignment,
    Space,
    _check_literal,
    align_prediction,
)
from helpers.depth.metrics.masked import _check_same_shape, _masked_extreme, as_batch, masked_mean, valid_mask
from helpers.depth.metrics.metrics_table import _sample_ids
from helpers.depth.metrics.normals import normal_angle_error

__all__ = [
    "DELTA_BASE",
    "ORIGINAL_PERFECT_THRESHOLD",
    "DepthMetricsConfig",
    "compute_depth_metrics",
    "depth_error_metrics",
    "original_l1",
    "original_normalize",
    "original_perfects",
]

#: The original project's "perfect" threshold on the per-image L1 (strict ``<``).
ORIGINAL_PERFECT_THRESHOLD = 0.08
#: δ accuracy thresholds.
DELTA_BASE = 1.25


# --------------------------------------------------------------------------------------------
# The original project's measure
# --------------------------------------------------------------------------------------------


def original_normalize(depth: torch.Tensor, mask: torch.Tensor, *, quantize: bool = False) -> torch.Tensor:
    """z-depth → the original's per-image [-1, 1] depth map: 1 = nearest, −1 = farthest and no surface.

    Per image, ``2·(max − z)/(max − min) − 1`` with min/max over the ``mask`` pixels (finite values only); pixels
    off the mask get −1 (the 8-bit format stores them as 0, as far as the farthest surface). A constant depth
    maps to 1 on the mask. ``quantize=True`` rounds to the 256 levels of the 8-bit PNG (``rint``, as
    :func:`helpers.base.depth_png.encode_legacy_depth_png`) and reads them back with the original's fixed
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
# One entry point
# --------------------------------------------------------------------------------------------


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
        intrinsics: normalised 3×3 K for the normal metrics (e.g. ``helpers.base.cameras.intrinsics()``); None skips
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
        _check_literal("alignment", self.alignment, _ALIGNMENTS)
        _check_literal("space", self.space, _SPACES)
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
    """Every metric (error metrics, normal error, the original's L1 and perfects) for a batch, per image.

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
