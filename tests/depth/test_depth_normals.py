"""Normals from z-depth through the intrinsics, the normal mask and the angle error (helpers.depth.metrics.normals)."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.base.cameras import FOCAL, intrinsics
from helpers.depth.metrics.normals import normal_angle_error, normal_mask

D = torch.float64
#: EG3D's intrinsics in float64 (helpers.base.cameras.intrinsics() is float32, whose focal differs in the 8th digit).
K64 = torch.tensor([[FOCAL, 0.0, 0.5], [0.0, FOCAL, 0.5], [0.0, 0.0, 1.0]], dtype=D)


def plane_depth(h: int, w: int, normal: tuple[float, float, float], offset: float) -> torch.Tensor:
    """z-depth of the plane n·P = offset seen through the EG3D normalised intrinsics."""
    u = (torch.arange(w, dtype=D) + 0.5) / w
    v = (torch.arange(h, dtype=D) + 0.5) / h
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    x, y = (uu - 0.5) / FOCAL, (vv - 0.5) / FOCAL
    nx, ny, nz = normal
    return (offset / (nx * x + ny * y + nz))[None]


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("degrees", [10.0, 25.0])
def test_normal_error_of_tilted_plane_is_the_tilt(axis: str, degrees: float) -> None:
    theta = math.radians(degrees)
    n = (math.sin(theta), 0.0, math.cos(theta)) if axis == "x" else (0.0, math.sin(theta), math.cos(theta))
    flat, tilted = plane_depth(8, 8, (0.0, 0.0, 1.0), 2.7), plane_depth(8, 8, n, 2.7)
    mask = torch.ones_like(flat, dtype=torch.bool)
    err = normal_angle_error(tilted, flat, mask, K64)
    assert err["normal_mean_deg"].item() == pytest.approx(degrees, abs=1e-9)
    assert err["normal_median_deg"].item() == pytest.approx(degrees, abs=1e-9)
    assert err["normal_pixels"].item() == 36  # interior 6×6


def test_normal_error_zero_for_identical_planes_and_batched_intrinsics() -> None:
    plane = torch.cat([plane_depth(6, 7, (0.3, -0.2, 0.93), 2.5), plane_depth(6, 7, (0.0, 0.0, 1.0), 3.0)])
    mask = torch.ones_like(plane, dtype=torch.bool)
    k = torch.stack([intrinsics(), intrinsics(5.0)]).double()
    err = normal_angle_error(plane, plane, mask, k)
    assert err["normal_mean_deg"].abs().max() < 1e-9


def test_normal_mask_needs_whole_neighbourhood() -> None:
    mask = torch.ones(1, 4, 5, dtype=torch.bool)
    mask[0, 1, 1] = False
    expected = torch.zeros(1, 4, 5, dtype=torch.bool)
    expected[0, 1:3, 3] = True  # interior pixels (rows 1–2, cols 1–3) not touching (1, 1)
    assert torch.equal(normal_mask(mask), expected)
