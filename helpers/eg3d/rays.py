"""Camera rays for volume rendering (official ``RaySampler``), OpenCV camera convention.

Pixel (i, j) of an R x R neural image (row i downwards, column j rightwards) is unprojected at the
normalised image coordinates ``x = (j + 0.5) / R``, ``y = (i + 0.5) / R`` through the normalised
intrinsics (focal lengths in units of the image size, principal point ~0.5), at camera-space depth
z = 1, mapped to world space by cam2world. Ray index ``m = i * R + j``. Every ray starts at the
camera centre and its direction is a unit vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from helpers.base.cameras import unpack

__all__ = ["split_camera", "make_rays", "forward_axis"]


def split_camera(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """EG3D 25-vectors (N, 25) -> cam2world (N, 4, 4), normalised intrinsics (N, 3, 3).

    Layout (see :mod:`helpers.base.cameras`): 16 row-major cam2world floats, then 9 row-major intrinsics.
    """
    if c.ndim != 2:
        raise ValueError(f"cameras must have shape (N, 25) (EG3D label vectors), got {tuple(c.shape)}")
    return unpack(c)


def make_rays(cam2world: torch.Tensor, intrinsics: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ray origins and unit directions, each (N, R*R, 3), in world units.

    cam2world: (N, 4, 4) OpenCV camera-to-world; intrinsics: (N, 3, 3) normalised by image size
    (skew ``intrinsics[:, 0, 1]`` is honoured).
    """
    n, m = cam2world.shape[0], resolution * resolution
    dev, dtype = cam2world.device, cam2world.dtype
    steps = torch.arange(resolution, dtype=torch.float32, device=dev) * (1.0 / resolution) + (0.5 / resolution)
    y_cam = steps.repeat_interleave(resolution).to(dtype).expand(n, m)  # row index i
    x_cam = steps.repeat(resolution).to(dtype).expand(n, m)  # column index j
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy, sk = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None], intrinsics[:, 0, 1, None]
    z_cam = torch.ones((n, m), dtype=dtype, device=dev)
    # Same operation order as the official sampler so float32 results agree exactly.
    x_lift = (x_cam - cx + cy * sk / fy - sk * y_cam / fy) / fx * z_cam
    y_lift = (y_cam - cy) / fy * z_cam
    cam_points = torch.stack((x_lift, y_lift, z_cam, torch.ones_like(z_cam)), dim=-1)  # (N, M, 4)
    world = torch.bmm(cam2world, cam_points.permute(0, 2, 1)).permute(0, 2, 1)[:, :, :3]
    origins = cam2world[:, None, :3, 3]
    directions = F.normalize(world - origins, dim=2)
    return origins.expand(n, m, 3), directions


def forward_axis(cam2world: torch.Tensor) -> torch.Tensor:
    """Unit camera viewing axis (OpenCV +z) in world coordinates, (N, 3)."""
    return F.normalize(cam2world[:, :3, 2], dim=-1)
