"""Training losses for depth regression, selected through one typed config.

Inputs follow :mod:`helpers.depth.metrics.depth_metrics`: prediction and target of shape (N, 1, H, W) or (N, H, W), the
target camera-space z-depth in EG3D world units (0 = no surface), an optional bool foreground mask. A pixel counts
when the mask is true and the target is finite and > 0 (*valid*). **Masked** means averaged over all valid pixels of
the batch ("batch-based", as MiDaS): images with an empty mask add nothing, and an all-empty batch gives a zero
loss that is still attached to the graph. Every loss is differentiable with respect to the prediction.

Kinds (:class:`DepthLossConfig`): ``original_l1``, the original project's L1 against its per-image [-1, 1] map (for
comparable numbers; ``masked=False`` is exactly the original's ``nn.L1Loss(reduction='mean')``); ``l1`` / ``l2``,
masked, on metric z-depth or, with ``space="disparity"``, on inverse depth 1/z; ``ssi``, the scale-and-shift-invariant
loss of Ranftl et al. 2020 (MiDaS), ``ssi_alignment="least_squares"`` (default) or ``"median"``. With
``gradient_weight`` > 0 the total loss is ``data + gradient_weight · grad``, Ranftl et al.'s multi-scale gradient
matching term.

Design notes: docs/design/depth.md (losses): each kind's formula, the gradient-matching term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from helpers.depth.metrics.alignment import align_scale_shift
from helpers.depth.metrics.depth_metrics import original_normalize
from helpers.depth.metrics.masked import as_batch, masked_mean, masked_median, valid_mask

LossKind = Literal["original_l1", "l1", "l2", "ssi"]
_KINDS = ("original_l1", "l1", "l2", "ssi")


@dataclass(frozen=True)
class DepthLossConfig:
    """Which depth loss to train with (see the module docstring for the formulas).

    Attributes:
        kind: ``"original_l1"`` | ``"l1"`` | ``"l2"`` | ``"ssi"``.
        space: ``"depth"``: the prediction is z-depth; ``"disparity"``: it is inverse depth (the target is
            compared as 1/z). ``original_l1`` works on the original's [-1, 1] maps and needs ``"depth"``.
        ssi_alignment: ``"least_squares"`` (ℒ_ssimse) or ``"median"`` (median / mean-absolute-deviation, ℒ_ssi).
        gradient_weight: weight of the multi-scale gradient-matching term (0 = off; MiDaS: 0.5).
        scales: number of scales of the gradient term (MiDaS: 4).
        masked: average over valid pixels (default); ``False`` (``original_l1`` only) averages over every pixel,
            background included, as the original did.
        target: what the target tensor holds: ``"metric_z"`` (z-depth, 0 = no surface; this toolkit's folders) or
            ``"original"`` (already the original's [-1, 1] map, as the original layouts store it; ``original_l1``
            only). With ``"original"`` the valid pixels are the mask's (the map has no "no surface" value).
    """

    kind: LossKind = "l1"
    space: Literal["depth", "disparity"] = "depth"
    ssi_alignment: Literal["least_squares", "median"] = "least_squares"
    gradient_weight: float = 0.0
    scales: int = 4
    masked: bool = True
    target: Literal["metric_z", "original"] = "metric_z"

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))}, got {self.kind!r}")
        if self.space not in ("depth", "disparity"):
            raise ValueError(f"space must be 'depth' or 'disparity', got {self.space!r}")
        if self.ssi_alignment not in ("least_squares", "median"):
            raise ValueError(f"ssi_alignment must be 'least_squares' or 'median', got {self.ssi_alignment!r}")
        if not self.gradient_weight >= 0:
            raise ValueError(f"gradient_weight must be >= 0, got {self.gradient_weight}")
        if isinstance(self.scales, bool) or not isinstance(self.scales, int) or self.scales < 1:
            raise ValueError(f"scales must be an integer >= 1, got {self.scales!r}")
        if self.target not in ("metric_z", "original"):
            raise ValueError(f"target must be 'metric_z' or 'original', got {self.target!r}")
        if self.target == "original" and self.kind != "original_l1":
            raise ValueError(f"a target already in the original's [-1, 1] convention has no metric scale: use "
                             f"kind='original_l1', not {self.kind!r}")
        if self.kind == "original_l1" and self.space != "depth":
            raise ValueError("original_l1 compares the original's [-1, 1] depth maps: use space='depth'")
        if not self.masked and self.kind != "original_l1":
            raise ValueError(
                f"masked=False only exists for kind='original_l1' (the original's whole-image loss); a {self.kind} "
                "loss outside the mask would fit the background, which has no depth"
            )


def _masked_sum_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ values over mask / number of mask pixels in the whole batch; 0 (on the graph) for an empty batch."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp(min=1).to(values.dtype)


def normalize_median_mad(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image ``(x − t) / s`` with t the median and s the mean absolute deviation from t over ``mask``.

    (N, H, W) in and out; an image that is constant (s = 0) or has an empty mask maps to ``x − t`` (0 on the mask).
    Differentiable; invariant to ``x → a·x + b`` for a > 0.
    """
    t = masked_median(x, mask, empty=0.0)[:, None, None]
    centred = x - t
    s = masked_mean(centred.abs(), mask)[:, None, None]
    ok = s > 0
    return torch.where(ok, centred / torch.where(ok, s, torch.ones_like(s)), centred)


def gradient_matching(residual: torch.Tensor, mask: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Multi-scale gradient-matching term of Ranftl et al. on an (N, H, W) residual (see the module docstring)."""
    zero = torch.zeros_like(residual)
    total = residual.sum() * 0  # keeps the graph when no scale has a valid pixel
    for k in range(scales):
        step = 2**k
        r = torch.where(mask, residual, zero)[:, ::step, ::step]
        m = mask[:, ::step, ::step]
        if r.shape[1] < 2 and r.shape[2] < 2:
            break
        grad_x = (r[:, :, 1:] - r[:, :, :-1]).abs() * (m[:, :, 1:] & m[:, :, :-1])
        grad_y = (r[:, 1:, :] - r[:, :-1, :]).abs() * (m[:, 1:, :] & m[:, :-1, :])
        total = total + (grad_x.sum() + grad_y.sum()) / m.sum().clamp(min=1).to(residual.dtype)
    return total


class DepthLoss(nn.Module):
    """A depth loss built from a :class:`DepthLossConfig`: ``loss(pred, target, mask) -> scalar``."""

    def __init__(self, config: DepthLossConfig | None = None) -> None:
        super().__init__()
        self.config = config or DepthLossConfig()

    def extra_repr(self) -> str:
        return repr(self.config)

    def _inputs(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p, g = as_batch(pred, "pred"), as_batch(target, "target")
        if p.shape != g.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}")
        if self.config.target == "original":  # the map is the target; every pixel is a number
            valid = torch.ones_like(g, dtype=torch.bool) if mask is None else as_batch(mask, "mask").bool()
        else:
            valid = valid_mask(g, mask)
        g = g.detach().to(p.dtype)
        if self.config.space == "disparity":
            g = torch.where(valid, 1.0 / torch.where(valid, g, torch.ones_like(g)), torch.zeros_like(g))
        return p, g, valid

    def terms(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``{"loss", "data", "gradient"}`` scalars (``loss = data + gradient_weight · gradient``), for logging."""
        cfg = self.config
        p, g, valid = self._inputs(pred, target, mask)
        scored = valid
        if cfg.kind == "original_l1":
            if cfg.target == "metric_z":
                with torch.no_grad():
                    g = original_normalize(g, valid)
            if not cfg.masked:
                scored = torch.ones_like(valid)
            residual = p - g
            data = _masked_sum_mean(residual.abs(), scored)
        elif cfg.kind in ("l1", "l2"):
            residual = torch.where(valid, p - g, torch.zeros_like(p))
            data = _masked_sum_mean(residual.abs() if cfg.kind == "l1" else residual**2, valid)
        elif cfg.ssi_alignment == "least_squares":
            residual = torch.where(valid, align_scale_shift(p, g, valid).aligned - g, torch.zeros_like(p))
            data = _masked_sum_mean(residual**2, valid) / 2
        else:
            residual = normalize_median_mad(p, valid) - normalize_median_mad(g, valid)
            data = _masked_sum_mean(residual.abs(), valid) / 2
        gradient = gradient_matching(residual, scored, cfg.scales) if cfg.gradient_weight > 0 else data * 0
        return {"loss": data + cfg.gradient_weight * gradient, "data": data, "gradient": gradient}

    def forward(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Scalar loss of a batch (see :meth:`terms`)."""
        return self.terms(pred, target, mask)["loss"]


def build_depth_loss(config: DepthLossConfig | None = None) -> DepthLoss:
    """The loss module for ``config`` (default: masked L1 on metric z-depth)."""
    return DepthLoss(config)
