"""Rendering dataset samples: one latent seed, one camera of the viewpoint mix, per sample.

* ``z`` is EG3D's own recipe, ``numpy.random.RandomState(seed).randn(z_dim)`` (as its
  ``gen_samples.py``), so seed 42 here is the face of seed 42 there;
* the camera comes from :class:`helpers.generation.viewpoints.ViewpointMix` for that seed;
* the renderer's random draws come from ``torch.Generator().manual_seed(seed)`` on the CPU.

Meshes reuse the tri-planes of the render: the density grid is one pass of the small decoder over
the lattice, with no backbone re-run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from helpers.base import cameras
from helpers.base.photo import tensor_to_images
from helpers.base.runtime import PRECISIONS
from helpers.dataset_folder.layout import sample_id
from helpers.eg3d.renderer import RenderDraws
from helpers.eg3d.subject import latent_z
from helpers.generation.sample_settings import SampleSettings
from helpers.generation.viewpoints import Viewpoint
from helpers.mesh import lattice_points


def render_draws(generator: Any, seeds: Sequence[int]) -> Any:
    """The renderer's random numbers, drawn per seed on the CPU (so they do not depend on the batch
    or the device) and stacked in batch order."""

    draws = [generator.draws(1, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    device = generator.device
    return RenderDraws(
        torch.cat([d.stratified for d in draws]).to(device), torch.cat([d.importance for d in draws]).to(device)
    )


@dataclass
class RenderedSample:
    """One sample in memory, ready to write. Arrays are CPU numpy; depths in world units."""

    seed: int
    view: Viewpoint
    camera: np.ndarray  # (25,) float32
    image: np.ndarray  # (S, S, 3) uint8
    depth_z: np.ndarray  # (R, R) float32 camera-space z
    depth_ray: np.ndarray  # (R, R) float32 distance along the ray
    opacity: np.ndarray  # (R, R) float32 in [0, 1]
    ws: np.ndarray  # (num_ws, w_dim) float32
    density: np.ndarray | None = None  # (N³,) raw σ on the mesh lattice
    planes: torch.Tensor | None = None  # (1, 3, C, H, W), for vertex colours
    name: str | None = None  # the sample id when it is not made from a seed (an inverted photo)

    @property
    def id(self) -> str:
        return self.name if self.name is not None else sample_id(self.seed)


class SampleRenderer:
    """Renders batches of seeds with one generator and fixed :class:`SampleSettings`."""

    def __init__(self, generator: Any, settings: SampleSettings) -> None:
        self.generator = generator
        self.settings = settings
        self.device = generator.device
        self._lattice: torch.Tensor | None = None

    def autocast(self):
        dtype = PRECISIONS[self.settings.precision]
        if dtype is torch.float16 and self.device.type == "cpu":
            raise ValueError("fp16 autocast needs a GPU; use --precision bf16 or fp32 on the CPU")
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def lattice(self) -> torch.Tensor:
        if self._lattice is None:
            mesh = self.settings.mesh
            assert mesh is not None
            box = float(self.generator.config.rendering.box_warp)
            self._lattice = torch.from_numpy(lattice_points(mesh.resolution, box_size=box)).to(self.device)
        return self._lattice

    @torch.inference_mode()
    def render(self, seeds: Sequence[int]) -> list[RenderedSample]:
        """Render ``seeds`` as one batch."""
        G, settings = self.generator, self.settings
        camera_vectors, views = settings.viewpoints.cameras(list(seeds))
        render_c = camera_vectors.to(self.device)
        if settings.conditioning == "frontal":
            cond_c = cameras.conditioning_camera(len(seeds), device=self.device)
        else:
            cond_c = render_c
        z = latent_z(seeds, G.config.z_dim).to(self.device)
        # The mapping is tiny: keep it in float32 so the stored latents are exact at any precision.
        ws = G.mapping(z, cond_c, truncation_psi=settings.truncation_psi, truncation_cutoff=settings.truncation_cutoff)
        with self.autocast():
            out = G.synthesize(ws, render_c, draws=render_draws(G, seeds))
        images = tensor_to_images(out["image"])  # the official 8-bit conversion of gen_samples.py
        depth_z = out["depth_z"][:, 0].float().cpu().numpy()
        depth_ray = out["depth_ray"][:, 0].float().cpu().numpy()
        opacity = out["opacity"][:, 0].float().clamp(0, 1).cpu().numpy()
        ws_np = ws.float().cpu().numpy()
        samples = []
        for i, seed in enumerate(seeds):
            sample = RenderedSample(
                seed=int(seed), view=views[i], camera=camera_vectors[i].numpy().astype(np.float32),
                image=images[i], depth_z=depth_z[i], depth_ray=depth_ray[i], opacity=opacity[i], ws=ws_np[i],
            )
            if settings.mesh is not None:
                planes = out["planes"][i:i + 1]
                sample.density = self.density(planes)
                sample.planes = planes if settings.mesh.colors else None
            samples.append(sample)
        return samples

    @torch.inference_mode()
    def density(self, planes: torch.Tensor) -> np.ndarray:
        """Raw σ of one sample on the mesh lattice, from its cached tri-planes."""
        chunk = 1 << 21 if self.device.type == "cuda" else 1 << 16
        with self.autocast():
            sigma = self.generator.sample_density(planes, self.lattice(), chunk=chunk, with_features=False)["sigma"]
        return sigma[0, :, 0].float().cpu().numpy()

    @torch.inference_mode()
    def vertex_colors(self, planes: torch.Tensor, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) uint8 RGB of the field at mesh vertices (the decoder's colour, as ``image_raw``)."""
        if len(vertices) == 0:
            return np.zeros((0, 3), np.uint8)
        points = torch.from_numpy(vertices).to(self.device)
        with self.autocast():
            rgb = self.generator.sample_density(planes, points)["features"][0, :, :3].float()
        return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
