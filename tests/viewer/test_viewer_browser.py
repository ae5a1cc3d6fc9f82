"""End-to-end checks of the exported viewer in a real browser (headless Chromium + SwiftShader).

Chromium is required: without it these tests fail with the install hint (they never skip).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.measure import marching_cubes

from helpers.mesh.mesh import Mesh
from helpers.viewer import MeshStyle, ViewerSample, export_html, find_chromium, screenshot_html

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1000, 700
# The shaded colour is the base colour times a lighting factor: compare chromaticities.
SKIN = np.array([int(MeshStyle.base_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=float)
BLUE = np.array([30.0, 60.0, 220.0])


def face_like_mesh(n: int = 96) -> Mesh:
    """A head-sized ellipsoid with a nose and two eye sockets (EG3D frame: y up, face to +z)."""
    grid = np.linspace(-0.5, 0.5, n)
    x, y, z = np.meshgrid(grid, grid, grid, indexing="ij")
    head = np.sqrt((x / 0.33) ** 2 + (y / 0.42) ** 2 + (z / 0.36) ** 2) - 1
    nose = np.sqrt((x / 0.05) ** 2 + ((y + 0.02) / 0.10) ** 2 + ((z - 0.34) / 0.08) ** 2) - 1
    eyes = np.minimum(np.hypot(np.abs(x) - 0.12, y - 0.08), 1.0)
    eyes = np.sqrt(eyes**2 + (z - 0.36) ** 2) / 0.07 - 1
    field = np.maximum(np.minimum(head, 0.3 * nose), -0.3 * eyes)
    verts, faces, _, _ = marching_cubes(field, 0.0, spacing=(grid[1] - grid[0],) * 3)
    return Mesh(verts - 0.5, faces)


def color_mask(rgb: np.ndarray, color: np.ndarray, tolerance: float = 0.03) -> np.ndarray:
    """Pixels whose chromaticity matches ``color`` (any brightness above near-black)."""
    rgb = rgb.astype(float)
    total = rgb.sum(axis=-1, keepdims=True)
    chroma = rgb / np.maximum(total, 1.0)
    target = color / color.sum()
    return (np.abs(chroma - target).max(axis=-1) < tolerance) & (total[..., 0] > 60)


def load_rgb(path: Path) -> np.ndarray:
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (HEIGHT, WIDTH, 3), f"screenshot has shape {image.shape}"
    return image


def screenshot(html: Path) -> np.ndarray:
    return load_rgb(screenshot_html(html, html.with_suffix(".png"), width=WIDTH, height=HEIGHT))


def test_exported_mesh_renders_shaded(tmp_path: Path) -> None:
    find_chromium()  # fails (not skips) with "apt-get install chromium" when it is missing
    page = export_html([("face", face_like_mesh())], tmp_path / "face.html", title="face")
    text = page.read_text(encoding="utf-8")
    # Offline: plotly.js is embedded, no script is loaded from elsewhere.
    assert re.search(r"<script[^>]*\bsrc=", text) is None and "plotly.js v" in text
    image = screenshot(page)

    # The mesh sits in the middle of the canvas and covers a good part of it.
    middle = image[HEIGHT // 4 : 3 * HEIGHT // 4, WIDTH // 3 : 2 * WIDTH // 3]
    skin = color_mask(middle, SKIN)
    assert skin.mean() > 0.4, f"only {skin.mean():.1%} of the plot centre shows the mesh colour"
    # The page margins stay background.
    assert not color_mask(image[:, : WIDTH // 8], SKIN).any()

    # Lit, not flat (plotly's flat shading renders this mesh uniformly dark): a visible
    # brightness range over the mesh ...
    luminance = middle.astype(float).mean(axis=-1)
    lit = luminance[skin]
    assert np.percentile(lit, 95) - np.percentile(lit, 5) > 25
    # ... that varies smoothly: neighbouring mesh pixels differ little, except along the few
    # real creases (eye sockets, nose), where per-triangle blotches would jump everywhere.
    both = skin[:, 1:] & skin[:, :-1]
    jumps = np.abs(np.diff(luminance, axis=1))[both]
    assert np.median(jumps) < 2 and np.mean(jumps > 12) < 0.03, f"{np.mean(jumps > 12):.2%} of neighbours jump"


def test_dropdown_switches_samples_in_browser(tmp_path: Path) -> None:
    find_chromium()
    photo = np.zeros((64, 64, 3), np.uint8)
    photo[:] = BLUE
    samples = [ViewerSample("photo only", image=photo), ViewerSample("face", mesh=face_like_mesh(64))]
    page = export_html(samples, tmp_path / "samples.html")
    text = page.read_text(encoding="utf-8")
    assert '"updatemenus":[{' in text and '"photo only"' in text and '"face"' in text

    def halves(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        body = image[HEIGHT // 5 :]  # below the title and the menu
        return body[:, : WIDTH // 3], body[:, WIDTH // 2 :]  # image panel, mesh panel

    # First sample: the photo panel is blue, the mesh panel is empty (a blank panel fails).
    left, right = halves(screenshot(page))
    assert color_mask(left, BLUE).mean() > 0.2
    assert color_mask(right, SKIN).mean() < 0.001

    # Open the dropdown and pick the second entry the way a user does (mouse clicks).
    click = """
<script>
function clickOn(node) { node.dispatchEvent(new MouseEvent('click', {bubbles: true})); }
window.addEventListener('load', function () {
  setTimeout(function () {
    clickOn(document.querySelector('.updatemenu-header'));
    setTimeout(function () { clickOn(document.querySelectorAll('.updatemenu-dropdown-button')[1]); }, 500);
  }, 1000);
});
</script>
"""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(text.replace("</body>", click + "</body>"), encoding="utf-8")
    left, right = halves(screenshot(clicked))
    assert color_mask(left, BLUE).mean() < 0.001
    assert color_mask(right, SKIN).mean() > 0.1
