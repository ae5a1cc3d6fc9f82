"""Mesh files (.obj, .ply; .stl and .glb for 3D printing and the web) and density volumes (.mrc).

Every writer goes through :func:`helpers.base.atomic.atomic_path`, so an interrupted write never
leaves a partial file under the final name. Readers turn the assorted exceptions of the
underlying libraries into ``ValueError("<path> could not be read ...: <reason>")``.

MRC layout. Our files store the :class:`DensityGrid` in MRC axis order (data[z][y][x]), with
the voxel size and the origin (world position of voxel [0, 0, 0], EG3D world units) in the
header and the label :data:`MRC_LABEL`. A file without that label is taken to be an official
EG3D ``gen_samples`` volume: a raw numpy dump of σ with axes (flipped x, y, z), the border
already overwritten with -1000, no geometry in the header (the eg3d_reference fixture README, §7 step 4).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.base.atomic import atomic_path
from helpers.mesh.density import DensityGrid
from helpers.mesh.mesh import Mesh

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb")
#: First header label of the .mrc files written by :func:`save_density_mrc`.
MRC_LABEL = "helpers.mesh DensityGrid v1: data[z][y][x], raw sigma, EG3D world units"


def _mesh_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise ValueError(
            f"unsupported mesh file type {path.suffix!r} for {path}; "
            f"supported: {', '.join(MESH_SUFFIXES)}"
        )
    return suffix


def load_mesh(path: str | os.PathLike[str], *, allow_empty: bool = False) -> Mesh:
    """Read a .obj or .ply file as one triangle mesh (vertex order kept, colours if present).

    Uses trimesh with ``process=False`` (no merging or reordering); a file holding several
    objects is concatenated into one mesh. Units are whatever the file holds (meshes written
    by this toolkit are in EG3D world units; official gen_samples .ply files are in voxel
    units, see :func:`helpers.mesh.seed_voxel_mesh_to_world`).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unsupported suffix, or the file cannot be parsed as a mesh. A file that
            parses to no vertices (an empty or non-mesh text file) is an error unless
            ``allow_empty`` is True, since trimesh reads such files silently as empty meshes.
    """
    import trimesh

    path = Path(path)
    suffix = _mesh_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file not found: {path}")
    try:
        loaded = trimesh.load(path, file_type=suffix[1:], process=False, force="mesh")
        mesh = Mesh.from_trimesh(loaded)
    except Exception as error:  # trimesh raises many kinds (ValueError, KeyError, ImportError…)
        raise ValueError(f"{path} could not be read as a mesh: {error}") from error
    if mesh.num_vertices == 0 and not allow_empty:
        raise ValueError(
            f"{path} could not be read as a mesh: it contains no vertices "
            "(empty file or not a mesh; pass allow_empty=True to accept empty meshes)"
        )
    return mesh


def save_mesh(mesh: Mesh, path: str | os.PathLike[str]) -> Path:
    """Write ``mesh`` to .obj (text), .ply (binary little-endian), .stl (binary; no colours) or .glb (binary glTF),
    atomically.

    Vertex colours are written when present (PLY: uchar red/green/blue/alpha, OBJ: the common
    ``v x y z r g b`` extension, GLB: COLOR_0). An empty mesh is written as a valid empty file, readable
    with ``load_mesh(path, allow_empty=True)``. Returns the path.
    """
    path = Path(path)
    suffix = _mesh_suffix(path)
    with atomic_path(path) as tmp:
        if suffix == ".obj" and mesh.num_vertices == 0:
            # trimesh writes "v \nf \n" for an empty mesh, which it cannot read back.
            tmp.write_text("# empty mesh\n")
        else:
            data = mesh.to_trimesh().export(file_type=suffix[1:], **(
                {"encoding": "binary"} if suffix == ".ply" else {}
            ))
            tmp.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def save_density_mrc(grid: DensityGrid, path: str | os.PathLike[str]) -> Path:
    """Write a :class:`DensityGrid` to an MRC file (mode 2, float32), atomically.

    Data is stored as data[z][y][x] (the MRC convention), the voxel size (world units) and
    the origin in the header (both float32, the header's precision) and :data:`MRC_LABEL` as
    the first label so :func:`load_density_mrc` recognises the layout. Returns the path.
    """
    import mrcfile

    path = Path(path)
    with atomic_path(path) as tmp:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(grid.values.transpose(2, 1, 0)))
            mrc.voxel_size = grid.voxel_size
            mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = grid.origin
            mrc.header.label[0] = MRC_LABEL.encode("ascii")
            mrc.header.nlabl = 1
    return path


def load_density_mrc(path: str | os.PathLike[str], box_size: float = 1.0) -> DensityGrid:
    """Read an MRC density volume as a :class:`DensityGrid`.

    Files written by :func:`save_density_mrc` keep their own voxel size and origin
    (``box_size`` is ignored). Any other file is read as an official gen_samples volume:
    axis 0 (flipped x) is flipped back and the grid is placed on the exact lattice spanning
    ``[-box_size/2, box_size/2]³`` (``box_size`` = the model's box_warp, 1 for FFHQ). The
    official samples were taken on a sheared grid (up to one voxel off, the eg3d_reference fixture README §7);
    apply ``official_grid_affine(N, box_size)`` to meshes extracted from such a grid to move
    them to the true sample positions. The official border of -1000 is part of the data.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable MRC file or does not hold a cubic volume.
    """
    import mrcfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MRC file not found: {path}")
    try:
        with mrcfile.open(path, mode="r", permissive=False) as mrc:
            data = np.array(mrc.data, dtype=np.float32)
            header = mrc.header
            labels = [bytes(text).rstrip(b"\x00 ").decode("ascii", "replace")
                      for text in header.label]
            voxel_size = float(mrc.voxel_size.x)
            origin = np.array([float(header.origin[axis]) for axis in ("x", "y", "z")])
    except Exception as error:  # mrcfile raises ValueError, OSError, EOFError… for bad files
        raise ValueError(f"{path} could not be read as an MRC volume: {error}") from error
    if data.ndim != 3 or len(set(data.shape)) != 1:
        raise ValueError(f"{path} does not hold a cubic 3D volume: data shape {data.shape}")
    if MRC_LABEL in labels:
        return DensityGrid(data.transpose(2, 1, 0), origin, voxel_size)
    return DensityGrid.from_values(np.flip(data, axis=0), data.shape[0], box_size)
