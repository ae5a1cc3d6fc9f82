"""Density volumes of EG3D and their iso-surface meshes.

EG3D's shape output is the raw decoder density σ (before softplus) sampled on a cubic grid
inside the rendering box ``[-box/2, box/2]³`` (``box = box_warp = 1`` world unit for the FFHQ
models); the face surface is the σ = 10 iso-surface. Coordinates are EG3D world units in the
frame of the EG3D cameras (y up, the face looks towards +z).

Grids and points here use the official point order: point index ``p = i·N² + j·N + k`` where
``i`` indexes world x, ``j`` world y and ``k`` world z, so ``values.reshape(N, N, N)[i, j, k]``.

**The official grid quirk.** The official ``create_samples`` (gen_samples.py) computes the y and
x indices with floating-point division, so its points are not an exact lattice: the point of
voxel ``(i, j, k)`` sits at index ``(i + j/N + k/N², j + k/N, k)``, a shear of up to almost one
voxel (x reaches 0.532 instead of 0.5). :func:`lattice_points` returns the exact lattice;
:func:`official_sample_points` reproduces the quirk for parity with official data, and
:func:`official_grid_affine` / :func:`seed_voxel_mesh_to_world` undo it exactly on meshes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.mesh.mesh import Mesh

#: Iso-level on raw σ used by the official shape extraction (gen_samples.py, shape_utils.py).
OFFICIAL_LEVEL = 10.0
#: Value the official code writes into the border voxels to close the surface at the box.
OFFICIAL_PAD_VALUE = -1000.0


def official_pad_width(resolution: int) -> int:
    """The official border width in voxels, ``int(30·N/256)`` (60 at N=512, 3 at N=32)."""
    return int(30 * resolution / 256)


def pad_border(values: np.ndarray, pad: int, pad_value: float = OFFICIAL_PAD_VALUE) -> np.ndarray:
    """A copy of a 3D volume with a ``pad``-voxel border on all six faces set to ``pad_value``.

    This is the official closing step (it overwrites the border, the volume keeps its shape).
    ``pad=0`` returns an unchanged copy.
    """
    pad = int(pad)
    if pad < 0:
        raise ValueError(f"pad must be >= 0 voxels, got {pad}")
    volume = np.array(values, dtype=np.float32)
    if pad:
        # Overwrite the six slabs; each is a view, so no per-voxel mask is needed.
        volume[:pad], volume[-pad:] = pad_value, pad_value
        volume[:, :pad], volume[:, -pad:] = pad_value, pad_value
        volume[:, :, :pad], volume[:, :, -pad:] = pad_value, pad_value
    return volume


def _check_resolution(resolution: int) -> int:
    if isinstance(resolution, bool) or int(resolution) != resolution or resolution < 2:
        raise ValueError(f"grid resolution must be an integer >= 2, got {resolution!r}")
    return int(resolution)


def _check_box(box_size: float) -> float:
    box_size = float(box_size)
    if not np.isfinite(box_size) or box_size <= 0:
        raise ValueError(f"box_size must be a positive number of world units, got {box_size}")
    return box_size


def lattice_points(resolution: int, box_size: float = 1.0) -> np.ndarray:
    """World points of an exact N×N×N lattice spanning ``[-box/2, box/2]³``.

    Voxel size is ``box/(N-1)``; the first and last samples lie exactly on the box faces.
    Returns an (N³, 3) float32 array of (x, y, z) in EG3D world units, in the official point
    order (index ``i·N² + j·N + k``, i ↔ x). Unlike the official ``create_samples`` this grid has
    no shear (see the module docstring), so ``DensityGrid.from_values`` places values exactly.
    """
    n = _check_resolution(resolution)
    box_size = _check_box(box_size)
    axis = np.linspace(-box_size / 2, box_size / 2, n, dtype=np.float64).astype(np.float32)
    # Broadcast into one float32 array: no float64 meshgrid and stacked copy (~1 GB at N = 256); ~40× faster.
    grid = np.empty((n, n, n, 3), dtype=np.float32)
    grid[..., 0] = axis[:, None, None]
    grid[..., 1] = axis[None, :, None]
    grid[..., 2] = axis[None, None, :]
    return grid.reshape(-1, 3)


def official_sample_points(resolution: int, box_size: float = 1.0) -> np.ndarray:
    """The points of the official ``create_samples(N, [0, 0, 0], box_size)``, quirk included.

    Reproduces the official float32 arithmetic: z index ``p mod N`` (exact), y index
    ``(p/N) mod N`` and x index ``((p/N)/N) mod N`` with float32 division, each scaled by the
    voxel size ``box/(N-1)`` and offset by ``-box/2``. The result is sheared by up to one voxel
    relative to :func:`lattice_points` and, for N³ > 2²⁴, also carries float32 index rounding.
    Returns (N³, 3) float32 world points. Use it only for parity with official data (it needs
    ~N³·28 bytes of memory, 3.7 GB at N=512).
    """
    n = _check_resolution(resolution)
    box_size = _check_box(box_size)
    f32 = np.float32
    index = np.arange(n**3, dtype=np.int64)
    z_index = (index % n).astype(f32)
    y_index = (index.astype(f32) / f32(n)) % f32(n)
    x_index = ((index.astype(f32) / f32(n)) / f32(n)) % f32(n)
    del index
    points = np.stack([x_index, y_index, z_index], axis=1)
    return points * f32(box_size / (n - 1)) + f32(-box_size / 2)


def _official_shear(resolution: int) -> np.ndarray:
    """3×3 map from voxel index (i, j, k) to the official fractional index (ideal, float64)."""
    n = float(resolution)
    return np.array([[1.0, 1.0 / n, 1.0 / n**2], [0.0, 1.0, 1.0 / n], [0.0, 0.0, 1.0]])


def official_grid_affine(resolution: int, box_size: float = 1.0) -> np.ndarray:
    """4×4 affine from exact-lattice world positions to official ``create_samples`` positions.

    A volume sampled by the official code but treated as an exact lattice (e.g. a
    :class:`DensityGrid` read from an official .mrc) yields meshes displaced by the grid shear;
    ``mesh.transformed(official_grid_affine(N, box))`` moves them to where the density was really
    sampled. The map is exact for the ideal shear (it ignores float32 index rounding).
    """
    n = _check_resolution(resolution)
    box_size = _check_box(box_size)
    shear = _official_shear(n)
    origin = np.full(3, -box_size / 2)
    affine = np.eye(4)
    affine[:3, :3] = shear
    affine[:3, 3] = origin - shear @ origin
    return affine


@dataclass(frozen=True, eq=False)
class DensityGrid:
    """Raw density σ on a regular cubic grid in EG3D world space.

    Attributes:
        values: (N, N, N) float32 σ indexed ``[ix, iy, iz]`` (axis 0 = world x, 1 = y, 2 = z),
            as the official flat output reshaped to (N, N, N).
        origin: (3,) float64 world position (x, y, z) of voxel ``[0, 0, 0]``.
        voxel_size: spacing between samples in world units (same on all axes).

    Voxel ``[a, b, c]`` sits at ``origin + voxel_size · (a, b, c)``.
    """

    values: np.ndarray
    origin: np.ndarray
    voxel_size: float

    def __post_init__(self) -> None:
        values = np.ascontiguousarray(self.values, dtype=np.float32)
        if values.ndim != 3 or len(set(values.shape)) != 1 or values.shape[0] < 2:
            raise ValueError(
                f"DensityGrid values must be a cube of shape (N, N, N) with N >= 2, "
                f"got {values.shape}"
            )
        origin = np.asarray(self.origin, dtype=np.float64).reshape(-1)
        if origin.shape != (3,) or not np.isfinite(origin).all():
            raise ValueError(f"DensityGrid origin must be 3 finite numbers, got {self.origin!r}")
        voxel_size = float(self.voxel_size)
        if not np.isfinite(voxel_size) or voxel_size <= 0:
            raise ValueError(f"DensityGrid voxel_size must be positive, got {self.voxel_size!r}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "voxel_size", voxel_size)

    @property
    def resolution(self) -> int:
        return int(self.values.shape[0])

    @property
    def box_size(self) -> float:
        """Edge length of the cube spanned by the sample centres, in world units."""
        return self.voxel_size * (self.resolution - 1)

    @classmethod
    def from_values(
        cls, values: np.ndarray, resolution: int, box_size: float = 1.0
    ) -> DensityGrid:
        """Wrap σ queried at :func:`lattice_points` ``(resolution, box_size)``.

        ``values`` may be flat (N³,), (N³, 1) or already (N, N, N), in the lattice point order.
        Numpy arrays and CPU torch tensors are accepted.
        """
        n = _check_resolution(resolution)
        box_size = _check_box(box_size)
        array = np.asarray(values, dtype=np.float32)
        if array.size != n**3:
            raise ValueError(
                f"expected {n}³ = {n**3} density values for resolution {n}, "
                f"got shape {array.shape}"
            )
        return cls(array.reshape(n, n, n), np.full(3, -box_size / 2), box_size / (n - 1))

    def to_mesh(
        self,
        level: float = OFFICIAL_LEVEL,
        pad: int | None = None,
        pad_value: float = OFFICIAL_PAD_VALUE,
        *,
        require_surface: bool = False,
    ) -> Mesh:
        """Iso-surface ``σ = level`` by marching cubes (skimage, Lewiner), in world units.

        Args:
            level: iso-level on raw σ; 10 is the official threshold.
            pad: border width in voxels overwritten with ``pad_value`` on all six faces, which
                closes the surface where the face meets the box. ``None`` uses the official
                ``int(30·N/256)``; ``0`` disables padding.
            pad_value: value written into the border (must be below ``level`` to close).
            require_surface: when the volume never crosses ``level`` the result is an empty
                Mesh (0 vertices, 0 faces) by default, so batch jobs can record and skip it;
                with ``True`` a ValueError stating the σ range is raised instead.

        Returns:
            A Mesh with vertices ``origin + voxel_size · index`` (EG3D world units) and faces
            wound so that normals point out of the high-density region. Degenerate
            (zero-area) triangles are removed.

        Raises:
            ValueError: σ contains NaN/inf, ``pad`` is negative, or (with ``require_surface``)
                there is no crossing.
        """
        from skimage.measure import marching_cubes

        if not np.isfinite(self.values).all():
            raise ValueError("density grid contains NaN or infinite values")
        pad = official_pad_width(self.resolution) if pad is None else pad
        volume = pad_border(self.values, pad, pad_value) if pad else self.values
        low, high = float(volume.min()), float(volume.max())
        if not low < level < high:
            if require_surface:
                raise ValueError(
                    f"density grid has no surface at level {level}: σ (after padding) ranges "
                    f"over [{low:.4g}, {high:.4g}]"
                )
            return Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64))
        vertices, faces, _, _ = marching_cubes(volume, level=level, allow_degenerate=False)
        world = self.origin + vertices.astype(np.float64) * self.voxel_size
        # skimage winds faces so normals point towards higher values; we want them outwards.
        return Mesh(world, faces[:, ::-1])


def seed_voxel_mesh_to_world(mesh: Mesh, resolution: int, box_size: float = 1.0) -> Mesh:
    """Convert a mesh from the official gen_samples .ply path to EG3D world units.

    Those meshes (also the original project's published shapes) come from marching cubes at
    spacing 1 on the σ volume after flipping axis 0 and transposing (2, 1, 0), so a vertex
    ``(c0, c1, c2)`` is the voxel index ``(k, j, N-1-i)`` = (z, y, flipped x) of the official
    grid. This maps it through the official, sheared sample positions
    (``official_sample_points``), which is an exact affine map in index space, so vertices land
    where the density was really sampled. skimage orients those faces with normals pointing
    into the dense region; the result has them flipped to point outwards.
    """
    n = _check_resolution(resolution)
    box_size = _check_box(box_size)
    # (c0, c1, c2) -> (i, j, k) = (N-1-c2, c1, c0), then index -> official world position.
    permute = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    linear = (box_size / (n - 1)) * _official_shear(n) @ permute
    offset = (box_size / (n - 1)) * _official_shear(n) @ np.array([n - 1.0, 0.0, 0.0])
    world = mesh.vertices.astype(np.float64) @ linear.T + offset - box_size / 2
    # The index map is a proper rotation and the shear has det 1: only skimage's inward
    # winding needs reversing.
    return Mesh(world, mesh.faces[:, ::-1], mesh.vertex_colors)
