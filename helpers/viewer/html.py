"""Standalone HTML export: one file that opens in any browser, offline, without Python.

plotly.js (~4.8 MB) is embedded in the file (``include_plotlyjs=True``), never loaded from a
CDN, so the page works on machines without internet. Several samples go into ONE page with a
plotly dropdown menu that switches between them in the browser.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from pathlib import Path

import plotly.graph_objects as go

from helpers.base.atomic import atomic_path
from helpers.viewer.figure import MeshStyle, SampleLike, as_samples, samples_figure

# Render at the page's size and hide plotly's logo; the mode bar keeps "download as PNG".
PLOTLY_CONFIG = {"responsive": True, "displaylogo": False, "scrollZoom": True}


def figure_html(fig: go.Figure, *, title: str | None = None) -> str:
    """A full standalone HTML document for ``fig`` with plotly.js embedded.

    ``title`` becomes the page's <title> (and the figure title if the figure has none).
    """
    if title and not (fig.layout.title and fig.layout.title.text):
        fig = go.Figure(fig)  # copy: do not change the caller's figure
        fig.update_layout(title={"text": title, "x": 0.5})
    page = fig.to_html(include_plotlyjs=True, full_html=True, config=PLOTLY_CONFIG, default_width="100%")
    if title:
        page = page.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
    return page


def export_html(
    samples_or_figure: go.Figure | SampleLike | Iterable[SampleLike],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    style: MeshStyle | None = None,
) -> Path:
    """Write a standalone, offline HTML viewer and return its path.

    Args:
        samples_or_figure: a plotly Figure (written as is), or one or more samples
            (:class:`ViewerSample`, :class:`Mesh` or (name, Mesh) pairs). Several samples give
            one page with a dropdown that switches between them.
        path: output file (parent folders are created; written atomically).
        title: page title.
        style: how meshes are drawn (:class:`MeshStyle`); ignored for a Figure.

    Raises:
        ValueError: no samples were given.
    """
    if isinstance(samples_or_figure, go.Figure):
        fig = samples_or_figure
    else:
        samples = as_samples(samples_or_figure)
        if not samples:
            raise ValueError("export_html needs at least one sample (or a plotly Figure); got an empty list")
        fig = samples_figure(samples, style or MeshStyle())
    page = figure_html(fig, title=title)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
