"""Mesh cleanup (helpers.mesh.cleanup) on the analytic head's marching-cubes mesh with added floaters: walls and
floaters go, the kept surface barely moves, decimation hits its target, colours and the new file types survive;
``generate --meshes --clean-meshes`` writes cleaned meshes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import cli
from helpers.dataset_folder.manifest import read_samples
from helpers.generation.analytic_head import AnalyticHead
from helpers.mesh import DensityGrid, Mesh, lattice_points, load_mesh, save_mesh
from helpers.mesh.cleanup import HEAD_BOX, CleanConfig, clean_mesh, surface_distance

FLOATERS = ((0.3, 0.3, 0.3), (-0.35, 0.1, -0.3), (0.2, -0.35, 0.35))


@pytest.fixture(scope="module")
def raw() -> Mesh:
    """The analytic head at 96³ (its neck meets the padded box: a flat wall) plus three dense specks."""
    head = AnalyticHead()
    points = lattice_points(96, box_size=head.box_size)
    sigma = head.density(points).astype(np.float32)
    for centre in FLOATERS:
        speck = 60 * np.exp(-np.sum((points - np.asarray(centre)) ** 2, 1) / (2 * 0.02**2))
        sigma = np.maximum(sigma, speck.astype(np.float32))
    mesh = DensityGrid.from_values(sigma, 96, box_size=head.box_size).to_mesh(level=head.level)
    colors = (np.abs(mesh.vertices) * 400).clip(0, 255).astype(np.uint8)
    return Mesh(mesh.vertices, mesh.faces, colors)


def test_walls_and_floaters_go_and_the_head_stays(raw):
    clean, report = clean_mesh(raw, CleanConfig(smooth_iterations=0))
    assert report.walls > 100 and report.floaters > 100 and report.faces_out == clean.num_faces
    assert report.faces_in == report.walls + report.floaters + report.cropped + report.faces_out
    for centre in FLOATERS:  # nothing left near a speck
        assert np.linalg.norm(clean.vertices - np.asarray(centre), axis=1).min() > 0.03
    bottom = clean.vertices[:, 1].min()
    flat = np.isclose(clean.vertices[:, 1], bottom, atol=1e-4).sum()
    assert flat < 0.01 * clean.num_vertices  # no cap left at the bottom of the box
    assert surface_distance(clean, raw)["max"] < 1e-4  # without smoothing the kept faces are the raw ones (1% voxel)
    assert clean.vertex_colors is not None and len(clean.vertex_colors) == clean.num_vertices


def test_smoothing_keeps_the_surface_and_decimation_hits_its_target(raw):
    smooth, _ = clean_mesh(raw)
    moved = surface_distance(smooth, raw)
    assert moved["mean"] < 2e-3 and moved["p95"] < 5e-3  # world units: Taubin keeps the volume
    small, report = clean_mesh(raw, CleanConfig(target_faces=2000))
    assert 1800 <= small.num_faces <= 2000 and report.faces_out == small.num_faces
    assert surface_distance(small, smooth)["p95"] < 0.02
    assert small.vertex_colors is not None and small.vertex_colors.shape == (small.num_vertices, 3)


def test_crop_and_empty_meshes(raw):
    cropped, report = clean_mesh(raw, CleanConfig(crop=((-1, 0.0, -1), (1, 1, 1)), smooth_iterations=0))
    assert report.cropped > 0 and cropped.vertices[:, 1].min() > -0.05
    assert clean_mesh(Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)))[1].faces_out == 0
    assert HEAD_BOX[0][1] < 0 < HEAD_BOX[1][1]
    with pytest.raises(ValueError, match="low < high"):
        CleanConfig(crop=((0, 0, 0), (0, 1, 1)))


@pytest.mark.parametrize("suffix", [".stl", ".glb"])
def test_new_file_types_round_trip(raw, tmp_path, suffix):
    small, _ = clean_mesh(raw, CleanConfig(target_faces=500))
    loaded = load_mesh(save_mesh(small, tmp_path / f"head{suffix}"))
    assert loaded.num_faces == small.num_faces
    # STL stores each triangle's corners on their own: compare the distinct points.
    distinct = [np.unique(np.round(m.vertices.astype(np.float64), 5), axis=0) for m in (loaded, small)]
    np.testing.assert_allclose(distinct[0], distinct[1], atol=1e-5)


def test_generate_writes_cleaned_meshes(tmp_path, capsys):
    out = tmp_path / "set"
    args = ["generate", "--checkpoint", "tiny-random", "--seeds", "0-1", "--out", str(out), "--device", "cpu",
            "--meshes", "--mesh-resolution", "24", "--mesh-level", "0.8", "--no-progress"]
    assert cli.main([*args, "--clean-meshes", "--mesh-faces", "200", "--mesh-format", "glb"]) == 0
    records = read_samples(out)
    for record in records.values():
        assert record["files"]["mesh"].endswith(".glb") and 0 < record["mesh_faces"] <= 200
    meta = json.loads((out / "meta.json").read_text())
    assert meta["settings"]["mesh"]["clean"]["target_faces"] == 200
    capsys.readouterr()
    assert cli.main([*args, "--mesh-faces", "200"]) == 2
    assert "add --clean-meshes" in capsys.readouterr().err
