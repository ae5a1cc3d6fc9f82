"""Density grids, the official sample grid and its quirk, and marching-cubes meshes."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import marching_cubes

from helpers.mesh import (
    DensityGrid,
    Mesh,
    lattice_points,
    official_grid_affine,
    official_pad_width,
    official_sample_points,
    pad_border,
    seed_voxel_mesh_to_world,
)

CENTER = np.array([0.05, -0.03, 0.1])  # off-centre so that axis swaps and flips show up
RADIUS = 0.25


def sphere_sigma(
    points: np.ndarray, center: np.ndarray = CENTER, radius: float = RADIUS
) -> np.ndarray:
    """Raw σ of an analytic ball: 10 on the sphere, higher inside, linear in the distance."""
    return 10.0 + 200.0 * (radius - np.linalg.norm(points - center, axis=1))


def radial_error(mesh: Mesh, center: np.ndarray = CENTER, radius: float = RADIUS) -> float:
    return float(np.abs(np.linalg.norm(mesh.vertices - center, axis=1) - radius).max() / radius)


def outward_fraction(mesh: Mesh, center: np.ndarray = CENTER) -> float:
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return float(np.mean(np.sum(mesh.face_normals() * (centroids - center), axis=1) > 0))


def is_closed(mesh: Mesh) -> bool:
    """Every undirected edge is shared by exactly two faces."""
    edges = np.sort(mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    return bool((counts == 2).all())


def signed_volume(mesh: Mesh) -> float:
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6)


def test_lattice_points_order_spacing_and_extent() -> None:
    n = 5
    points = lattice_points(n, box_size=2.0)
    assert points.shape == (n**3, 3) and points.dtype == np.float32
    assert points.min() == -1.0 and points.max() == 1.0
    i, j, k = 2, 3, 4
    np.testing.assert_allclose(points[i * n * n + j * n + k], np.array([i, j, k]) * 0.5 - 1.0)
    np.testing.assert_array_equal(np.unique(np.diff(np.unique(points[:, 0]))), [0.5])


def test_official_sample_points_match_the_fixture(eg3d_reference) -> None:
    shape = np.load(eg3d_reference / "shape.npz")
    points = official_sample_points(32, box_size=1.0)
    assert points.dtype == np.float32
    np.testing.assert_allclose(points, shape["grid_points"], rtol=0, atol=1e-6)
    # The quirk is real: the exact lattice is about one voxel (1/31) away from the official one.
    assert np.abs(lattice_points(32) - shape["grid_points"]).max() > 0.9 / 31
    assert official_pad_width(32) == int(shape["pad"])


def test_official_grid_affine_maps_the_lattice_onto_the_official_points() -> None:
    n = 24
    lattice = lattice_points(n, 1.0).astype(np.float64)
    affine = official_grid_affine(n, 1.0)
    mapped = lattice @ affine[:3, :3].T + affine[:3, 3]
    np.testing.assert_allclose(mapped, official_sample_points(n, 1.0), atol=1e-6)


def test_pad_border_reproduces_the_official_postprocessing(eg3d_reference) -> None:
    shape = np.load(eg3d_reference / "shape.npz")
    flipped = np.flip(shape["sigma_grid_raw"], axis=0)
    volume = pad_border(flipped, int(shape["pad"]), float(shape["pad_value"]))
    np.testing.assert_array_equal(volume, shape["sigma_grid_postprocessed"])
    np.testing.assert_array_equal(shape["sigma_grid_raw"], shape["sigma_raw"].reshape(32, 32, 32))


def test_from_values_places_values_at_their_lattice_points() -> None:
    n = 6
    points = lattice_points(n, 1.0)
    grid = DensityGrid.from_values(points @ np.array([1.0, 2.0, 3.0]), n, 1.0)
    assert grid.values.shape == (n, n, n) and grid.resolution == n
    assert grid.voxel_size == pytest.approx(1 / (n - 1)) and grid.box_size == pytest.approx(1.0)
    index = np.array([1, 4, 2])
    expected = (grid.origin + grid.voxel_size * index) @ np.array([1.0, 2.0, 3.0])
    assert grid.values[tuple(index)] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"values": np.zeros((4, 4, 5)), "origin": np.zeros(3), "voxel_size": 0.1}, "cube"),
        ({"values": np.zeros((4, 4)), "origin": np.zeros(3), "voxel_size": 0.1}, "cube"),
        ({"values": np.zeros((4, 4, 4)), "origin": np.zeros(2), "voxel_size": 0.1}, "origin"),
        ({"values": np.zeros((4, 4, 4)), "origin": np.zeros(3), "voxel_size": 0.0}, "voxel_size"),
        ({"values": np.zeros((4, 4, 4)), "origin": [np.nan, 0, 0], "voxel_size": 0.1}, "origin"),
    ],
)
def test_density_grid_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DensityGrid(**kwargs)


def test_from_values_rejects_a_wrong_count() -> None:
    with pytest.raises(ValueError, match="expected 4³ = 64"):
        DensityGrid.from_values(np.zeros(63), 4)
    with pytest.raises(ValueError, match="resolution"):
        DensityGrid.from_values(np.zeros(1), 1)


def test_sphere_mesh_is_on_the_sphere_with_outward_normals() -> None:
    n = 128
    grid = DensityGrid.from_values(sphere_sigma(lattice_points(n)), n)
    mesh = grid.to_mesh()
    assert mesh.num_faces > 10_000
    assert radial_error(mesh) < 0.01
    np.testing.assert_allclose(mesh.vertices.mean(axis=0), CENTER, atol=2e-3)
    assert outward_fraction(mesh) == 1.0
    assert is_closed(mesh) and signed_volume(mesh) > 0
    assert signed_volume(mesh) == pytest.approx(4 / 3 * np.pi * RADIUS**3, rel=0.01)


def test_padding_closes_a_surface_cut_by_the_box() -> None:
    n = 40
    points = lattice_points(n).astype(np.float64)
    # Dense half-space z < 0.1: the iso-surface is a plane that runs into the box walls.
    grid = DensityGrid.from_values(10.0 + 100.0 * (0.1 - points[:, 2]), n)
    open_mesh = grid.to_mesh(pad=0)
    assert not is_closed(open_mesh)
    np.testing.assert_allclose(open_mesh.vertices[:, 2], 0.1, atol=1e-5)
    assert (open_mesh.face_normals()[:, 2] > 0.99).all()  # pointing out of the dense side
    closed = grid.to_mesh()  # official border of int(30·40/256) = 4 voxels
    assert is_closed(closed) and signed_volume(closed) > 0
    inner = 0.5 - official_pad_width(n) / (n - 1)
    # The walls sit between the last padded and the first free voxel.
    assert inner - 1e-6 <= np.abs(closed.vertices[:, :2]).max() <= inner + 1 / (n - 1)


def test_no_crossing_gives_an_empty_mesh_or_a_clear_error() -> None:
    grid = DensityGrid.from_values(np.full(16**3, 1.5, np.float32), 16)  # pad 1
    mesh = grid.to_mesh()
    assert mesh.is_empty and mesh.num_vertices == 0
    with pytest.raises(ValueError, match=r"no surface at level 10.*\[-1000, 1\.5\]"):
        grid.to_mesh(require_surface=True)
    with pytest.raises(ValueError, match="pad"):
        grid.to_mesh(pad=-1)


def test_to_mesh_rejects_nan() -> None:
    values = np.zeros((4, 4, 4), np.float32)
    values[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DensityGrid(values, np.zeros(3), 0.1).to_mesh()


def official_ply_mesh(sigma_flat: np.ndarray, n: int) -> Mesh:
    """The official gen_samples .ply path, written from the eg3d_reference fixture README §7."""
    volume = np.flip(sigma_flat.reshape(n, n, n), axis=0)
    volume = pad_border(volume, official_pad_width(n), -1000.0).transpose(2, 1, 0)
    vertices, faces, _, _ = marching_cubes(volume, level=10.0, spacing=(1.0, 1.0, 1.0))
    return Mesh(vertices, faces)


def test_seed_voxel_mesh_to_world_recovers_the_analytic_sphere() -> None:
    n = 64
    seed_mesh = official_ply_mesh(sphere_sigma(official_sample_points(n).astype(np.float64)), n)
    world = seed_voxel_mesh_to_world(seed_mesh, n, box_size=1.0)
    assert radial_error(world) < 0.01
    assert outward_fraction(world) == 1.0 and signed_volume(world) > 0
    # Without the shear correction the sphere is off by up to one voxel (1/63 ≈ 6% of R).
    naive = (seed_mesh.vertices[:, [2, 1, 0]] * [-1, 1, 1] + [n - 1, 0, 0]) / (n - 1) - 0.5
    assert radial_error(Mesh(naive, seed_mesh.faces)) > 0.02


def test_official_grid_affine_corrects_a_grid_sampled_on_official_points() -> None:
    n = 64
    sigma = sphere_sigma(official_sample_points(n).astype(np.float64))
    as_lattice = DensityGrid.from_values(sigma, n).to_mesh()
    assert radial_error(as_lattice) > 0.02
    corrected = as_lattice.transformed(official_grid_affine(n))
    assert radial_error(corrected) < 0.01 and outward_fraction(corrected) == 1.0
