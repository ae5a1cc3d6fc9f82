"""Pictures of a depth model's training and predictions for notebooks: curves, qualitative grids, best / worst.

Depth maps are shown in the original project's per-image [-1, 1] convention (near = bright) whatever the model
regresses, so a metric model, a relative one and the published U-Net look alike and their errors compare: the
ground truth and the prediction are each normalised over the sample's mask
(:func:`helpers.depth.evaluate_depth.as_original_map`) and the error panel is ``|prediction − truth|`` on the mask.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from helpers.base import cameras
from helpers.base.captions import add_colorbar, add_header, column_centres
from helpers.base.photo import resize_square
from helpers.dataset_folder.splits import SplitConfig
from helpers.datasets.original_layouts import OriginalFolder, read_original_depth
from helpers.depth.data.depth_data_config import DepthDatasetConfig, PathLike
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.depth.evaluate_depth import EvaluationConfig, as_original_map, evaluate_depth_model, model_forward
from helpers.depth.metrics.depth_metrics import original_normalize
from helpers.depth.metrics.metrics_table import METRIC_INFO, MetricsTable, metric_mode
from helpers.depth.models import DepthModelConfig, LoadedDepthModel, load_depth_model
from helpers.depth.reconstruction import ReconstructConfig, depth_from_prediction, reconstruct, reconstruct_from_depth
from helpers.mesh import depth_to_mesh
from helpers.viewer import ViewerSample

__all__ = ["ValReview", "error_colors", "original_depth_sample", "original_layout_meshes", "prediction_meshes",
           "qualitative_grid", "ranked_ids", "review_val_split", "training_curves"]


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _floats(rows: list[dict[str, str]], key: str) -> list[float]:
    return [float(r[key]) if r.get(key) not in (None, "") else math.nan for r in rows]


def training_curves(run_dir: str | os.PathLike[str], metric: str = "original_l1") -> Any:
    """plotly figure of a :mod:`helpers.depth.depth_training` run: train / val loss against the step (left) and the val
    ``metric`` at each evaluation with the best one marked (right)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    run = Path(run_dir)
    steps, epochs = _read_csv(run / "train_log.csv"), _read_csv(run / "epochs.csv")
    if not steps and not epochs:
        raise FileNotFoundError(f"{run} has no train_log.csv or epochs.csv: is it a train-depth run folder?")
    direction = METRIC_INFO.get(metric, ("", ""))[1]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", f"val {metric} {direction}".strip()))
    fig.add_trace(go.Scatter(x=_floats(steps, "step"), y=_floats(steps, "loss"), name="train loss (step)",
                             mode="lines", line={"width": 1}), row=1, col=1)
    fig.add_trace(go.Scatter(x=_floats(epochs, "step"), y=_floats(epochs, "train_loss"), name="train loss (epoch)",
                             mode="lines+markers"), row=1, col=1)
    fig.add_trace(go.Scatter(x=_floats(epochs, "step"), y=_floats(epochs, "val_loss"), name="val loss",
                             mode="lines+markers"), row=1, col=1)
    fig.add_trace(go.Scatter(x=_floats(epochs, "step"), y=_floats(epochs, metric), name=f"val {metric}",
                             mode="lines+markers"), row=1, col=2)
    best = [r for r in epochs if r.get("best") == "1"]
    if best:
        fig.add_trace(go.Scatter(x=_floats(best[-1:], "step"), y=_floats(best[-1:], metric), name="best.pt",
                                 mode="markers", marker={"size": 12, "symbol": "star"}), row=1, col=2)
    fig.update_xaxes(title_text="step")
    fig.update_layout(height=340, margin={"l": 40, "r": 10, "t": 40, "b": 40}, title=run.name)
    return fig


def error_colors(error: np.ndarray, mask: np.ndarray, vmax: float = 0.5) -> np.ndarray:
    """(H, W) absolute error → (H, W, 3) uint8: black (0) → red → yellow (>= ``vmax``) on the mask, white off it."""
    t = np.clip(np.nan_to_num(error) / vmax, 0.0, 1.0)
    rgb = np.stack([np.clip(2 * t, 0, 1), np.clip(2 * t - 1, 0, 1), np.zeros_like(t)], axis=-1)
    out = np.full((*error.shape, 3), 255, np.uint8)
    out[mask] = np.rint(rgb[mask] * 255).astype(np.uint8)
    return out


def _gray(depth_map: np.ndarray) -> np.ndarray:
    """[-1, 1] map (1 = near) → (H, W, 3) uint8, near = bright."""
    value = np.rint(np.clip((depth_map + 1) / 2, 0, 1) * 255).astype(np.uint8)
    return np.repeat(value[..., None], 3, axis=-1)


@torch.no_grad()
def qualitative_grid(model: nn.Module, config: DepthModelConfig, dataset: Dataset, indices: Sequence[int], *,
                     tile: int = 128, metric_data: bool | None = None, error_max: float = 0.5) -> np.ndarray:
    """(H, W, 3) uint8 picture, one row per item: input | ground truth | prediction | error, with column titles and
    the error's colour bar in the pixels.

    Args:
        model, config: the network and its :class:`~helpers.depth.models.DepthModelConfig`.
        dataset: a :class:`~helpers.depth.data.depth_dataset.DepthDataset` without augmentation.
        indices: the items to show (e.g. the worst of a :class:`MetricsTable`, via :func:`ranked_ids`).
        tile: side of each panel in pixels.
        metric_data: the dataset's depth is metric z (default: ``dataset.metric``).
        error_max: error (in [-1, 1]-map units) shown as the brightest colour.
    """
    if not indices:
        raise ValueError("no items to show")
    metric = bool(getattr(dataset, "metric", True)) if metric_data is None else metric_data
    items = [dataset[int(i)] for i in indices]
    device = next(model.parameters()).device
    images = torch.stack([item["image"] for item in items]).to(device)
    depth = torch.stack([item["depth"] for item in items])
    mask = torch.stack([item["mask"] for item in items])
    was_training = model.training
    model.eval()
    try:
        pred = model_forward(model, config, images, depth.shape[-1]).cpu()
    finally:
        model.train(was_training)
    truth = original_normalize(depth, mask) if metric else depth
    shown = as_original_map(pred, mask, config.target)
    gap = 4
    grid = np.full((len(items) * (tile + gap) - gap, 4 * (tile + gap) - gap, 3), 255, np.uint8)
    for row, item in enumerate(items):
        m = mask[row, 0].numpy()
        t, p = truth[row, 0].numpy(), shown[row, 0].numpy()
        rgb = np.rint(item["image"].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        panels = [resize_square(rgb, tile, nearest=False), resize_square(_gray(np.where(m, t, -1)), tile, nearest=True),
                  resize_square(_gray(np.where(m, p, -1)), tile, nearest=True),
                  resize_square(error_colors(np.abs(p - t), m, error_max), tile, nearest=True)]
        y = row * (tile + gap)
        for column, panel in enumerate(panels):
            x = column * (tile + gap)
            grid[y:y + tile, x:x + tile] = panel
    titles = ("input", "truth (near = bright)", "prediction", "|error|")
    grid = add_header(grid, list(zip(column_centres(4, tile, gap), titles)))
    return add_colorbar(grid, lambda t: error_colors(t * error_max, np.ones(t.shape, bool), error_max), "0",
                        f"≥ {error_max:g}", title="|error| ([-1, 1] map units)")


def ranked_ids(table: MetricsTable, key: str = "original_l1", n: int = 4) -> tuple[list[str], list[str]]:
    """``(best, worst)``: the ids of the ``n`` best and ``n`` worst valid rows by ``key`` (best first in
    ``best``, worst first in ``worst``; "better" follows :data:`~helpers.depth.metrics.metrics_table.METRIC_INFO`). The two lists
    never share an id: with fewer than ``2n`` rows, ``worst`` gets what ``best`` left."""
    rows = [r for r in table.rows if r["valid"] and key in r and math.isfinite(float(r[key]))]  # type: ignore[arg-type]
    if not rows:
        raise ValueError(f"no valid rows with {key!r} in the table (columns: {table.columns})")
    ordered = sorted(rows, key=lambda r: float(r[key]), reverse=metric_mode(key) == "max")  # type: ignore[arg-type]
    ids = [str(r["id"]) for r in ordered]
    best = ids[:n]
    return best, ids[len(best):][::-1][:n]


@dataclass
class ValReview:
    """A trained model scored on the val split, with its best and worst samples (what notebooks 03 and 04 show).

    Attributes:
        model: the loaded model; val: the val :class:`DepthDataset` it was scored on (metric z-depth when every
        source has it, else the original's [-1, 1] maps); table: one metrics row per val sample; best, worst: ids
        by ``key`` (best first, worst first); grid: :func:`qualitative_grid` of ``best + worst``.
    """

    model: LoadedDepthModel
    val: DepthDataset
    table: MetricsTable
    best: list[str]
    worst: list[str]
    grid: np.ndarray


def review_val_split(checkpoint: PathLike | LoadedDepthModel, data: PathLike | Sequence[PathLike], *,
                     depth_size: int = 128, n: int = 3, key: str = "original_l1", batch_size: int = 16,
                     splits: SplitConfig | None = None) -> ValReview:
    """Load ``checkpoint`` (e.g. a run's ``best.pt``), score it on the val split of ``data`` (``splits``: the run's
    :class:`~helpers.dataset_folder.splits.SplitConfig`, default the toolkit's) and pick the ``n`` best and worst
    samples by ``key``."""
    trained = checkpoint if isinstance(checkpoint, LoadedDepthModel) else load_depth_model(checkpoint)
    roots = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    metric = DepthDataset(roots, DepthDatasetConfig(target="original")).all_sources_metric
    val = DepthDataset(roots, DepthDatasetConfig(image_size=trained.config.resolved_input_size, depth_size=depth_size,
                                                 split="val", splits=splits or SplitConfig(),
                                                 target="metric_z" if metric else "original"))
    table, _ = evaluate_depth_model(trained.model, trained.config, val,
                                    EvaluationConfig(batch_size=batch_size, progress=False))
    best, worst = ranked_ids(table, key, n=n)
    grid = qualitative_grid(trained.model, trained.config, val, [val.ids.index(i) for i in best + worst])
    return ValReview(model=trained, val=val, table=table, best=best, worst=worst, grid=grid)


def prediction_meshes(model: LoadedDepthModel, dataset: DepthDataset, sample_id: str) -> list[ViewerSample]:
    """One sample's predicted depth back-projected to a mesh (:func:`~helpers.depth.reconstruction.reconstruct`,
    the sample's mask as foreground, camera frame) and, when the dataset holds metric depth, its ground truth through
    the same back-projection (:func:`~helpers.depth.reconstruction.reconstruct_from_depth`), for
    :func:`helpers.viewer.samples_figure`."""
    item = dataset[dataset.ids.index(sample_id)]
    photo = np.rint(item["image"].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    face = item["mask"][0].numpy()
    config = ReconstructConfig(resolution=int(item["depth"].shape[-1]), frame="camera")
    rec = reconstruct(photo, config, model=model, mask=face)
    shown = [ViewerSample(name=f"{sample_id}: predicted ({rec.mesh.num_faces:,} faces, z mapped to "
                               f"{rec.z_range[0]:.2f}–{rec.z_range[1]:.2f})",
                          mesh=rec.mesh, image=rec.image, depth=rec.depth)]
    if dataset.config.target == "metric_z":
        truth = reconstruct_from_depth(photo, item["depth"][0].numpy(), config, mask=face)
        shown.append(ViewerSample(name=f"{sample_id}: ground truth", mesh=truth.mesh, image=truth.image,
                                  depth=truth.depth))
    return shown


def original_depth_sample(depth_png: PathLike, *, image: np.ndarray | None = None, camera: np.ndarray | None = None,
                          mask_threshold: float | None = -1.0, name: str | None = None) -> ViewerSample:
    """An 8-bit depth PNG of the original project (its published set, Prosopo) as a mesh: read as the original's mesh
    reader did (min–max per image to [-1, 1]), spread over the assumed face depth range
    (:data:`~helpers.depth.reconstruction.FRONTAL_FACE_Z_RANGE`; the maps carry no metric scale) and back-projected
    through ``camera`` (25,) (None: EG3D's frontal camera), foreground by the fallback mask, coloured by ``image``."""
    camera = camera if camera is not None else cameras.camera_vector(0.0, 0.0)[0].numpy()
    per_image, mask = read_original_depth(depth_png, mask_threshold, mapping="per_image")
    depth, face = depth_from_prediction(per_image, "original", mask=mask)
    cam2world, intrinsics = cameras.unpack(np.asarray(camera, dtype=np.float64).reshape(25))
    mesh = depth_to_mesh(depth, intrinsics, cam2world, mask=face, colors=image)
    return ViewerSample(name=name or Path(depth_png).stem, mesh=mesh, image=image, depth=depth)


def original_layout_meshes(folder: OriginalFolder, count: int = 3) -> list[ViewerSample]:
    """The first ``count`` samples of an original layout as meshes (:func:`original_depth_sample`: through each
    sample's camera, or EG3D's frontal camera where there is none, as for Prosopo), for
    :func:`helpers.viewer.samples_figure`."""
    shown = []
    for sample_id in folder.ids[:count]:
        sample = folder.load(sample_id)
        shown.append(original_depth_sample(folder.depth_path(sample_id), image=sample.image, camera=sample.camera,
                                           mask_threshold=folder.mask_threshold,
                                           name=f"{folder.root.name}: {sample.id}"))
    return shown
