"""RGB images of the depth datasets: decoded and resized (crop box included) in one PIL call, as uint8 or float."""

from __future__ import annotations

import os

import numpy as np
import torch

from helpers.depth.data.augment import FULL_FRAME, Crop


def read_resized(path: str | os.PathLike[str], size: int, crop: Crop = FULL_FRAME) -> np.ndarray:
    """Decode an image and resize its ``crop`` box to size×size (PIL bilinear, antialiased when shrinking).

    Returns a writable (size, size, 3) uint8 RGB array."""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        resized = rgb.resize((size, size), Image.Resampling.BILINEAR, box=crop.pixel_box(*rgb.size))
    return np.array(resized)  # a writable copy (np.asarray of a PIL image is read-only)


def to_float_image(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


def load_image(path: str | os.PathLike[str], size: int, crop: Crop = FULL_FRAME) -> torch.Tensor:
    """:func:`read_resized` as a (3, size, size) float32 RGB tensor in [0, 1]."""
    return to_float_image(read_resized(path, size, crop))
