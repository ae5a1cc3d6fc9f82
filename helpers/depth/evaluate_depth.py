"""Scoring a depth model on a :class:`~helpers.depth.data.depth_dataset.DepthDataset`: one metrics row per sample.

The same code scores a validation split during training (:mod:`helpers.depth.depth_training`) and any trained or
published model on a benchmark (Prosopo, notebook 06). How a prediction is compared with the ground truth depends on
what the model regresses (:attr:`helpers.depth.models.DepthModelConfig.target`) and on what the data holds: on metric
z (this toolkit's folders) a ``metric_z`` model is scored as is and the others after a per-image scale + shift fit
(``original`` in depth space, ``relative_inverse`` in disparity space); on data in the original's [-1, 1] convention
every model gets the original's L1 (the ``original`` map raw, the others normalised per image over the mask).

Normal-angle errors need the intrinsics, taken from each sample's camera (skipped where it is unknown, e.g.
Prosopo). Degenerate samples (an empty mask…) are skipped with NaN metrics and counted by the
:class:`~helpers.depth.metrics.metrics_table.MetricsTable`, so one bad image does not stop an evaluation.

Design notes: docs/design/depth.md (evaluate_depth): the comparison table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from helpers.base.runtime import autocast
from helpers.depth.metrics.depth_metrics import (
    DepthMetricsConfig,
    compute_depth_metrics,
    original_l1,
    original_normalize,
    original_perfects,
)
from helpers.depth.metrics.metrics_table import MetricsTable
from helpers.depth.models import DepthModelConfig, output_to_target
from helpers.depth.networks.model_inputs import normalize_images
from helpers.depth.networks.predict import resize_bilinear
from helpers.training.seeded_loader import make_loader

__all__ = ["EvaluationConfig", "as_original_map", "evaluate_depth_model", "metrics_config", "model_forward", "score_batch"]


def model_forward(model: nn.Module, config: DepthModelConfig, images: torch.Tensor, out_size: int) -> torch.Tensor:
    """The network's ``(N, 1, out_size, out_size)`` output for a batch of ``(N, 3, S, S)`` RGB in [0, 1].

    The images are normalised the model's way (``S`` should be the model's input size: the datasets resize to it)
    and the output is resized bilinearly to the depth maps' side when it differs, then mapped to the model's target
    (:func:`helpers.depth.models.output_to_target`: metric z for ``"metric_z"``). Runs in the caller's grad /
    autocast mode; float32 output.
    """
    pred = model(normalize_images(images, config.name))
    return output_to_target(resize_bilinear(pred.float(), (out_size, out_size)), config)


def as_original_map(pred: torch.Tensor, mask: torch.Tensor, target: str) -> torch.Tensor:
    """A prediction in the original's [-1, 1] convention (1 = nearest) over ``mask``."""
    if target == "original":
        return pred
    return original_normalize(-pred if target == "relative_inverse" else pred, mask)


def metrics_config(model_target: str, *, on_degenerate: str = "skip") -> DepthMetricsConfig:
    """How predictions of a model with ``model_target`` are scored against metric z (module docstring table)."""
    if model_target == "original":
        return DepthMetricsConfig(alignment="scale_shift", space="depth", original_pred="raw",
                                  on_degenerate=on_degenerate)
    if model_target == "relative_inverse":
        return DepthMetricsConfig(alignment="scale_shift", space="disparity", on_degenerate=on_degenerate)
    return DepthMetricsConfig(alignment="none", on_degenerate=on_degenerate)


def score_batch(pred: torch.Tensor, batch: Mapping[str, object], model_target: str, metric_data: bool,
                *, normals: bool = True) -> dict[str, torch.Tensor]:
    """Per-sample metrics of a batch (``{key: (N,) tensor}``, see the module docstring).

    Args:
        pred: (N, 1, R, R) model output at the depth maps' resolution.
        batch: a :class:`~helpers.depth.data.depth_dataset.DepthDataset` batch (``depth``, ``mask``, ``camera``, ``id``).
        model_target: :attr:`DepthModelConfig.target` of the model.
        metric_data: ``batch["depth"]`` is metric z (True) or the original's [-1, 1] map (False).
        normals: add the normal-angle errors where the cameras are known.
    """
    depth, mask = batch["depth"], batch["mask"]
    assert isinstance(depth, torch.Tensor) and isinstance(mask, torch.Tensor)
    depth, mask = depth.to(pred.device), mask.to(pred.device)
    ids = list(batch["id"])  # type: ignore[call-overload]
    if metric_data:
        camera = batch["camera"]
        assert isinstance(camera, torch.Tensor)
        intrinsics = camera[:, 16:].reshape(-1, 3, 3).to(pred.device)
        use_k = normals and bool(torch.isfinite(intrinsics).all())
        return compute_depth_metrics(pred, depth, mask, metrics_config(model_target), ids=ids,
                                     intrinsics=intrinsics if use_k else None)
    pred_map = as_original_map(pred.float(), mask, model_target)
    whole = original_l1(pred_map, depth)
    masked = original_l1(pred_map, depth, mask)
    valid = torch.isfinite(whole) & torch.isfinite(masked)
    nan = torch.full_like(whole, math.nan)
    return {
        "original_l1": torch.where(valid, whole, nan).double(),
        "original_l1_masked": torch.where(valid, masked, nan).double(),
        "original_perfect": torch.where(valid, original_perfects(whole).to(whole.dtype), nan).double(),
        "n_pixels": mask.flatten(1).sum(1),
        "valid": valid,
    }


@dataclass(frozen=True)
class EvaluationConfig:
    """How :func:`evaluate_depth_model` runs.

    Attributes:
        batch_size: images per forward pass.
        workers: loader processes (0: in this process).
        precision: resolved precision name (``"fp32"``, ``"bf16"``, ``"fp16"``): autocast of the forward pass.
        limit: score only the first ``limit`` batches (None: all).
        normals: add the normal-angle errors (costs a little; needs cameras).
        progress: a tqdm bar.
    """

    batch_size: int = 16
    workers: int = 0
    precision: str = "fp32"
    limit: int | None = None
    normals: bool = True
    progress: bool = True


@torch.no_grad()
def evaluate_depth_model(model: nn.Module, config: DepthModelConfig, dataset: Dataset,
                         evaluation: EvaluationConfig | None = None, *, metric_data: bool | None = None,
                         loss: nn.Module | None = None) -> tuple[MetricsTable, float]:
    """Score ``model`` on every item of ``dataset`` (in order, no augmentation: give an eval-split dataset).

    Args:
        model: the network (put in eval mode for the call, its mode restored afterwards).
        config: its :class:`~helpers.depth.models.DepthModelConfig`.
        dataset: a :class:`~helpers.depth.data.depth_dataset.DepthDataset` (its image size should be the model's input).
        evaluation: batch size, precision, limit, progress.
        metric_data: whether the dataset's depth is metric z; default: read from the dataset
            (``dataset.metric``).
        loss: also return this training loss (``loss(pred, depth, mask)``) averaged over batches.

    Returns:
        ``(table, mean loss)``: one row per sample, grouped by head yaw (:data:`helpers.base.cameras.YAW_BINS`) where
        the dataset has cameras, so that its Markdown has a table per yaw bin; the loss is NaN when ``loss`` is None.
    """
    from tqdm.auto import tqdm

    evaluation = evaluation or EvaluationConfig()
    metric = bool(getattr(dataset, "metric", True)) if metric_data is None else metric_data
    device = next(model.parameters()).device
    loader = make_loader(dataset, evaluation.batch_size, shuffle=False, workers=evaluation.workers)
    table, losses = MetricsTable(), []
    was_training = model.training
    model.eval()
    try:
        total = len(loader) if evaluation.limit is None else min(len(loader), evaluation.limit)
        bar = tqdm(loader, total=total, desc="evaluate", unit="batch", disable=not evaluation.progress, leave=False)
        for i, batch in enumerate(bar):
            if i >= total:
                break
            images = batch["image"].to(device, non_blocking=True)
            with autocast(device, evaluation.precision):
                pred = model_forward(model, config, images, batch["depth"].shape[-1])
            if loss is not None:
                losses.append(float(loss(pred, batch["depth"].to(device), batch["mask"].to(device))))
            table.add(score_batch(pred, batch, config.target, metric, normals=evaluation.normals), ids=batch["id"])
            if "camera" in batch:
                table.group_by_head_yaw(dict(zip(batch["id"], batch["camera"].numpy())))
    finally:
        model.train(was_training)
    return table, (sum(losses) / len(losses) if losses else math.nan)
