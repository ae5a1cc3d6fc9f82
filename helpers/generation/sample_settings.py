"""What a generated sample is: the settings recorded in a dataset's ``meta.json``.

A resumed or merged run must use the same :class:`SampleSettings` (:func:`helpers.dataset_folder.meta.check_compatible`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from helpers.base.runtime import PRECISIONS  # re-exported: one table of precisions for every job
from helpers.generation.viewpoints import ViewpointMix
from helpers.mesh.cleanup import CleanConfig

CONDITIONING = ("frontal", "render")
MESH_FORMATS = ("ply", "obj", "stl", "glb")


@dataclass(frozen=True)
class MeshSettings:
    """Per-sample meshes from the density field.

    Attributes:
        resolution: lattice size N (N³ density queries over the generator's box, box_warp wide).
        format: ``"ply"`` (binary, with vertex colours), ``"obj"``, ``"stl"`` (no colours) or ``"glb"``.
        level: marching-cubes iso-level on raw σ (10 = EG3D's ``gen_samples.py``).
        mrc: also write the raw density volume as ``.mrc`` (4·N³ bytes: 64 MiB at 256³).
        colors: colour vertices with the field's RGB at the vertex.
        clean: clean each mesh (:func:`helpers.mesh.cleanup.clean_mesh`: walls, floaters, smoothing, decimation), or
            None to keep marching cubes' output as it is (EG3D's).
    """

    resolution: int = 256
    format: str = "ply"
    level: float = 10.0
    mrc: bool = False
    colors: bool = True
    clean: CleanConfig | None = None

    def __post_init__(self) -> None:
        if self.format not in MESH_FORMATS:
            raise ValueError(f"mesh format must be one of {MESH_FORMATS}, got {self.format!r}")
        if self.resolution < 8:
            raise ValueError(f"mesh resolution must be >= 8, got {self.resolution} — 256 is EG3D's")


@dataclass(frozen=True)
class SampleSettings:
    """What determines a sample's files; recorded in ``meta.json``. A resumed run must use the same.

    Attributes:
        truncation_psi: ψ of ``w_avg + ψ (w − w_avg)`` in [0, 1] (0.7 as the original project).
        truncation_cutoff: truncate only the first ``cutoff`` ws (None: all, EG3D's default).
        conditioning: camera the mapping network sees: ``"frontal"`` (default) or ``"render"``.
        viewpoints: viewpoint mix the render cameras are drawn from.
        depth_range: (near, far) of the 16-bit depth PNGs in world units; None derives it from the
            generator's ray range (see :func:`default_depth_range`).
        depth_min_opacity: depth is written (non-zero) where the accumulated opacity reaches this.
        mesh: per-sample meshes, or None.
        legacy: also write the original project's formats (``depth128x128/`` 8-bit per-image
            normalised ray depth, ``cam_poses/`` (1, 25), ``latent/`` (1, num_ws, 512)).
        precision: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` autocast (GPU; bf16 also on CPU).
    """

    truncation_psi: float = 0.7
    truncation_cutoff: int | None = None
    conditioning: str = "frontal"
    viewpoints: ViewpointMix = field(default_factory=ViewpointMix)
    depth_range: tuple[float, float] | None = None
    depth_min_opacity: float = 0.5
    mesh: MeshSettings | None = None
    legacy: bool = False
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if not 0.0 <= self.truncation_psi <= 1.0:  # also refuses NaN
            raise ValueError(f"truncation ψ must be in [0, 1], got {self.truncation_psi} — 0 gives the average "
                             "face, 1 no truncation, 0.7 is the original project's")
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise ValueError(f"truncation cutoff must be >= 0 (the number of ws to truncate), got "
                             f"{self.truncation_cutoff} — leave it out to truncate all")
        if self.conditioning not in CONDITIONING:
            raise ValueError(f"conditioning must be one of {CONDITIONING}, got {self.conditioning!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {tuple(PRECISIONS)}, got {self.precision!r}")
        if not 0.0 < self.depth_min_opacity <= 1.0:
            raise ValueError(f"depth_min_opacity must be in (0, 1], got {self.depth_min_opacity}")
        if self.depth_range is not None and not 0 < self.depth_range[0] < self.depth_range[1]:
            raise ValueError(f"depth range must satisfy 0 < near < far, got {self.depth_range}")


def default_depth_range(generator_config: Any, viewpoints: ViewpointMix) -> tuple[float, float]:
    """(near, far) that holds every z-depth the generator can render through the mix's cameras.

    Depth along a ray lies in [ray_start, ray_end]; z-depth is that times the cosine between the ray
    and the optical axis, smallest at the image corners of the widest camera (smallest focal).
    near is rounded down to 0.01, far is ray_end.
    """
    rendering = generator_config.rendering
    focal = min(c.focal for c in viewpoints.categories)
    corner = math.hypot(0.5, 0.5) / focal  # tan of the corner ray's angle
    near = math.floor(rendering.ray_start / math.sqrt(1 + corner**2) * 100) / 100
    return float(near), float(rendering.ray_end)
