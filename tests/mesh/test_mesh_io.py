"""Mesh files (.obj/.ply) and density volumes (.mrc): round trips, official layout, bad files."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

from helpers.mesh import (
    DensityGrid,
    Mesh,
    lattice_points,
    load_density_mrc,
    load_mesh,
    official_grid_affine,
    official_pad_width,
    official_sample_points,
    pad_border,
    save_density_mrc,
    save_mesh,
)


def coloured_mesh() -> Mesh:
    rng = np.random.default_rng(1)
    vertices = rng.normal(size=(6, 3)).astype(np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3], [3, 4, 5], [1, 5, 4]])
    return Mesh(vertices, faces, rng.integers(0, 256, size=(6, 3)).astype(np.uint8))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".PLY"])
def test_mesh_round_trip_keeps_order_and_colours(tmp_path: Path, suffix: str) -> None:
    mesh = coloured_mesh()
    path = save_mesh(mesh, tmp_path / f"sub/mesh{suffix}")
    loaded = load_mesh(path)
    np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=1e-6)
    np.testing.assert_array_equal(loaded.faces, mesh.faces)
    np.testing.assert_array_equal(loaded.vertex_colors, mesh.vertex_colors)
    assert leftovers(path.parent) == []


def test_binary_ply_without_colours(tmp_path: Path) -> None:
    mesh = Mesh(coloured_mesh().vertices, coloured_mesh().faces)
    path = save_mesh(mesh, tmp_path / "plain.ply")
    assert b"binary_little_endian" in path.read_bytes()[:200]
    loaded = load_mesh(path)
    np.testing.assert_array_equal(loaded.vertices, mesh.vertices)  # binary float32: exact
    assert loaded.vertex_colors is None


@pytest.mark.parametrize("suffix", [".obj", ".ply"])
def test_empty_mesh_needs_allow_empty(tmp_path: Path, suffix: str) -> None:
    path = save_mesh(Mesh(np.zeros((0, 3)), np.zeros((0, 3))), tmp_path / f"empty{suffix}")
    assert load_mesh(path, allow_empty=True).is_empty
    with pytest.raises(ValueError, match="no vertices"):
        load_mesh(path)


def test_missing_mesh_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothere.obj"):
        load_mesh(tmp_path / "nothere.obj")


def test_unsupported_mesh_suffix(tmp_path: Path) -> None:
    (tmp_path / "mesh.fbx").write_bytes(b"Kaydara FBX Binary")
    with pytest.raises(ValueError, match=r"\.fbx.*supported: \.obj, \.ply, \.stl, \.glb"):
        load_mesh(tmp_path / "mesh.fbx")
    with pytest.raises(ValueError, match="supported: .obj, .ply"):
        save_mesh(coloured_mesh(), tmp_path / "mesh.3mf")
    assert not (tmp_path / "mesh.3mf").exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.ply", b""),
        ("empty.obj", b""),
        ("text.obj", b"hello world\nthis is not a mesh\n"),
        ("binary.obj", bytes(range(256)) * 8),
        ("binary.ply", bytes(range(256)) * 8),
        ("truncated.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 10\n"
         b"property float x\nproperty float y\nproperty float z\nend_header\n\x00\x01"),
    ],
)
def test_unreadable_mesh_files_give_value_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{name} could not be read as a mesh: "):
        load_mesh(path)


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_mesh(coloured_mesh(), tmp_path / "mesh.ply")
    before = path.read_bytes()

    def broken(self: Mesh) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(Mesh, "to_trimesh", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_mesh(coloured_mesh(), path)
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_density_mrc_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    grid = DensityGrid(rng.normal(size=(7, 7, 7)), np.array([-0.25, 0.1, 0.3]), 0.05)
    path = save_density_mrc(grid, tmp_path / "grid.mrc")
    loaded = load_density_mrc(path, box_size=3.0)  # box_size is ignored for our own files
    np.testing.assert_array_equal(loaded.values, grid.values)
    np.testing.assert_allclose(loaded.origin, grid.origin, rtol=1e-6)
    assert loaded.voxel_size == pytest.approx(grid.voxel_size, rel=1e-6)
    with mrcfile.open(path) as mrc:  # MRC order: data[z][y][x]
        assert mrc.data[1, 2, 3] == grid.values[3, 2, 1]
        assert mrc.voxel_size.x == pytest.approx(0.05)
    assert leftovers(tmp_path) == []


def write_official_mrc(path: Path, volume: np.ndarray) -> None:
    """As gen_samples does: a raw float32 (mode 2) dump, no geometry, no label."""
    with mrcfile.new_mmap(path, overwrite=True, shape=volume.shape, mrc_mode=2) as mrc:
        mrc.data[:] = volume


def test_official_mrc_layout_from_the_fixture(tmp_path: Path, eg3d_reference: Path) -> None:
    shape = np.load(eg3d_reference / "shape.npz")
    write_official_mrc(tmp_path / "seed.mrc", shape["sigma_grid_postprocessed"])
    grid = load_density_mrc(tmp_path / "seed.mrc", box_size=1.0)
    expected = pad_border(shape["sigma_grid_raw"], int(shape["pad"]))
    np.testing.assert_array_equal(grid.values, expected)
    np.testing.assert_allclose(grid.origin, shape["voxel_origin"])
    assert grid.voxel_size == pytest.approx(float(shape["voxel_size"]))


def test_official_mrc_sphere_lands_in_place(tmp_path: Path) -> None:
    n, center, radius = 48, np.array([0.06, -0.04, 0.08]), 0.22
    sigma = 10 + 200 * (radius - np.linalg.norm(official_sample_points(n) - center, axis=1))
    volume = pad_border(np.flip(sigma.reshape(n, n, n), axis=0), official_pad_width(n))
    write_official_mrc(tmp_path / "sphere.mrc", volume)
    mesh = load_density_mrc(tmp_path / "sphere.mrc").to_mesh().transformed(official_grid_affine(n))
    radii = np.linalg.norm(mesh.vertices - center, axis=1)
    assert np.abs(radii - radius).max() < 0.01 * radius


def test_density_mrc_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.mrc"):
        load_density_mrc(tmp_path / "missing.mrc")
    (tmp_path / "junk.mrc").write_bytes(b"\x00\x01" * 700)
    with pytest.raises(ValueError, match="junk.mrc could not be read as an MRC volume"):
        load_density_mrc(tmp_path / "junk.mrc")
    with mrcfile.new(tmp_path / "flat.mrc") as mrc:
        mrc.set_data(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"flat.mrc does not hold a cubic"):
        load_density_mrc(tmp_path / "flat.mrc")
    grid = DensityGrid.from_values(np.zeros(len(lattice_points(4))), 4)
    save_density_mrc(grid, tmp_path / "ok.mrc")
    data = (tmp_path / "ok.mrc").read_bytes()
    (tmp_path / "cut.mrc").write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match="cut.mrc"):
        load_density_mrc(tmp_path / "cut.mrc")
