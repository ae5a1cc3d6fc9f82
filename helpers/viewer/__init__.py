"""Mesh viewer: plotly figures, an ipywidgets browser, standalone HTML export, screenshots.

- :func:`mesh_figure`      a shaded, rotatable 3D view of one :class:`~helpers.mesh.mesh.Mesh`
- :func:`sample_figure`    input image, depth map and mesh of one :class:`ViewerSample` side by side
- :func:`samples_figure`   several samples in one figure with a dropdown menu
- :func:`export_html`      a standalone HTML file (plotly.js embedded: works offline)
- :class:`MeshViewer`      notebook widget to browse samples (Jupyter and Colab)
- :func:`screenshot_html`  PNG of an HTML page through headless Chromium
- :func:`turntable_frames` shaded renders of a mesh turning about the vertical axis (for GIFs and videos)

Large meshes are reduced for display by vertex clustering (:mod:`helpers.viewer.simplify`).
"""

from __future__ import annotations

from helpers.viewer.figure import (
    VIEWS,
    Lighting,
    MeshStyle,
    ViewerSample,
    ViewPreset,
    as_samples,
    mesh_figure,
    mesh_trace,
    sample_figure,
    samples_figure,
)
from helpers.viewer.html import export_html, figure_html
from helpers.viewer.screenshot import find_chromium, screenshot_html
from helpers.viewer.simplify import cluster_vertices, simplify_for_display
from helpers.viewer.turntable import turntable_frames
from helpers.viewer.widget import MeshViewer

__all__ = [
    "VIEWS",
    "Lighting",
    "MeshStyle",
    "MeshViewer",
    "ViewPreset",
    "ViewerSample",
    "as_samples",
    "cluster_vertices",
    "export_html",
    "figure_html",
    "find_chromium",
    "mesh_figure",
    "mesh_trace",
    "sample_figure",
    "samples_figure",
    "screenshot_html",
    "simplify_for_display",
    "turntable_frames",
]
