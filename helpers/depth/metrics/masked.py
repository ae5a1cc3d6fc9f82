"""Batched depth maps, their valid masks and masked per-image reductions (shared by the depth metrics and losses).

Conventions: a depth map is a torch tensor of shape (N, 1, H, W), (N, H, W) or a single (H, W) map (N = 1),
camera-space z-depth in EG3D world units (0 = no surface); :func:`as_batch` gives the (N, H, W) view every function
works on. A mask is a bool tensor of the same spatial shape; a pixel is *valid* when the mask is true and the target
depth is finite and > 0. Reductions are per image over the mask and return (N,) tensors in the input's dtype and on
its device; values off the mask (NaN/inf included) never leak into them.
"""

from __future__ import annotations

import math

import torch

__all__ = ["as_batch", "masked_mean", "masked_median", "valid_mask"]


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
    """Raise a ValueError unless prediction and target have the same shape."""
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
    """(N,) max (``largest``) or min of (N, H, W) ``x`` over ``mask``; ∓inf for an empty mask."""
    fill = -math.inf if largest else math.inf
    filled = torch.where(mask, x, torch.full_like(x, fill)).flatten(1)
    return filled.amax(dim=1) if largest else filled.amin(dim=1)
