"""Photos and pictures as uint8 arrays: any input kind → RGB uint8, centred square crop, resizing, a user mask
cropped the same way, and EG3D's [-1, 1] image tensors → uint8. Used by :mod:`helpers.depth.reconstruction`,
:mod:`helpers.latent.infer`, :mod:`helpers.invert.align` and :mod:`helpers.invert.inversion` (photos), and by every
EG3D render that becomes a picture (:mod:`helpers.generation.sample_renderer`, :mod:`helpers.invert.pti`, :mod:`helpers.demo`)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["center_square", "load_mask", "load_rgb", "resize_square", "tensor_to_image", "tensor_to_images"]


def load_rgb(image: Any) -> np.ndarray:
    """An image as (H, W, 3) uint8 RGB.

    ``image``: a file path, a PIL image (any mode), or an (H, W, 3|4) / (H, W, 1|2) / (H, W) array or
    tensor, uint8, uint16 (0..65535, divided by 257) or float in [0, 1].

    - Files and PIL images are turned upright by their EXIF orientation tag (phone photos store the
      pixels sideways and say how to rotate them).
    - Grey is repeated to three channels. Alpha (RGBA, LA, PA, palette or grey with a transparent colour,
      4- or 2-channel arrays) is composited over white: the colour of fully transparent pixels is
      arbitrary (often black) and must not become part of a face crop.
    - 16-bit images (PNG modes "I;16", "I"; uint16 arrays) are scaled from 0..65535 to 0..255 (PIL's own
      ``convert("RGB")`` clips them to 255 instead). Float images (mode "F") in [0, 1] are scaled by 255;
      larger values are taken as 0..255.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not a readable image (the message names it), the image mode cannot be
            converted, or the array has the wrong shape, dtype or range.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as opened:
                opened.load()
                return _pil_rgb(opened)
        except Exception as error:  # PIL raises UnidentifiedImageError, OSError, SyntaxError…
            raise ValueError(f"{path} could not be read as an image: {error} (expected a PNG, JPEG, WebP, TIFF "
                             "or another format Pillow reads)") from error
    if isinstance(image, Image.Image):
        return _pil_rgb(image)
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4) or 0 in array.shape:
        raise ValueError(f"an image array must be (H, W, 3), (H, W, 4) or (H, W), got shape {array.shape} "
                         "(for a (3, H, W) tensor use image.permute(1, 2, 0))")
    if array.dtype == np.uint16:
        array = array.astype(np.float64) / 65535.0
    elif array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"an image array must be uint8, uint16 or float in [0, 1], got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        if not (np.isfinite(array).all() and low >= -1e-3 and high <= 1 + 1e-3):
            raise ValueError(f"a float image must hold finite values in [0, 1], got [{low:.3g}, {high:.3g}] "
                             "(divide 0..255 images by 255)")
        array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    return _to_rgb(array)


def _to_rgb(array: np.ndarray) -> np.ndarray:
    """(H, W, 1|2|3|4) uint8 → (H, W, 3) uint8: grey repeated, alpha composited over white."""
    channels = array.shape[-1]
    colour = array[..., :3] if channels >= 3 else np.repeat(array[..., :1], 3, axis=-1)
    if channels in (2, 4):
        alpha = array[..., -1:].astype(np.float32) / 255.0
        if (alpha < 1).any():
            blended = colour.astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
            colour = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(colour)


def _pil_rgb(image: Any) -> np.ndarray:
    """A PIL image of any mode → (H, W, 3) uint8, upright (EXIF orientation), see :func:`load_rgb`."""
    from PIL import ImageOps

    try:
        image = ImageOps.exif_transpose(image)
    except (ValueError, TypeError, OSError, KeyError, SyntaxError) as error:
        # Malformed EXIF: keep the stored orientation rather than refuse the photo.
        warnings.warn(f"ignoring the unreadable EXIF orientation of an image: {error}", stacklevel=3)
    mode = image.mode
    if mode == "I" or mode.startswith("I;16"):
        values = np.asarray(image).astype(np.float64) / 257.0  # 0..65535 → 0..255
        return _to_rgb(np.clip(np.rint(values), 0, 255).astype(np.uint8)[..., None])
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
        return _to_rgb(np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)[..., None])
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    try:
        converted = image.convert("RGBA" if has_alpha else "RGB")
    except ValueError as error:
        raise ValueError(f"unsupported image mode {mode!r}: {error} (convert the photo to RGB first)") from error
    return _to_rgb(np.asarray(converted))


def center_square(array: np.ndarray) -> np.ndarray:
    """The centred square crop (side = the shorter side) of an (H, W, …) array."""
    height, width = array.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return array[top:top + side, left:left + side]


def resize_square(array: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """A square uint8 picture (H, W) or (H, W, C) resized to size × size with PIL: bilinear (antialiased when
    shrinking: how the training images were read, helpers.depth.data.image_files), or nearest for masks and depth pictures.
    Returned as is when it already has that size."""
    from PIL import Image

    if array.shape[:2] == (size, size):
        return array
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.array(Image.fromarray(array).resize((size, size), resample))


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


def tensor_to_images(tensor: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) EG3D images in about [-1, 1] → (N, H, W, 3) uint8.

    The official conversion of EG3D's ``gen_samples.py``: ``x·127.5 + 128``, clamped to [0, 255] and truncated
    (not rounded), so a render here has the bytes an official one has.
    """
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise ValueError(f"expected (N, 3, H, W) images, got {tuple(tensor.shape)}")
    return (tensor.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """One EG3D image, (1, 3, H, W) or (3, H, W) in about [-1, 1] → (H, W, 3) uint8 (see :func:`tensor_to_images`)."""
    if tensor.ndim == 3:
        tensor = tensor[None]
    if tensor.ndim != 4 or tensor.shape[0] != 1:
        raise ValueError(f"expected one (1, 3, H, W) or (3, H, W) image, got {tuple(tensor.shape)}")
    return tensor_to_images(tensor)[0]
