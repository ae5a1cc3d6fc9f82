"""Unit tests of helpers.viewer (no browser): simplification, figures, HTML export, widget logic."""

from __future__ import annotations

import base64
import io
import stat
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image
from skimage.measure import marching_cubes

from helpers.mesh.mesh import Mesh
from helpers.viewer import (
    Lighting,
    MeshStyle,
    MeshViewer,
    ViewerSample,
    as_samples,
    cluster_vertices,
    export_html,
    find_chromium,
    mesh_figure,
    sample_figure,
    samples_figure,
    screenshot_html,
    simplify_for_display,
)
from helpers.viewer import screenshot as screenshot_module


def ellipsoid(n: int = 40, radii: tuple[float, float, float] = (0.3, 0.4, 0.35), colored: bool = True) -> Mesh:
    """Marching-cubes ellipsoid centred at the origin, outward winding, colour = position."""
    grid = np.linspace(-0.5, 0.5, n)
    x, y, z = np.meshgrid(grid, grid, grid, indexing="ij")
    field = (x / radii[0]) ** 2 + (y / radii[1]) ** 2 + (z / radii[2]) ** 2
    verts, faces, _, _ = marching_cubes(field, 1.0, spacing=(grid[1] - grid[0],) * 3)
    verts -= 0.5
    colors = np.clip((verts + 0.5) * 255, 0, 255).astype(np.uint8) if colored else None
    return Mesh(verts, faces, colors)


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return ellipsoid()


def outward_fraction(mesh: Mesh) -> float:
    """Share of faces whose normal points away from the origin (1.0 for a convex, outward mesh)."""
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return float(np.mean(np.einsum("ij,ij->i", mesh.face_normals(), centroids) > 0))


# --- simplify ------------------------------------------------------------------------------


def test_test_mesh_is_outward(mesh: Mesh) -> None:
    assert outward_fraction(mesh) > 0.99


def test_cluster_vertices_merges_and_cleans(mesh: Mesh) -> None:
    reduced = cluster_vertices(mesh, 0.05)
    assert 0 < reduced.num_faces < mesh.num_faces / 4
    faces = reduced.faces
    # no degenerate faces, no duplicates in either orientation, no unused vertices
    assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2]))
    assert len(np.unique(np.sort(faces, axis=1), axis=0)) == len(faces)
    assert np.array_equal(np.unique(faces), np.arange(reduced.num_vertices))
    # at most one vertex per grid cell, each a mean of original vertices: inside the original box
    lo, hi = mesh.bounds()
    assert np.all(reduced.vertices >= lo - 1e-6) and np.all(reduced.vertices <= hi + 1e-6)
    # shape and winding survive: still an outward ellipsoid of about the same size
    assert outward_fraction(reduced) > 0.95
    np.testing.assert_allclose(reduced.bounds(), mesh.bounds(), atol=0.05)


def test_cluster_vertices_averages_colors() -> None:
    # two triangles sharing a cell corner: vertices 0 and 3 merge, their colours average
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.01, 0.01, 0], [1, 1, 0], [2, 2, 0]], dtype=np.float32)
    colors = np.array([[0, 0, 0], [10, 10, 10], [20, 20, 20], [100, 200, 50], [30, 30, 30], [40, 40, 40]], np.uint8)
    mesh = Mesh(vertices, np.array([[0, 1, 2], [3, 4, 5]]), colors)
    reduced = cluster_vertices(mesh, 0.5)
    assert reduced.num_vertices == 5 and reduced.num_faces == 2
    merged = np.flatnonzero(np.all(np.abs(reduced.vertices - [0.005, 0.005, 0]) < 1e-6, axis=1))
    assert len(merged) == 1
    assert reduced.vertex_colors[merged[0]].tolist() == [50, 100, 25]


def test_cluster_vertices_rejects_bad_cell(mesh: Mesh) -> None:
    with pytest.raises(ValueError, match="cell_size"):
        cluster_vertices(mesh, 0.0)


def test_simplify_for_display_meets_budget(mesh: Mesh) -> None:
    assert simplify_for_display(mesh, mesh.num_faces) is mesh  # within budget: untouched
    budget = mesh.num_faces // 5
    reduced = simplify_for_display(mesh, budget)
    assert budget / 4 < reduced.num_faces <= budget
    assert reduced.vertex_colors is not None
    with pytest.raises(ValueError, match="max_faces"):
        simplify_for_display(mesh, 0)


# --- figures -------------------------------------------------------------------------------


def test_mesh_figure_shaded_defaults(mesh: Mesh) -> None:
    fig = mesh_figure(mesh, title="head")
    (trace,) = fig.data
    assert isinstance(trace, go.Mesh3d)
    assert trace.flatshading is False and trace.color == MeshStyle.base_color
    assert len(trace.i) == mesh.num_faces
    np.testing.assert_array_equal(np.asarray(trace.x), mesh.vertices[:, 0])
    assert trace.lighting.ambient == Lighting().ambient
    scene = fig.layout.scene
    assert scene.aspectmode == "data"
    assert scene.xaxis.visible is False and scene.yaxis.visible is False and scene.zaxis.visible is False
    # front view, y up
    assert scene.camera.eye.z > 0 and scene.camera.eye.x == 0 and scene.camera.up.y == 1
    assert fig.layout.title.text == "head"
    assert mesh_figure(mesh, show_axes=True).layout.scene.xaxis.visible is True


def test_mesh_figure_depth_colors_by_distance(mesh: Mesh) -> None:
    trace = mesh_figure(mesh, color="depth").data[0]
    np.testing.assert_allclose(np.asarray(trace.intensity), 2.7 - mesh.vertices[:, 2], rtol=1e-5)
    assert trace.showscale is True and trace.colorbar.title.text == "depth"


def test_mesh_figure_camera_view(mesh: Mesh) -> None:
    # A camera-frame mesh (OpenCV: y down, z forward) in front of the camera.
    camera_mesh = Mesh(mesh.vertices * [1, -1, -1] + [0, 0, 2.7], mesh.faces)
    trace = mesh_figure(camera_mesh, view="camera", color="depth").data[0]
    np.testing.assert_allclose(np.asarray(trace.intensity), camera_mesh.vertices[:, 2], rtol=1e-5)
    # drawn turned 180 degrees about x: what the camera sees ends up exactly like the EG3D view
    np.testing.assert_allclose(np.asarray(trace.y), -camera_mesh.vertices[:, 1])
    np.testing.assert_allclose(np.asarray(trace.z), -camera_mesh.vertices[:, 2])


def test_mesh_figure_vertex_colors(mesh: Mesh) -> None:
    trace = mesh_figure(mesh, color="vertex").data[0]
    r, g, b = mesh.vertex_colors[7]
    assert trace.vertexcolor[7] == f"#{r:02x}{g:02x}{b:02x}"
    with pytest.raises(ValueError, match="vertex_colors"):
        mesh_figure(Mesh(mesh.vertices, mesh.faces), color="vertex")


def test_mesh_figure_max_faces(mesh: Mesh) -> None:
    assert len(mesh_figure(mesh, max_faces=1000).data[0].i) <= 1000
    assert len(mesh_figure(mesh, max_faces=None).data[0].i) == mesh.num_faces


@pytest.mark.parametrize("kwargs", [{"color": "rainbow"}, {"view": "side"}, {"max_faces": 0}])
def test_mesh_figure_rejects_bad_options(mesh: Mesh, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        mesh_figure(mesh, **kwargs)


def test_mesh_figure_rejects_empty_mesh() -> None:
    with pytest.raises(ValueError, match="no faces"):
        mesh_figure(Mesh(np.zeros((0, 3)), np.zeros((0, 3))))


def test_viewer_sample_normalises_inputs() -> None:
    image = np.linspace(0, 1, 4 * 5 * 3).reshape(4, 5, 3)
    depth = np.array([[0.0, 2.5], [np.nan, 2.6]])
    sample = ViewerSample("s", image=image, depth=depth)
    assert sample.image.dtype == np.uint8 and sample.image[-1, -1, -1] == 255
    assert np.isnan(sample.depth[0, 0]) and np.isnan(sample.depth[1, 0]) and sample.depth[0, 1] == 2.5
    assert ViewerSample("g", image=np.zeros((4, 5), np.uint8)).image.shape == (4, 5, 3)
    with pytest.raises(ValueError, match="depth"):
        ViewerSample("bad", depth=np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="image"):
        ViewerSample("bad", image=np.zeros((2, 2, 5)))
    with pytest.raises(TypeError, match="Mesh"):
        ViewerSample("bad", mesh="head.ply")  # type: ignore[arg-type]


def test_as_samples_accepts_meshes_and_pairs(mesh: Mesh) -> None:
    assert [s.name for s in as_samples([mesh, mesh])] == ["mesh 0", "mesh 1"]
    assert [s.name for s in as_samples([("a", mesh), ("b", mesh)])] == ["a", "b"]
    assert [s.name for s in as_samples(("solo", mesh))] == ["solo"]
    assert as_samples(mesh)[0].mesh is mesh
    with pytest.raises(TypeError, match="item 1"):
        as_samples([mesh, 3])  # type: ignore[list-item]


def full_sample(mesh: Mesh, name: str = "full") -> ViewerSample:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)
    depth = np.full((8, 6), 2.4)
    depth[0, 0] = 0  # no surface
    return ViewerSample(name, mesh=mesh, image=image, depth=depth)


def test_sample_figure_panels(mesh: Mesh) -> None:
    sample = full_sample(mesh)
    fig = sample_figure(sample)
    assert [t.type for t in fig.data] == ["image", "heatmap", "mesh3d"]
    assert fig.layout.title.text == "full"
    assert not fig.layout.updatemenus
    # the image travels as a PNG that decodes to the same pixels
    png = base64.b64decode(fig.data[0].source.split(",", 1)[1])
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), sample.image)
    # no-surface pixels are gaps, and rows run downwards like in the image
    z = np.asarray(fig.data[1].z, dtype=float)
    assert np.isnan(z[0, 0]) and z[1, 1] == pytest.approx(2.4)
    assert fig.layout.yaxis2.autorange == "reversed"
    assert fig.layout.scene.aspectmode == "data"

    only_mesh = sample_figure(("m", mesh))
    assert [t.type for t in only_mesh.data] == ["mesh3d"]
    only_image = sample_figure(ViewerSample("i", image=sample.image))
    assert [t.type for t in only_image.data] == ["image"]
    with pytest.raises(ValueError, match="nothing|no image"):
        sample_figure(ViewerSample("empty"))


def test_samples_figure_dropdown_switches_visibility(mesh: Mesh) -> None:
    samples = [full_sample(mesh, "a"), ViewerSample("b", mesh=ellipsoid(24)), ViewerSample("c", depth=np.ones((4, 4)))]
    fig = samples_figure(samples)
    assert [t.type for t in fig.data] == ["image", "heatmap", "mesh3d", "mesh3d", "heatmap"]
    assert [t.visible for t in fig.data] == [True, True, True, False, False]
    (menu,) = fig.layout.updatemenus
    assert [b.label for b in menu.buttons] == ["a", "b", "c"]
    visible = np.array([b.args[0]["visible"] for b in menu.buttons])
    # each trace belongs to exactly one sample, and each button shows exactly its sample
    np.testing.assert_array_equal(visible.sum(axis=0), np.ones(len(fig.data)))
    assert visible[1].tolist() == [False, False, False, True, False]
    assert menu.buttons[2].args[1] == {"title.text": "c"}


# --- HTML export ---------------------------------------------------------------------------


def test_export_html_single_and_multi(mesh: Mesh, tmp_path: Path) -> None:
    single = export_html(mesh, tmp_path / "one.html", title="One <mesh>")
    text = single.read_text(encoding="utf-8")
    assert "<title>One &lt;mesh&gt;</title>" in text
    assert '"updatemenus":[{' not in text  # (the word itself is in plotly.js)
    multi = export_html([("first", mesh), ("second", mesh)], tmp_path / "sub" / "many.html")
    text = multi.read_text(encoding="utf-8")
    assert '"updatemenus":[{' in text and '"first"' in text and '"second"' in text
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["many.html", "one.html", "sub"]  # no temp files


def test_export_html_figure_and_errors(mesh: Mesh, tmp_path: Path) -> None:
    fig = mesh_figure(mesh)
    path = export_html(fig, tmp_path / "fig.html", title="Page")
    assert "Page" in path.read_text(encoding="utf-8")
    assert not fig.layout.title.text  # the caller's figure is not modified
    with pytest.raises(ValueError, match="at least one sample"):
        export_html([], tmp_path / "empty.html")
    assert not (tmp_path / "empty.html").exists()


# --- widget --------------------------------------------------------------------------------


def test_mesh_viewer_switching_renders_selected_sample(mesh: Mesh) -> None:
    shown: list[go.Figure] = []
    viewer = MeshViewer([("first", mesh), full_sample(ellipsoid(24), "second")], show=shown.append)
    assert shown == []  # nothing is built before the viewer is displayed
    viewer.show()
    assert [f.layout.title.text for f in shown] == ["first"]
    assert [t.type for t in shown[0].data] == ["mesh3d"]

    viewer.dropdown.value = 1
    assert viewer.index == 1 and viewer.slider.value == 1
    assert shown[-1].layout.title.text == "second" and viewer.figure is shown[-1]
    assert [t.type for t in shown[-1].data] == ["image", "heatmap", "mesh3d"]

    viewer.slider.value = 0
    assert viewer.dropdown.value == 0 and shown[-1].layout.title.text == "first"
    viewer.select("second")
    assert viewer.current.name == "second" and len(shown) == 4
    viewer.select(1)  # already selected: no redraw
    assert len(shown) == 4
    with pytest.raises(KeyError, match="third"):
        viewer.select("third")
    with pytest.raises(IndexError):
        viewer.select(5)


def test_mesh_viewer_inputs(mesh: Mesh) -> None:
    viewer = MeshViewer([mesh, mesh], style=MeshStyle(color="depth"), show=lambda fig: None)
    assert [label for label, _ in viewer.dropdown.options] == ["mesh 0", "mesh 1"]
    assert viewer.widget.children[1] is viewer.output
    viewer.show()
    assert viewer.figure.data[0].intensity is not None
    with pytest.raises(ValueError, match="at least one"):
        MeshViewer([])


# --- screenshot helpers (no browser needed) ------------------------------------------------


def test_find_chromium_errors_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        find_chromium()
    monkeypatch.delenv("CHROMIUM")
    monkeypatch.setattr(screenshot_module.os, "access", lambda *args: False)
    monkeypatch.setattr(screenshot_module.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        find_chromium()


def fake_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """An executable standing in for Chromium (via $CHROMIUM), and a page to 'render'."""
    fake = tmp_path / "fake-chromium"
    fake.write_text("#!/bin/sh\n" + script + "\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CHROMIUM", str(fake))
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    return page


def test_screenshot_html_reports_missing_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = fake_chromium(tmp_path, monkeypatch, "echo 'cannot render' >&2\nexit 3")
    with pytest.raises(RuntimeError, match="(?s)no PNG.*exit code 3.*cannot render"):
        screenshot_html(page, tmp_path / "shot.png")
    assert [p.name for p in tmp_path.iterdir() if ".png" in p.name] == []  # no partial output
    with pytest.raises(FileNotFoundError):
        screenshot_html(tmp_path / "missing.html", tmp_path / "shot.png")


def test_screenshot_html_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = fake_chromium(tmp_path, monkeypatch, "sleep 30")
    with pytest.raises(RuntimeError, match="did not finish within 1 s"):
        screenshot_html(page, tmp_path / "shot.png", timeout_s=1)
    assert not (tmp_path / "shot.png").exists()
