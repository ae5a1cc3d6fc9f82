"""One EG3D face as a subject: the seed recipe of EG3D's gen_samples.py, deterministic renders, orbit views."""

from __future__ import annotations

import numpy as np
import torch

from helpers import eg3d
from helpers.base import cameras


def test_latent_z_is_the_gen_samples_recipe() -> None:
    z = eg3d.latent_z([3, 7], 16)
    assert z.dtype == torch.float32 and z.shape == (2, 16)
    assert np.array_equal(z[1].numpy(), np.random.RandomState(7).randn(16).astype(np.float32))


def test_subject_from_seed_renders_the_same_face_every_time() -> None:
    subject = eg3d.EG3DSubject.from_seed("tiny-random", seed=3, truncation_psi=0.5, device="cpu")
    G = subject.generator
    expected = G.mapping(eg3d.latent_z([3], G.config.z_dim), cameras.conditioning_camera(1), truncation_psi=0.5)
    assert torch.equal(subject.ws, expected) and "seed 3" in subject.description
    camera = cameras.camera_vector(0.3, 0.1)[0].numpy()
    first, second = subject.render_maps(camera), subject.render_maps(camera)
    assert all(np.array_equal(first[k], second[k]) for k in ("image", "depth", "depth_ray", "opacity"))
    assert np.all((first["depth"] > 0) == (first["opacity"] >= 0.5))  # depth only where the surface is
    views = subject.orbit_views([-0.2, 0.0, -0.2])
    assert views[0] is views[2] and views[0].shape == first["image"].shape  # a repeated yaw is rendered once
