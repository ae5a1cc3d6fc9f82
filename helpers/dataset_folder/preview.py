"""Pictures of a dataset folder for notebooks: a contact sheet of samples and the pose histogram."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from helpers.base.cameras import pitch_to_elevation
from helpers.base.captions import add_colorbar, add_header, column_centres, gray_ramp
from helpers.base.photo import resize_square
from helpers.dataset_folder.reader import DatasetFolder


def depth_to_gray(depth: np.ndarray) -> np.ndarray:
    """(H, W) z-depth → uint8 picture: near = bright, stretched over the sample's own surface
    pixels (for looking only; the files keep metric depth), black where there is no surface."""
    valid = depth > 0
    out = np.zeros(depth.shape, np.uint8)
    if valid.any():
        lo, hi = float(depth[valid].min()), float(depth[valid].max())
        scaled = (hi - depth) / max(hi - lo, 1e-6)
        out[valid] = np.round(40 + 215 * scaled[valid]).astype(np.uint8)
    return out


def contact_sheet(dataset: DatasetFolder, ids: Sequence[str] | None = None, *, tile: int = 160,
                  columns: int = 2) -> np.ndarray:
    """(H, W, 3) uint8 grid: for each sample its image, depth (near = bright) and opacity mask side by side (white
    panels where a sample has no depth or mask), with column titles and the depth's colour bar."""
    ids = list(ids if ids is not None else dataset.ids[:8])
    if not ids:
        raise ValueError("the dataset has no samples to show")
    rows = math.ceil(len(ids) / columns)
    gap = 4
    cell_w = 3 * tile + 2 * gap
    sheet = np.full((rows * (tile + gap), columns * (cell_w + 3 * gap), 3), 255, np.uint8)
    for n, sample_id in enumerate(ids):
        sample = dataset.load(sample_id)
        blank = np.full((tile, tile, 3), 255, np.uint8)  # photo collections (LPFF) have no depth or mask
        panels = [
            resize_square(sample.image, tile),
            blank if sample.depth is None else
            np.repeat(resize_square(depth_to_gray(sample.depth), tile, nearest=True)[..., None], 3, -1),
            blank if sample.mask is None else
            np.repeat(resize_square(np.round(sample.mask * 255).astype(np.uint8), tile, nearest=True)[..., None], 3, -1),
        ]
        r, c = divmod(n, columns)
        y, x = r * (tile + gap), c * (cell_w + 3 * gap)
        for k, panel in enumerate(panels):
            sheet[y:y + tile, x + k * (tile + gap): x + k * (tile + gap) + tile] = panel
    titles = [(x, title) for c in range(min(columns, len(ids)))
              for x, title in zip(column_centres(3, tile, gap, c * (cell_w + 3 * gap)), ("image", "depth", "mask"))]
    return add_colorbar(add_header(sheet, titles), gray_ramp, "far", "near", title="depth (per sample)")


def pose_histogram(dataset: DatasetFolder) -> Any:
    """plotly figure: histograms of the sampled yaw and elevation (degrees) per viewpoint category."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    by_category: dict[str, list[dict]] = {}
    for record in dataset.records.values():
        by_category.setdefault(record["category"], []).append(record)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("yaw (°)", "elevation (°)"))
    for name, records in sorted(by_category.items()):
        yaw = np.degrees([r["yaw"] for r in records])
        elevation = np.degrees([pitch_to_elevation(r["pitch"]) for r in records])
        label = f"{name} ({len(records)})"
        fig.add_trace(go.Histogram(x=yaw, name=label, legendgroup=name, xbins={"size": 5}), row=1, col=1)
        fig.add_trace(go.Histogram(x=elevation, name=label, legendgroup=name, showlegend=False, xbins={"size": 1}),
                      row=1, col=2)
    fig.update_layout(barmode="stack", height=320, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      title=f"{len(dataset)} samples by viewpoint category")
    return fig
