"""Reading a photo for inference: any input kind → RGB uint8, centred square crop, resizing, and a user mask
cropped the same way. Used by :mod:`helpers.depth.reconstruct` and :mod:`helpers.latent.infer`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["center_square", "load_mask", "load_rgb", "resize_rgb"]


def load_rgb(image: Any) -> np.ndarray:
    """An image as (H, W, 3) uint8 RGB.

    ``image``: a file path, a PIL image (any mode, converted to RGB), or an (H, W, 3|4) / (H, W) array or
    tensor, uint8 or float in [0, 1] (alpha is dropped, grey repeated).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not a readable image, or the array has the wrong shape, dtype or range.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as opened:
                return np.array(opened.convert("RGB"))
        except Exception as error:  # PIL raises UnidentifiedImageError, OSError, SyntaxError…
            raise ValueError(f"{path} could not be read as an image: {error}") from error
    if isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4) or 0 in array.shape:
        raise ValueError(f"an image array must be (H, W, 3), (H, W, 4) or (H, W), got shape {array.shape} "
                         "(for a (3, H, W) tensor use image.permute(1, 2, 0))")
    array = array[..., :3]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"an image array must be uint8 or float in [0, 1], got dtype {array.dtype}")
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    if not (np.isfinite(array).all() and low >= -1e-3 and high <= 1 + 1e-3):
        raise ValueError(f"a float image must hold finite values in [0, 1], got [{low:.3g}, {high:.3g}] "
                         "(divide 0..255 images by 255)")
    return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)


def center_square(array: np.ndarray) -> np.ndarray:
    """The centred square crop (side = the shorter side) of an (H, W, …) array."""
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return array[top:top + side, left:left + side]


def resize_rgb(square: np.ndarray, size: int) -> np.ndarray:
    """PIL bilinear (antialiased when shrinking): how the training images were read (helpers.data.images)."""
    from PIL import Image

    if square.shape[:2] == (size, size):
        return square
    return np.array(Image.fromarray(square).resize((size, size), Image.Resampling.BILINEAR))


def load_mask(mask: Any, image_shape: tuple[int, int], resolution: int) -> np.ndarray:
    """A user mask in the input image's frame → (resolution, resolution) bool, cropped like the image.

    ``mask``: a path (an 8-bit mask PNG: opacity · 255, as the dataset's ``mask/<id>.png``) or an (h, w)
    array: bool, float opacity in [0, 1], or integers (0..255; 0/1 when at most 1). It may have another
    size than the image (the dataset's masks are 128² for 512² images) but must have its aspect ratio.
    It is centre-cropped like the image, resized bilinearly and thresholded at opacity 0.5.
    """
    from PIL import Image

    if isinstance(mask, (str, os.PathLike)):
        path = Path(mask)
        if not path.is_file():
            raise FileNotFoundError(f"mask file not found: {path}")
        try:
            with Image.open(path) as opened:
                values = np.asarray(opened.convert("L"), dtype=np.float32) / 255.0
        except Exception as error:
            raise ValueError(f"{path} could not be read as a mask image: {error}") from error
    else:
        array = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim != 2 or 0 in array.shape:
            raise ValueError(f"a mask must be an (H, W) array, got shape {array.shape}")
        if array.dtype == bool:
            values = array.astype(np.float32)
        elif np.issubdtype(array.dtype, np.integer):
            values = array.astype(np.float32) / (255.0 if array.max() > 1 else 1.0)
        elif np.issubdtype(array.dtype, np.floating):
            values = np.nan_to_num(array.astype(np.float32), nan=0.0)
        else:
            raise ValueError(f"a mask must be bool, integer or float, got dtype {array.dtype}")
    height, width = image_shape
    if abs((values.shape[0] / values.shape[1]) / (height / width) - 1.0) > 0.02:  # rounding of resized masks
        raise ValueError(f"mask shape {values.shape} does not have the image's aspect ratio ({height}, {width})")
    square = center_square(values)
    if square.shape != (resolution, resolution):
        # float32 → PIL mode "F": bilinear on the opacity itself, before thresholding.
        image = Image.fromarray(np.ascontiguousarray(square, dtype=np.float32))
        square = np.asarray(image.resize((resolution, resolution), Image.Resampling.BILINEAR))
    return square >= 0.5
