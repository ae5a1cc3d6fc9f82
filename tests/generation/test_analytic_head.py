"""The analytic head is exact ground truth: its rendered depth must lie on its own surface."""

from __future__ import annotations

import numpy as np

from helpers.base import cameras
from helpers.generation.analytic_head import AnalyticHead


def test_rendered_depth_lies_on_the_surface():
    head = AnalyticHead()
    camera = cameras.camera_vector(0.7, -0.15)[0].numpy()
    view = head.render(camera, 48)
    assert view.image.shape == (48, 48, 3) and view.image.dtype == np.uint8
    assert view.depth.dtype == np.float32 and view.mask.dtype == bool
    assert 0.3 < view.mask.mean() < 0.9
    np.testing.assert_array_equal(view.depth > 0, view.mask)
    cam2world, k = cameras.unpack(camera.astype(np.float64))
    d = cameras.pixel_directions(k, 48, 48)[view.mask] * view.depth[view.mask, None].astype(np.float64)
    world = d @ cam2world[:3, :3].T + cam2world[:3, 3]
    sigma = head.density(world)
    # |σ - level| / slope is the 'inside' value: ~ distance / radius; float32 depth limits it.
    assert np.abs(sigma - head.level).max() / head.slope < 1e-4


def test_background_is_dark_and_head_is_lit():
    view = AnalyticHead().render(cameras.camera_vector(0.0, 0.0)[0].numpy(), 32)
    assert view.image[~view.mask].max() < 30
    assert view.image[view.mask].mean() > 100


def test_density_and_normals():
    head = AnalyticHead()
    assert head.density(np.zeros(3)) > head.level  # centre of the head is inside
    assert head.density(np.array([0.0, 0.0, 0.45])) < head.level  # in front of the nose is outside
    n = head.normals(np.array([[0.0, 0.5, 0.0]]))  # above the skull: normal points up
    assert n[0, 1] > 0.99
