"""Pictures of the public datasets for notebooks: published depth maps, LPFF's rebalancing, 3DFaceNet's posed model,
mirrored pairs. Arrays are (H, W, 3) uint8 RGB; figures are plotly ``Figure`` objects (``fig.show()``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from helpers.base.captions import add_colorbar, add_header, column_centres, gray_ramp
from helpers.base.depth_png import read_legacy_depth_values
from helpers.base.photo import resize_square
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets.lpff.lpff_folder import mirror_name, with_mirrors
from helpers.datasets.lpff.pose_rebalance import poses_of, rebalance_counts
from helpers.datasets.original_layouts import OriginalFolder

__all__ = ["coarse_projection_figure", "mirror_pairs_sheet", "original_depth_sheet", "rebalance_figure"]

_GAP = 4


def _sheet(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Equal square tiles in rows, white gaps between them."""
    tile = rows[0][0].shape[0]
    width = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (tile + _GAP) - _GAP, width * (tile + _GAP) - _GAP, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            y, x = i * (tile + _GAP), j * (tile + _GAP)
            sheet[y:y + tile, x:x + tile] = panel
    return sheet


def original_depth_sheet(folder: OriginalFolder, count: int = 6, *, tile: int = 128) -> np.ndarray:
    """The first ``count`` samples of an original layout (the published synthetic set, Prosopo), one row each:
    image | depth as published (8-bit values, bright = near), with column titles and the depth's colour bar."""
    rows = []
    for sample_id in folder.ids[:count]:
        sample = folder.load(sample_id)
        gray = read_legacy_depth_values(folder.depth_path(sample_id))
        rows.append([resize_square(sample.image, tile),
                     np.repeat(resize_square(gray, tile, nearest=True)[..., None], 3, -1)])
    if not rows:
        raise ValueError(f"{folder.root} has no samples to show")
    sheet = add_header(_sheet(rows), list(zip(column_centres(2, tile, _GAP), ("image", "depth as published"))))
    return add_colorbar(sheet, gray_ramp, "far", "near", title="8-bit depth, per image")


def rebalance_figure(cameras: Mapping[str, np.ndarray], *, title: str = "") -> Any:
    """LPFF's rebalancing of these images (each with its mirror): their poses (θ, φ) coloured by the copies each
    gets (left) and the θ histogram before and after (right). The KDE sees only these poses."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cams = with_mirrors(cameras)
    poses = poses_of(np.stack(list(cams.values())))
    copies = rebalance_counts(poses)
    theta, phi = np.degrees(poses[:, 0]), np.degrees(poses[:, 1])
    fig = make_subplots(rows=1, cols=2, subplot_titles=("pose of each image (colour: copies)",
                                                        "θ before / after rebalancing"))
    fig.add_trace(go.Scatter(x=theta, y=phi, mode="markers", text=list(cams), name="images", marker={
        "color": copies, "colorscale": "Viridis", "cmin": 1, "cmax": 6, "colorbar": {"title": "copies", "x": 0.44}}),
        row=1, col=1)
    fig.add_trace(go.Histogram(x=np.repeat(theta, copies), name="rebalanced", marker_color="#2ca02c",
                               xbins={"size": 5}), row=1, col=2)
    fig.add_trace(go.Histogram(x=theta, name="as published", marker_color="#7f7f7f", opacity=0.8, xbins={"size": 5}),
                  row=1, col=2)
    fig.update_xaxes(title_text="θ (°)").update_yaxes(title_text="φ (°)", row=1, col=1)
    fig.update_layout(barmode="overlay", height=380,
                      title=f"{title}{': ' if title else ''}{len(cams)} images with mirrors → {copies.sum()} after "
                            "rebalancing")
    return fig


def coarse_projection_figure(sample: Mapping[str, Any], *, max_vertices: int = 5000) -> Any:
    """A 3DFaceNet CoarseData sample (:func:`helpers.datasets.facenet3d.load_coarse_sample`): its image with the
    posed face model's vertices (at most ``max_vertices``, cyan) and landmarks (red) on top, to check the pose
    convention by eye."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Image(z=sample["image"]))
    vertices = sample["mesh"].vertices
    u, v = (vertices[:: max(1, len(vertices) // max_vertices), :2] - 0.5).T  # go.Image puts pixel centres on integers
    fig.add_scatter(x=u, y=v, mode="markers", marker={"size": 2, "color": "cyan"}, name="mesh vertices")
    if sample.get("landmarks") is not None:
        lm = sample["landmarks"] - 0.5
        fig.add_scatter(x=lm[:, 0], y=lm[:, 1], mode="markers", marker={"size": 6, "color": "red"}, name="landmarks")
    fig.update_layout(height=420, title=f"{sample['id']}: the posed model projected onto the image")
    return fig


def mirror_pairs_sheet(dataset: DatasetFolder, count: int = 6, *, tile: int = 128) -> tuple[np.ndarray, list[str]]:
    """A converted LPFF folder with mirrors: ``count`` faces next to their mirrored samples, rarest poses (most
    copies) first; and one caption line per row (yaw in radians and copies of both)."""
    records = dataset.records
    faces = sorted((i for i in dataset.ids if not records[i].get("mirror")), key=lambda i: -records[i]["replicas"])
    pairs = [(i, mirror_name(i)) for i in faces[:count]]
    if not pairs:
        raise ValueError(f"{dataset.root} has no samples with mirrors to show")
    captions = ["   →   ".join(f"{i}: yaw {records[i]['yaw']:+.2f} rad, ×{records[i]['replicas']}" for i in pair)
                for pair in pairs]
    sheet = _sheet([[resize_square(dataset.load(i).image, tile) for i in pair] for pair in pairs])
    return add_header(sheet, list(zip(column_centres(2, tile, _GAP), ("face", "its mirror")))), captions
