"""Scoring latent-code predictions: the latent error and the 3D error of what EG3D renders from the prediction.

Per sample (one :class:`~helpers.depth.metrics.metrics_table.MetricsTable` row):

- ``latent_l1`` / ``latent_l2``: mean absolute / squared error of w over its dimensions (per layer for W+
  predictions, against the sample's w on every layer); ``ws_l1``: the original project's measure, the mean absolute
  error over all 14×512 values of ws (equal to ``latent_l1`` for a single-w prediction, as the original's 14 rows
  were identical).
- rendered depth: the generator renders the predicted latent from the sample's own camera at its neural rendering
  resolution (fixed random draws), and its z-depth is scored against the sample's depth on the sample's mask with
  :func:`helpers.depth.metrics.depth_metrics.compute_depth_metrics` (no alignment: both are metric z in world units): ``abs_rel``,
  ``mae``, ``rmse``, ``delta1``. A sample whose depth cannot be scored (an empty mask: a random generator's faint
  density) has no depth values in its row; table means of those columns are over the scored samples.

Baselines use the same code with a constant prediction: ``w_avg`` (the generator's mean latent, what an untrained
encoder predicts) and the mean w of the training split.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from helpers.base.runtime import autocast
from helpers.depth.metrics.depth_metrics import DepthMetricsConfig, compute_depth_metrics
from helpers.depth.metrics.metrics_table import MetricsTable
from helpers.training.seeded_loader import make_loader

__all__ = ["constant_predictor", "encoder_predictor", "evaluate_latents", "latent_errors", "render_depth"]

Predictor = Callable[[torch.Tensor], torch.Tensor]

#: Rendered-depth metrics kept per sample (absent from a sample whose depth cannot be scored, e.g. an empty mask).
DEPTH_KEYS = ("abs_rel", "mae", "rmse", "delta1")


def latent_errors(pred: torch.Tensor, w: torch.Tensor, num_ws: int) -> dict[str, torch.Tensor]:
    """(N,) latent errors of predictions ``(N, w_dim)`` or ``(N, num_ws, w_dim)`` against true w ``(N, w_dim)``."""
    target = w[:, None, :] if pred.ndim == 3 else w
    diff = pred.float() - target.float()
    dims = tuple(range(1, diff.ndim))
    ws_pred = pred if pred.ndim == 3 else pred[:, None, :].expand(-1, num_ws, -1)
    return {"latent_l1": diff.abs().mean(dims).double(), "latent_l2": (diff ** 2).mean(dims).double(),
            "ws_l1": (ws_pred.float() - w[:, None, :].float()).abs().mean((1, 2)).double()}


def render_depth(generator: nn.Module, ws: torch.Tensor, cameras: torch.Tensor) -> torch.Tensor:
    """(N, 1, R, R) z-depth (world units) the generator renders for ws ``(N, num_ws, w_dim)`` from EG3D cameras
    ``(N, 25)`` at its neural rendering resolution R, with fixed random draws (seed 0) so calls are comparable.
    Differentiable with respect to ``ws``."""
    draws = generator.draws(ws.shape[0], generator=torch.Generator().manual_seed(0))
    return generator.synthesize(ws, cameras, draws=draws, super_resolution=False)["depth_z"].float()


def constant_predictor(w: torch.Tensor) -> Predictor:
    """A predictor that answers ``w`` (w_dim,) for every image (the baselines)."""
    return lambda images: w.to(images.device)[None].expand(images.shape[0], -1)


def encoder_predictor(encoder: nn.Module) -> Predictor:
    """The encoder's forward pass on a loader batch's images (RGB in [0, 1] at its input size)."""
    return lambda images: encoder(encoder.normalize(images))


@torch.no_grad()
def evaluate_latents(predict: Predictor, dataset: torch.utils.data.Dataset, generator: nn.Module | None, *,
                     num_ws: int, device: torch.device | str = "cpu", batch_size: int = 8, workers: int = 0,
                     precision: str = "fp32",
                     limit: int | None = None, progress: bool = True,
                     loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
                     ) -> tuple[MetricsTable, float]:
    """Score ``predict`` on ``dataset`` (a :class:`~helpers.latent.latent_dataset.LatentDataset` without augmentation, its
    depth at the generator's neural rendering resolution); ``generator`` None skips the rendered-depth metrics.
    Returns ``(table, mean loss)`` (NaN without ``loss``)."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    loader = make_loader(dataset, batch_size, shuffle=False, workers=workers)
    table, losses = MetricsTable(), []
    total = len(loader) if limit is None else min(limit, len(loader))
    for i, batch in enumerate(tqdm(loader, total=total, desc="evaluate", unit="batch", disable=not progress,
                                   leave=False)):
        if i >= total:
            break
        images, w = batch["image"].to(device), batch["w"].to(device)
        with autocast(device, precision):
            pred = predict(images).float()
        rows = latent_errors(pred, w, num_ws)
        if loss is not None:
            losses.append(float(loss(pred, w)))
        if generator is not None:
            ws = pred if pred.ndim == 3 else pred[:, None, :].expand(-1, num_ws, -1)
            depth = render_depth(generator, ws, batch["camera"].to(device))
            truth = batch["depth"].to(device)
            if depth.shape[-1] != truth.shape[-1]:
                raise ValueError(f"the dataset's depth is {truth.shape[-1]}² but the generator renders "
                                 f"{depth.shape[-1]}²: build the dataset with depth_size={depth.shape[-1]}")
            scores = compute_depth_metrics(depth, truth, batch["mask"].to(device),
                                           DepthMetricsConfig(on_degenerate="skip"), ids=batch["id"])
            rows.update({k: scores[k] for k in DEPTH_KEYS})
            depth_ok = scores["valid"].tolist()
        else:
            depth_ok = [False] * len(batch["id"])
        for i, sample_id in enumerate(batch["id"]):
            # A sample without a scorable depth (empty mask…) still has its latent errors.
            keys = [k for k in rows if depth_ok[i] or k not in DEPTH_KEYS]
            table.add_row(sample_id, {k: float(rows[k][i]) for k in keys})
    return table, (sum(losses) / len(losses) if losses else math.nan)
