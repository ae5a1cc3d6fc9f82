"""Augmentations that keep image, depth, mask and camera consistent (``helpers.depth.data.augment``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.base import cameras
from helpers.base.cameras import flip_camera
from helpers.depth.data.augment import (
    IDENTITY,
    AugmentConfig,
    AugmentParams,
    Crop,
    apply_flip,
    color_jitter,
    crop_camera,
    resample_bilinear,
    resample_nearest,
    sample_params,
)


def world_points(depth: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """(H, W, 3) float64 world points of a z-depth map seen by an EG3D camera (back-projection)."""
    pose, k = cameras.unpack(camera.double())
    rays = cameras.pixel_directions(k, *depth.shape)  # camera frame, z = 1
    return (depth.double()[..., None] * rays) @ pose[:3, :3].T + pose[:3, 3]


def off_centre_camera() -> torch.Tensor:
    """A turned camera whose principal point is off the centre (tests that cx/cy are handled)."""
    pose = cameras.orbit_pose(0.35, -0.12)[0]
    return cameras.pack(pose, cameras.intrinsics(4.2647, cx=0.47, cy=0.53))


def test_flipped_depth_through_flipped_camera_gives_mirrored_points():
    generator = torch.Generator().manual_seed(0)
    depth = 2.4 + 0.5 * torch.rand(12, 16, generator=generator, dtype=torch.float64)
    camera = off_centre_camera()
    points = world_points(depth, camera)
    (flipped_depth,) = apply_flip(AugmentParams(flip=True), depth)
    mirrored = world_points(flipped_depth, flip_camera(camera))
    expected = points.flip(1) * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.allclose(mirrored, expected, atol=1e-5)


def test_cropped_camera_keeps_every_ray():
    """Continuous identity: pixel (u', v') of the crop sees the ray of (u0 + side·u', v0 + side·v') of the image."""
    camera = off_centre_camera()
    crop = Crop(u0=0.07, v0=0.11, side=0.8)
    _, k = cameras.unpack(camera.double())
    _, k_crop = cameras.unpack(crop_camera(camera, crop).double())
    uv = torch.rand(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    inside = torch.cat([uv, torch.ones(50, 1, dtype=torch.float64)], 1)
    source = torch.cat([crop.u0 + crop.side * uv[:, :1], crop.v0 + crop.side * uv[:, 1:], torch.ones(50, 1,
                       dtype=torch.float64)], 1)
    assert torch.allclose(inside @ torch.linalg.inv(k_crop).T, source @ torch.linalg.inv(k).T, atol=1e-6)
    assert crop_camera(camera, crop)[16] == pytest.approx(4.2647 / 0.8, rel=1e-6)  # f' = f / side
    assert torch.equal(crop_camera(camera, Crop()), camera)


def test_pixel_aligned_crop_back_projects_to_the_same_points():
    generator = torch.Generator().manual_seed(2)
    depth = 2.3 + 0.6 * torch.rand(32, 32, generator=generator, dtype=torch.float64)
    camera = off_centre_camera()
    crop = Crop(u0=4 / 32, v0=6 / 32, side=20 / 32)  # on the pixel grid, output = crop pixels: no resampling
    cropped = resample_nearest(depth, 20, crop)
    assert torch.equal(cropped, depth[6:26, 4:24])
    points = world_points(cropped, crop_camera(camera, crop))
    assert torch.allclose(points, world_points(depth, camera)[6:26, 4:24], atol=1e-5)
    # Crop then flip: still the mirrored world points.
    flipped = world_points(cropped.flip(1), flip_camera(crop_camera(camera, crop)))
    expected = world_points(depth, camera)[6:26, 4:24].flip(1) * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.allclose(flipped, expected, atol=1e-5)


@pytest.mark.parametrize("size", [7, 16, 24, 64, 96])
def test_resample_nearest_matches_nearest_exact(size):
    maps = torch.arange(2 * 32 * 32, dtype=torch.float32).reshape(2, 32, 32)
    expected = F.interpolate(maps[None], size=(size, size), mode="nearest-exact")[0]
    assert torch.equal(resample_nearest(maps, size), expected)
    mask = maps > 1000
    assert resample_nearest(mask, size).dtype == torch.bool


def test_resample_nearest_never_mixes_values():
    depth = torch.zeros(32, 32)
    depth[8:24, 8:24] = 2.5
    out = resample_nearest(depth, 45, Crop(0.1, 0.05, 0.83))
    assert set(out.unique().tolist()) <= {0.0, 2.5}


def test_resample_bilinear_samples_at_pixel_centres():
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(resample_bilinear(images, 16), images, atol=1e-6)
    enlarged = F.interpolate(images, size=(40, 40), mode="bilinear", align_corners=False)
    assert torch.allclose(resample_bilinear(images, 40), enlarged, atol=1e-6)
    # A pixel-aligned crop at its own size is a slice; one image works like a batch of one.
    assert torch.allclose(resample_bilinear(images[0], 8, Crop(4 / 16, 2 / 16, 8 / 16)), images[0, :, 2:10, 4:12],
                          atol=1e-6)


def test_sample_params_is_reproducible_and_within_ranges():
    config = AugmentConfig(hflip=0.5, brightness=0.3, contrast=0.2, saturation=0.1, scale=(0.7, 0.9))
    params = [sample_params(config, torch.Generator().manual_seed(s)) for s in range(200)]
    again = [sample_params(config, torch.Generator().manual_seed(s)) for s in range(200)]
    assert params == again
    assert 40 < sum(p.flip for p in params) < 160
    for p in params:
        assert 0.7 <= p.crop.side <= 0.9 and p.crop.u0 + p.crop.side <= 1 + 1e-9 and p.crop.v0 + p.crop.side <= 1 + 1e-9
        assert 0.7 <= p.brightness <= 1.3 and 0.8 <= p.contrast <= 1.2 and 0.9 <= p.saturation <= 1.1
    off = sample_params(AugmentConfig.off(), torch.Generator().manual_seed(3))
    assert off == IDENTITY
    # A fixed number of draws, whatever is enabled: the generator ends in the same state.
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    sample_params(config, g1)
    sample_params(AugmentConfig.off(), g2)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))


def test_color_jitter():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(4))
    assert torch.equal(color_jitter(image), image)
    assert torch.allclose(color_jitter(image, brightness=0.5), image * 0.5)
    gray = color_jitter(image, saturation=0.0)
    assert torch.allclose(gray[0], gray[1]) and torch.allclose(gray[1], gray[2])
    flat = color_jitter(image, contrast=0.0)
    assert torch.allclose(flat, flat.flatten()[0].expand_as(flat))
    strong = color_jitter(image, brightness=1.9, contrast=1.8, saturation=1.9)
    assert strong.min() >= 0 and strong.max() <= 1
    batch = torch.stack([image, image])
    assert torch.allclose(color_jitter(batch, 1.1, 0.9, 1.2)[1], color_jitter(image, 1.1, 0.9, 1.2))


def test_config_validation():
    with pytest.raises(ValueError, match="zoom in only"):
        AugmentConfig(scale=(0.9, 1.2))
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(hflip=1.5)
    with pytest.raises(ValueError, match="brightness"):
        AugmentConfig(brightness=1.0)
    with pytest.raises(ValueError, match="inside"):
        Crop(u0=0.3, v0=0.0, side=0.8)
    assert Crop(0.25, 0.5, 0.5).pixel_box(512, 256) == (128.0, 128.0, 384.0, 256.0)
    assert np.isclose(Crop().side, 1.0)
