"""One EG3D face with its tri-planes computed once: renders from any camera, density, mesh and orbit views.

:class:`EG3DSubject` is what the demo, inversions and latent predictions hand around: a generator, the face's ws
(N=1) and its tri-planes. Renders are deterministic (the renderer's draws come from a CPU generator seeded 0);
depths are in EG3D world units, cameras are 25-vectors (:mod:`helpers.base.cameras`). :func:`latent_z` is EG3D's
own seed → z recipe, so seed 42 here is the face of seed 42 in ``gen_samples.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from helpers.base import cameras
from helpers.base.photo import tensor_to_image
from helpers.eg3d.generator import Generator
from helpers.eg3d.loading import load
from helpers.mesh import DensityGrid, Mesh, lattice_points

__all__ = ["EG3DSubject", "latent_z"]


def latent_z(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """(N, z_dim) float32 latents of EG3D's ``gen_samples.py``: ``RandomState(seed).randn(z_dim)``."""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).float()


class EG3DSubject:
    """An EG3D face with the analytic head's interface: ``render(camera, …)`` and ``density(points)``.

    The face is fixed by ``seed`` (z as EG3D's ``gen_samples.py`` draws it) and generated with the frontal conditioning camera
    and truncation ψ, as the official scripts do; its tri-planes are computed once.
    """

    def __init__(self, generator: Generator, ws: torch.Tensor, description: str) -> None:
        self.generator = generator
        self.ws = ws
        self.description = description
        with torch.inference_mode():
            self.planes = generator.planes(ws)

    @property
    def box_size(self) -> float:
        """Side of the cube the tri-planes cover (box_warp, world units)."""
        return float(self.generator.config.rendering.box_warp)

    @classmethod
    def from_seed(cls, checkpoint: str, seed: int = 0, truncation_psi: float = 0.7, *,
                  device: torch.device | str | None = None) -> EG3DSubject:
        """The face of ``seed`` (EG3D's ``gen_samples.py`` z) from ``checkpoint`` (:func:`helpers.eg3d.loading.load`),
        mapped with the frontal conditioning camera and truncation ψ. ``device``: CUDA when available by default."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        generator = load(checkpoint, device=device)
        z = latent_z([seed], generator.config.z_dim).to(device)
        c = cameras.conditioning_camera(1, device=device)
        with torch.inference_mode():
            ws = generator.mapping(z, c, truncation_psi=truncation_psi)
        return cls(generator, ws, f"EG3D {checkpoint}, seed {seed}, ψ {truncation_psi}")

    def render_maps(self, camera: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
        """One render of the face from ``camera`` (25,): ``image`` (S, S, 3) uint8 at the model's resolution
        (EG3D's official 8-bit conversion, :func:`helpers.base.photo.tensor_to_image`); ``depth`` (z-depth) and
        ``depth_ray`` (distance along the ray), (R, R) float32 in world units, 0 where opacity < 0.5; ``opacity``
        (R, R) float32 in [0, 1]. R is the neural rendering resolution.

        The renderer's random draws come from a CPU generator seeded 0 (as the dataset generator draws them,
        :func:`helpers.generation.sample_renderer.render_draws`): a camera gives the same render on every call, on any device.
        """
        G = self.generator
        c = torch.as_tensor(np.asarray(camera, dtype=np.float32)).to(self.ws.device).reshape(1, -1)
        with torch.inference_mode():
            out = G.synthesize(self.ws, c, planes=self.planes,
                               draws=G.draws(1, generator=torch.Generator().manual_seed(0)))
        opacity = out["opacity"][0, 0].float().clamp(0, 1).cpu().numpy()
        surface = opacity >= 0.5  # the dataset's depth_min_opacity

        def masked(key: str) -> np.ndarray:
            return np.where(surface, out[key][0, 0].float().cpu().numpy(), 0.0).astype(np.float32)

        return {"image": tensor_to_image(out["image"]), "depth": masked("depth_z"), "depth_ray": masked("depth_ray"),
                "opacity": opacity}

    def density(self, points: np.ndarray) -> np.ndarray:
        """Raw σ at (P, 3) world points."""
        p = torch.as_tensor(points, dtype=torch.float32, device=self.ws.device)
        with torch.inference_mode():
            sigma = self.generator.sample_density(self.planes, p, with_features=False)["sigma"]
        return sigma[0, :, 0].float().cpu().numpy()

    def mesh(self, resolution: int, level: float = 10.0) -> Mesh:
        """The face's surface: marching cubes at ``level`` (EG3D's 10 on raw σ) on a ``resolution``³ lattice over
        the generator's box, in EG3D world units and frame (the cameras' frame)."""
        points = lattice_points(resolution, box_size=self.box_size)
        grid = DensityGrid.from_values(self.density(points).astype(np.float32), resolution, box_size=self.box_size)
        return grid.to_mesh(level=level)

    def orbit_views(self, yaws: Sequence[float], pitch: float = 0.0) -> list[np.ndarray]:
        """(S, S, 3) uint8 renders from orbit cameras at ``yaws`` (radians) and ``pitch`` (EG3D's orbit pitch
        offset, not an angle: see :mod:`helpers.base.cameras`).

        Each distinct camera is rendered once: a yaw whose camera repeats an earlier one (a turntable sweeps
        every yaw twice) gets that render again, the same array. Renders are deterministic, so the frames
        are those of one render per yaw.
        """
        renders: dict[bytes, np.ndarray] = {}
        views = []
        for yaw in yaws:
            camera = cameras.camera_vector(yaw, pitch)[0].numpy()
            key = camera.tobytes()  # the render depends on the camera alone
            if key not in renders:
                renders[key] = self.render_maps(camera)["image"]
            views.append(renders[key])
        return views

    def orbit_strip(self, yaws: Sequence[float], pitch: float = 0.0) -> np.ndarray:
        """(S, len(yaws)·S, 3) uint8: :meth:`orbit_views` side by side."""
        return np.concatenate(self.orbit_views(yaws, pitch), axis=1)
