"""Depth accuracy on a foreground mask: :func:`compute_depth_metrics` (AbsRel, RMSE, δ, SIlog, normal angles and
the original project's L1 and "perfects"), per-image scale/shift alignment (:mod:`~.alignment`), surface normals
(:mod:`~.normals`), masked reductions (:mod:`~.masked`) and per-sample tables (:class:`MetricsTable`)."""

from helpers.depth.metrics.alignment import align_prediction, align_scale, align_scale_shift
from helpers.depth.metrics.depth_metrics import (
    DepthMetricsConfig,
    compute_depth_metrics,
    original_l1,
    original_normalize,
)
from helpers.depth.metrics.metrics_table import METRIC_INFO, MetricsTable, compare_markdown, metric_mode

__all__ = ["METRIC_INFO", "DepthMetricsConfig", "MetricsTable", "align_prediction", "align_scale",
           "align_scale_shift", "compare_markdown", "compute_depth_metrics", "metric_mode", "original_l1",
           "original_normalize"]
