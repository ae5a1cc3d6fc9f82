"""Writing a rendered sample's files into a dataset folder (each file atomically), returning its manifest line."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic, write_png_atomic
from helpers.base.depth_png import write_depth_png, write_legacy_depth_png
from helpers.dataset_folder.layout import stored_latent
from helpers.generation.sample_renderer import RenderedSample, SampleRenderer
from helpers.generation.sample_settings import SampleSettings
from helpers.mesh import DensityGrid, save_density_mrc, save_mesh
from helpers.mesh.cleanup import clean_mesh


def sample_files(sample_id: str, settings: SampleSettings) -> dict[str, str]:
    """Relative paths of the files of one sample (the manifest's ``files``)."""
    files = {
        "image": f"images/{sample_id}.png",
        "depth": f"depth/{sample_id}.png",
        "mask": f"mask/{sample_id}.png",
        "latent": f"latents/{sample_id}.npy",
        "camera": f"cameras/{sample_id}.npy",
    }
    if settings.mesh is not None:
        files["mesh"] = f"meshes/{sample_id}.{settings.mesh.format}"
        if settings.mesh.mrc:
            files["mrc"] = f"meshes/{sample_id}.mrc"
    if settings.legacy:
        files["legacy_depth"] = f"depth128x128/{sample_id}.png"
        files["legacy_camera"] = f"cam_poses/{sample_id}.npy"
        files["legacy_latent"] = f"latent/{sample_id}.npy"
    return files


class SampleWriter:
    """Writes a :class:`RenderedSample`'s files into a dataset folder and returns its manifest record."""

    def __init__(self, root: Path, settings: SampleSettings, depth_range: tuple[float, float],
                 renderer: SampleRenderer | None = None) -> None:
        self.root = root
        self.settings = settings
        self.near, self.far = depth_range
        self.renderer = renderer

    def write(self, sample: RenderedSample) -> dict[str, Any]:
        settings, root = self.settings, self.root
        files = sample_files(sample.id, settings)
        surface = sample.opacity >= settings.depth_min_opacity
        write_png_atomic(root / files["image"], sample.image)
        write_depth_png(root / files["depth"], sample.depth_z, self.near, self.far, mask=surface)
        write_png_atomic(root / files["mask"], np.round(sample.opacity * 255).astype(np.uint8))
        write_npy_atomic(root / files["latent"], stored_latent(sample.ws))
        write_npy_atomic(root / files["camera"], sample.camera)
        record: dict[str, Any] = {"id": sample.id, "seed": sample.seed, **sample.view.as_dict()}
        record["truncation_psi"] = settings.truncation_psi
        record["truncation_cutoff"] = settings.truncation_cutoff
        record["camera"] = [float(v) for v in sample.camera]
        record["surface_fraction"] = round(float(surface.mean()), 6)
        if settings.mesh is not None:
            record["mesh_faces"] = self._write_mesh(sample, files)
        if settings.legacy:
            write_legacy_depth_png(root / files["legacy_depth"], sample.depth_ray, mask=surface)
            write_npy_atomic(root / files["legacy_camera"], cameras.to_seed_camera(sample.camera))
            write_npy_atomic(root / files["legacy_latent"], sample.ws[None].astype(np.float32))
        record["files"] = files
        return record

    def _write_mesh(self, sample: RenderedSample, files: dict[str, str]) -> int:
        mesh_settings = self.settings.mesh
        assert mesh_settings is not None and sample.density is not None
        box = float(self.renderer.generator.config.rendering.box_warp) if self.renderer else 1.0
        grid = DensityGrid.from_values(sample.density, mesh_settings.resolution, box_size=box)
        mesh = grid.to_mesh(level=mesh_settings.level)
        if sample.planes is not None and self.renderer is not None and mesh.num_vertices:
            mesh = dataclasses.replace(mesh, vertex_colors=self.renderer.vertex_colors(sample.planes, mesh.vertices))
        if mesh_settings.clean is not None:
            mesh, _ = clean_mesh(mesh, mesh_settings.clean)
        save_mesh(mesh, self.root / files["mesh"])
        if mesh_settings.mrc:
            save_density_mrc(grid, self.root / files["mrc"])
        return mesh.num_faces
