"""Surface normals from z-depth through the camera intrinsics, the mask they are scored on, and the angle error.

Conventions: depth maps as :mod:`helpers.depth.metrics.masked` (z-depth in EG3D world units, (N, 1, H, W), (N, H, W) or
(H, W)). ``intrinsics`` is the *normalised* pinhole K, (3, 3) or (N, 3, 3), with image coordinates in [0, 1]
(EG3D: ``[[f, 0, 0.5], [0, f, 0.5], [0, 0, 1]]``, e.g. :func:`helpers.base.cameras.intrinsics`); pixel (i, j) has its
centre at ``u = (j + 0.5)/W, v = (i + 0.5)/H``. Points are in the camera frame (world units), normals are unit
vectors (N, H, W, 3) and angles are in degrees. Normals use central differences, so only pixels whose whole 3×3
neighbourhood is valid are scored (:func:`normal_mask`, as Unsup3D).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers.depth.metrics.masked import _check_same_shape, as_batch, masked_mean, masked_median

__all__ = ["angle_between", "depth_normals", "depth_to_points", "normal_angle_error", "normal_mask"]


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
    (i, j) has its centre at ``u = (j + 0.5)/W, v = (i + 0.5)/H`` (as :func:`helpers.base.cameras.pixel_directions`).
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
