"""The ``predict(images)`` contract every depth model shares: validation, resizing, eval mode.

Images are ``(N, C, H, W)`` float in [0, 1] or uint8 in 0..255 on any device. They are resized to
the model's square input (bilinear, antialiased when shrinking), normalised the model's way, run in
eval mode under ``torch.inference_mode`` (each submodule's train/eval state is restored afterwards),
and the depth is resized back to (H, W) the same way, on the images' device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to ``size`` (``align_corners=False``), antialiased when shrinking along an
    axis; identity when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrinking = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def prepare_images(images: torch.Tensor, channels: int, like: torch.Tensor) -> torch.Tensor:
    """Validate ``images`` and convert them to float in [0, 1] with ``like``'s device and dtype."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != channels:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a tensor of shape (N, {channels}, H, W), got {shape} "
            "(for one (3, H, W) image use images[None]; for (N, H, W, 3) use images.permute(0, 3, 1, 2))"
        )
    if images.dtype == torch.uint8:
        return images.to(device=like.device, dtype=like.dtype) / 255.0
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(
            f"float images must be in [0, 1], got values in [{low:.3g}, {high:.3g}] "
            "(divide 0..255 images by 255; undo any normalisation)"
        )
    return images.to(device=like.device, dtype=like.dtype)


def predict_depth(model: nn.Module, images: torch.Tensor, *, channels: int, input_size: int,
                  normalize: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Run ``model`` (its ``forward`` takes normalised input) on ``images`` as the module docstring says."""
    x = prepare_images(images, channels, next(model.parameters()))
    modes = [module.training for module in model.modules()]
    model.eval()
    try:
        with torch.inference_mode():
            depth = model(normalize(resize_bilinear(x, (input_size, input_size))))
            depth = resize_bilinear(depth, tuple(images.shape[-2:]))
    finally:
        for module, mode in zip(model.modules(), modes, strict=True):
            module.training = mode
    return depth.to(images.device)
