"""Augmentations that keep image, depth, mask and camera consistent.

Coordinates are normalised by the image size, as EG3D's intrinsics (:mod:`helpers.base.cameras`): a pixel (row i,
column j) of an H×W map has its centre at ``u = (j + 0.5)/W, v = (i + 0.5)/H``, so one transform applies to the image
and to the depth map, which cover the same field of view at different resolutions.

- **Crop / scale** (:class:`Crop`): a square box ``[u0, u0 + side] × [v0, v0 + side]`` (``side <= 1``, inside the
  image: zoom in only) resampled to the output size; the intrinsics become ``f' = f/side``, ``cx' = (cx − u0)/side``,
  ``cy' = (cy − v0)/side``; cam2world does not change.
- **Horizontal flip**: image, depth and mask mirrored left-right (u → 1 − u), the camera replaced by the camera of the
  mirrored world (EG3D's x-flip of dataset labels plus the principal point: yaw θ → −θ). Meshes and latents of a
  flipped sample are *not* mirrored: a flip is for image → depth training. Unknown cameras (NaN-filled) stay NaN.
- Resamplers: :func:`resample_nearest` (depth, masks: values are never mixed) and :func:`resample_bilinear` (images).
- **Photometric**: colour jitter (brightness, contrast, saturation) on images in [0, 1], torchvision's definitions in
  a fixed order, clamped after each step; each factor uniform in ``[1 − strength, 1 + strength]``.

:func:`sample_params` draws every number from a ``torch.Generator`` passed in (a fixed number of draws), so an item's
augmentation depends only on its seed (see :func:`helpers.training.seeded_loader.make_loader`).

Design notes: docs/design/depth.md (augment): the geometry and the jitter formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from helpers.base import cameras

_GRAY = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentations of a training sample (defaults: a mild training preset).

    Attributes:
        hflip: probability of a horizontal flip (image, depth, mask and camera; see the module doc).
        brightness: brightness factor drawn in ``[1 − brightness, 1 + brightness]`` (0 = off).
        contrast: contrast factor drawn in ``[1 − contrast, 1 + contrast]`` (0 = off).
        saturation: saturation factor drawn in ``[1 − saturation, 1 + saturation]`` (0 = off).
        scale: (min, max) side of the square crop as a fraction of the image side, in (0, 1]; the position is
            uniform inside the image. ``(1, 1)`` = no crop. The crop is resized back to the output size, so a
            side of 0.85 zooms in by 1/0.85.
    """

    hflip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    scale: tuple[float, float] = (0.85, 1.0)

    def __post_init__(self) -> None:
        if not 0.0 <= self.hflip <= 1.0:
            raise ValueError(f"AugmentConfig.hflip is a probability in [0, 1], got {self.hflip}")
        for name in ("brightness", "contrast", "saturation"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"AugmentConfig.{name} must be in [0, 1), got {value}")
        low, high = self.scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(
                f"AugmentConfig.scale is (min, max) of the crop side as a fraction of the image, with "
                f"0 < min <= max <= 1 (zoom in only), got {self.scale}"
            )

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation (every sample as stored)."""
        return cls(hflip=0.0, brightness=0.0, contrast=0.0, saturation=0.0, scale=(1.0, 1.0))


@dataclass(frozen=True)
class Crop:
    """A square crop box in normalised image coordinates: ``[u0, u0 + side] × [v0, v0 + side]``."""

    u0: float = 0.0
    v0: float = 0.0
    side: float = 1.0

    def __post_init__(self) -> None:
        eps = 1e-9
        if not (0.0 < self.side <= 1.0 + eps and -eps <= self.u0 <= 1.0 - self.side + eps
                and -eps <= self.v0 <= 1.0 - self.side + eps):
            raise ValueError(f"a crop box must lie inside the normalised image [0, 1]², got {self}")

    @property
    def is_identity(self) -> bool:
        return self.u0 == 0.0 and self.v0 == 0.0 and self.side == 1.0

    def pixel_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in pixel units of a width×height image (PIL's ``resize(box=…)``)."""
        return (self.u0 * width, self.v0 * height, (self.u0 + self.side) * width, (self.v0 + self.side) * height)


#: The whole image (no crop).
FULL_FRAME = Crop()


@dataclass(frozen=True)
class AugmentParams:
    """The random choices for one sample: crop box, flip, colour factors (1 = unchanged)."""

    crop: Crop = FULL_FRAME
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0


#: Parameters that leave a sample unchanged.
IDENTITY = AugmentParams()


def sample_params(config: AugmentConfig, generator: torch.Generator) -> AugmentParams:
    """Draw one sample's augmentation. Always 7 uniform numbers from ``generator``, in a fixed order."""
    r = torch.rand(7, generator=generator, dtype=torch.float64).tolist()
    low, high = config.scale
    side = low + (high - low) * r[0]
    crop = Crop(u0=(1.0 - side) * r[1], v0=(1.0 - side) * r[2], side=side)

    def factor(strength: float, x: float) -> float:
        return 1.0 + strength * (2.0 * x - 1.0)

    return AugmentParams(
        crop=crop,
        flip=r[3] < config.hflip,
        brightness=factor(config.brightness, r[4]),
        contrast=factor(config.contrast, r[5]),
        saturation=factor(config.saturation, r[6]),
    )


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


def nearest_indices(start: float, extent: float, in_size: int, out_size: int) -> torch.Tensor:
    """Source indices of ``out_size`` output pixels covering ``[start, start + extent]`` (normalised) of an axis
    with ``in_size`` pixels: the source pixel that contains each output pixel centre."""
    j = torch.arange(out_size, dtype=torch.float64)
    # (j + 0.5)·extent·in / out + start·in: for the identity this is exactly (j + 0.5)·in / out (no rounding
    # before the division), so integer factors pick the same pixels as F.interpolate(mode="nearest-exact").
    centres = (j + 0.5) * (extent * in_size) / out_size + start * in_size
    return centres.floor().long().clamp_(0, in_size - 1)


def resample_nearest(maps: torch.Tensor, size: int | tuple[int, int], crop: Crop = FULL_FRAME) -> torch.Tensor:
    """Crop and resize (..., H, W) maps to (..., h, w) by nearest neighbour (any dtype: depth, masks).

    Nearest sampling never mixes values: background depth (0) cannot bleed into the face and a mask stays a mask.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    height, width = maps.shape[-2:]
    rows = nearest_indices(crop.v0, crop.side, height, out_h).to(maps.device)
    cols = nearest_indices(crop.u0, crop.side, width, out_w).to(maps.device)
    return maps[..., rows[:, None], cols[None, :]]


def resample_bilinear(images: torch.Tensor, size: int | tuple[int, int], crop: Crop = FULL_FRAME) -> torch.Tensor:
    """Crop and resize (C, H, W) or (N, C, H, W) float images bilinearly, sampling at the output pixel centres
    (``grid_sample``, ``align_corners=False``: the pixel-centre convention of the module doc). No antialiasing:
    meant for enlargements (a crop resized to the size it was cut from), not for shrinking."""
    out_h, out_w = (size, size) if isinstance(size, int) else size
    batch = images if images.ndim == 4 else images[None]
    u = crop.u0 + crop.side * (torch.arange(out_w, dtype=torch.float64) + 0.5) / out_w
    v = crop.v0 + crop.side * (torch.arange(out_h, dtype=torch.float64) + 0.5) / out_h
    vv, uu = torch.meshgrid(2 * v - 1, 2 * u - 1, indexing="ij")  # grid_sample's [-1, 1] coordinates
    grid = torch.stack([uu, vv], -1).to(batch).expand(len(batch), out_h, out_w, 2)
    out = torch.nn.functional.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out if images.ndim == 4 else out[0]


def _as_camera_tensor(camera: torch.Tensor | np.ndarray) -> torch.Tensor:
    c = torch.as_tensor(camera)
    if not c.is_floating_point():
        c = c.float()
    cameras.check_camera(c)
    return c


def crop_camera(camera: torch.Tensor | np.ndarray, crop: Crop) -> torch.Tensor:
    """(..., 25) camera vectors of the cropped image: ``K' = A·K`` (see the module doc), same pose."""
    c = _as_camera_tensor(camera)
    if crop.is_identity:
        return c.clone()
    pose, k = cameras.unpack(c)
    a = torch.tensor(
        [[1.0 / crop.side, 0.0, -crop.u0 / crop.side], [0.0, 1.0 / crop.side, -crop.v0 / crop.side], [0.0, 0.0, 1.0]],
        dtype=torch.float64,
    )
    k_new = (a @ k.double()).to(c.dtype)
    return cameras.pack(pose.clone(), k_new)


# --------------------------------------------------------------------------------------------
# Photometric
# --------------------------------------------------------------------------------------------


def _gray(image: torch.Tensor) -> torch.Tensor:
    r, g, b = image.unbind(-3)
    return (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b).unsqueeze(-3)


def color_jitter(image: torch.Tensor, brightness: float = 1.0, contrast: float = 1.0,
                 saturation: float = 1.0) -> torch.Tensor:
    """Apply brightness, contrast and saturation factors (1 = unchanged) to (..., 3, H, W) images in [0, 1]."""
    out = image
    if brightness != 1.0:
        out = (out * brightness).clamp_(0.0, 1.0)
    if contrast != 1.0:
        mean = _gray(out).mean(dim=(-3, -2, -1), keepdim=True)
        out = (contrast * out + (1.0 - contrast) * mean).clamp_(0.0, 1.0)
    if saturation != 1.0:
        out = (saturation * out + (1.0 - saturation) * _gray(out)).clamp_(0.0, 1.0)
    return out


def apply_photometric(image: torch.Tensor, params: AugmentParams) -> torch.Tensor:
    """The colour part of ``params`` on (..., 3, H, W) images in [0, 1]."""
    return color_jitter(image, params.brightness, params.contrast, params.saturation)


def apply_flip(params: AugmentParams, *maps: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Mirror (..., H, W) maps left-right when ``params.flip``; returns them unchanged otherwise."""
    return tuple(m.flip(-1) for m in maps) if params.flip else maps

