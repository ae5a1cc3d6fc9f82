"""Triangle meshes: from density volumes (marching cubes) and depth maps, and their files.

Units are EG3D world units and frames unless a function says otherwise (OpenCV cameras: x
right, y down, z forward). See :mod:`helpers.mesh.density`, :mod:`helpers.mesh.from_depth` and
:mod:`helpers.mesh.io`.
"""

from __future__ import annotations

from helpers.mesh.density import (
    OFFICIAL_LEVEL,
    OFFICIAL_PAD_VALUE,
    DensityGrid,
    lattice_points,
    official_grid_affine,
    official_pad_width,
    official_sample_points,
    pad_border,
    seed_voxel_mesh_to_world,
)
from helpers.mesh.from_depth import depth_to_mesh, grid_triangles, resample_colors
from helpers.mesh.io import MRC_LABEL, load_density_mrc, load_mesh, save_density_mrc, save_mesh
from helpers.mesh.mesh import Mesh

__all__ = [
    "MRC_LABEL",
    "OFFICIAL_LEVEL",
    "OFFICIAL_PAD_VALUE",
    "DensityGrid",
    "Mesh",
    "depth_to_mesh",
    "grid_triangles",
    "lattice_points",
    "load_density_mrc",
    "load_mesh",
    "official_grid_affine",
    "official_pad_width",
    "official_sample_points",
    "pad_border",
    "resample_colors",
    "save_density_mrc",
    "save_mesh",
    "seed_voxel_mesh_to_world",
]
