"""Per-sample depth metric rows: :class:`MetricsTable` (means over scored samples, CSV and Markdown files) and
:func:`compare_markdown` (one row per model).

Conventions: rows are the (N,) per-image values of :func:`helpers.depth.metrics.depth_metrics.compute_depth_metrics` (keys and
units in :data:`METRIC_INFO`: relative errors unitless, MAE/RMSE in EG3D world units, normal angles in degrees),
one row per sample id. Dataset figures are means of the per-image values over the *valid* rows (Eigen et al.,
Unsup3D); degenerate samples that were skipped are counted, never averaged, so the tables are NaN-free. Files are
written atomically (:func:`helpers.base.atomic.write_text_atomic`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from helpers.base import cameras
from helpers.base.atomic import write_text_atomic

__all__ = ["COUNT_KEYS", "METRIC_INFO", "MetricsTable", "compare_markdown", "metric_mode"]

#: Per-image keys of :func:`helpers.depth.metrics.depth_metrics.compute_depth_metrics`, each with a one-line meaning and which
#: direction is better.
METRIC_INFO: dict[str, tuple[str, str]] = {
    "abs_rel": ("mean |p−g|/g", "↓"),
    "sq_rel": ("mean (p−g)²/g, world units", "↓"),
    "mae": ("mean |p−g|, world units", "↓"),
    "rmse": ("sqrt mean (p−g)², world units", "↓"),
    "rmse_log": ("sqrt mean (log p − log g)²", "↓"),
    "silog": ("100·sqrt(mean d² − (mean d)²), d = log p − log g", "↓"),
    "side": ("Unsup3D scale-invariant depth error (silog / 100)", "↓"),
    "delta1": ("fraction max(p/g, g/p) < 1.25", "↑"),
    "delta2": ("fraction max(p/g, g/p) < 1.25²", "↑"),
    "delta3": ("fraction max(p/g, g/p) < 1.25³", "↑"),
    "normal_mean_deg": ("mean normal angle error, degrees (Unsup3D MAD)", "↓"),
    "normal_median_deg": ("median normal angle error, degrees", "↓"),
    "original_l1": ("original L1 on [-1, 1] depth, whole image", "↓"),
    "original_l1_masked": ("original L1 on [-1, 1] depth, valid pixels", "↓"),
    "original_perfect": ("fraction of samples with original L1 < threshold (0.08)", "↑"),
    "scale": ("alignment scale", ""),
    "shift": ("alignment shift", ""),
    "n_pixels": ("valid pixels per sample", ""),
    # Photo inversion (helpers.invert: the render against the photo after projection and after tuning)
    "projection_psnr": ("PSNR of the projected render against the photo, dB", "↑"),
    "projection_ssim": ("SSIM of the projected render against the photo", "↑"),
    "projection_lpips": ("LPIPS of the projected render against the photo", "↓"),
    "tuned_psnr": ("PSNR of the tuned render against the photo, dB", "↑"),
    "tuned_ssim": ("SSIM of the tuned render against the photo", "↑"),
    "tuned_lpips": ("LPIPS of the tuned render against the photo", "↓"),
    # Latent-code regression (helpers.latent.evaluate_latent)
    "latent_l1": ("mean |w − w_true| over the w dimensions", "↓"),
    "latent_l2": ("mean (w − w_true)² over the w dimensions", "↓"),
    "ws_l1": ("original: mean |ws − ws_true| over 14×512 values", "↓"),
}
def metric_mode(key: str) -> str:
    """``"max"`` for a metric of :data:`METRIC_INFO` where higher is better (δ, perfects), else ``"min"``."""
    return "max" if METRIC_INFO.get(key, ("", "↓"))[1] == "↑" else "min"


#: Per-image 0/1 keys whose count (not only their mean) :class:`MetricsTable` reports.
COUNT_KEYS = ("original_perfect",)
#: Bookkeeping keys left out of comparison tables by default.
_BOOKKEEPING = ("scale", "shift", "n_pixels")


def _sample_ids(ids: Sequence[str] | None, n: int) -> list[str]:
    """``n`` sample names as strings: ``ids``, or the batch indices when None."""
    if ids is None:
        return [str(i) for i in range(n)]
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise ValueError(f"got {len(ids)} sample ids for a batch of {n}")
    return ids


def _format(value: float, digits: int) -> str:
    if isinstance(value, int):  # bool included
        return str(value)
    return "" if math.isnan(value) else f"{value:.{digits}g}"


class MetricsTable:
    """Per-sample metric rows with sample ids: mean table, CSV and Markdown.

    Rows come from :func:`compute_depth_metrics` batches (:meth:`add`) or single dicts (:meth:`add_row`). Means
    are over the *valid* rows only (skipped degenerate samples are counted, never averaged), so every column is
    averaged over the same samples and the table has no NaN.
    """

    def __init__(self) -> None:
        self._rows: list[dict[str, object]] = []
        self._ids: set[str] = set()
        self._columns: list[str] = []
        self._groups: dict[str, str] = {}
        self._group_order: list[str] = []
        self.group_title = "group"

    def set_group(self, sample_id: str, group: str) -> None:
        """Put a sample into a named group (e.g. a head-yaw bin): :meth:`to_markdown` adds a table of the means per
        group, in the order groups were first given (or :meth:`order_groups`)."""
        self._groups[str(sample_id)] = group
        if group not in self._group_order:
            self._group_order.append(group)

    def order_groups(self, order: Sequence[str]) -> None:
        """Report the groups in this order (groups not named go last)."""
        self._group_order = [g for g in order if g in self._group_order] + \
            [g for g in self._group_order if g not in order]

    def group_by_head_yaw(self, cameras_by_id: Mapping[str, object]) -> None:
        """Group samples by the :data:`helpers.base.cameras.YAW_BINS` bin of their (25,) camera (the large-pose
        evaluation); samples without a finite camera stay out of the groups."""
        if cameras_by_id:
            ids = list(cameras_by_id)
            for sample_id, group in zip(ids, cameras.yaw_bins(np.stack([np.asarray(cameras_by_id[i]) for i in ids]))):
                if group is not None:
                    self.set_group(sample_id, group)
        self.group_title = "head yaw"
        self.order_groups([name for _, _, name in cameras.YAW_BINS])

    def subset(self, ids: Sequence[str] | set[str]) -> MetricsTable:
        """A table of the rows whose id is in ``ids`` (same columns)."""
        wanted, table = {str(i) for i in ids}, MetricsTable()
        for row in self._rows:
            if row["id"] in wanted:
                values = {key: row[key] for key in self._columns if key in row}
                table.add_row(str(row["id"]), values, valid=bool(row["valid"]))  # type: ignore[arg-type]
        return table

    def grouped(self) -> dict[str, MetricsTable]:
        """``{group: table of its samples}`` (:meth:`set_group`), in report order; empty without groups."""
        return {group: self.subset({i for i, g in self._groups.items() if g == group}) for group in self._group_order}

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def columns(self) -> list[str]:
        """Metric columns in first-seen order (without ``id`` and ``valid``)."""
        return list(self._columns)

    @property
    def rows(self) -> list[dict[str, object]]:
        """Copies of the rows: ``{"id": str, "valid": bool, metric: float, ...}``."""
        return [dict(row) for row in self._rows]

    @property
    def n_valid(self) -> int:
        return sum(bool(row["valid"]) for row in self._rows)

    @property
    def n_skipped(self) -> int:
        return len(self._rows) - self.n_valid

    def add_row(self, sample_id: str, values: Mapping[str, float], valid: bool = True) -> None:
        """Append one sample; ``values`` maps metric names to numbers. Ids must be unique."""
        sample_id = str(sample_id)
        if sample_id in self._ids:
            raise ValueError(f"sample id {sample_id!r} is already in the table")
        row: dict[str, object] = {"id": sample_id, "valid": bool(valid)}
        for key, value in values.items():
            if key in ("id", "valid"):
                continue
            row[key] = int(value) if key == "n_pixels" else float(value)
            if key not in self._columns:
                self._columns.append(key)
        self._ids.add(sample_id)
        self._rows.append(row)

    def add(self, metrics: Mapping[str, torch.Tensor], ids: Sequence[str] | None = None) -> None:
        """Append a batch: ``metrics`` as returned by :func:`compute_depth_metrics` ((N,) tensors).

        ``ids`` default to running indices ("0", "1", ...). A missing ``valid`` key means all rows are valid.
        """
        columns = {key: value.detach().cpu().tolist() for key, value in metrics.items()}
        n = len(next(iter(columns.values()))) if columns else 0
        if any(len(v) != n for v in columns.values()):
            raise ValueError("every metric must hold one value per sample")
        names = [str(len(self._rows) + i) for i in range(n)] if ids is None else _sample_ids(ids, n)
        valid = columns.pop("valid", [True] * n)
        duplicate = [name for name in names if name in self._ids]
        if duplicate or len(set(names)) != len(names):
            raise ValueError(f"duplicate sample ids: {sorted(set(duplicate) or names)[:5]}")
        for i, name in enumerate(names):
            self.add_row(name, {key: values[i] for key, values in columns.items()}, valid=bool(valid[i]))

    def mean(self) -> dict[str, float]:
        """Mean of each metric over the valid rows (NaN for a column if no row is valid)."""
        valid = [row for row in self._rows if row["valid"]]
        out: dict[str, float] = {}
        for key in self._columns:
            values = [float(row[key]) for row in valid if key in row]  # type: ignore[arg-type]
            out[key] = math.fsum(values) / len(values) if values else math.nan
        return out

    def summary(self) -> dict[str, float]:
        """``samples``, ``scored``, ``skipped``, the means, and ``<key>_count`` for 0/1 keys such as perfects."""
        out: dict[str, float] = {"samples": len(self), "scored": self.n_valid, "skipped": self.n_skipped}
        out.update(self.mean())
        for key in COUNT_KEYS:
            if key in self._columns:
                out[f"{key}_count"] = sum(
                    int(row[key] == 1.0) for row in self._rows if row["valid"] and key in row  # type: ignore[misc]
                )
        return out

    def to_csv(self, digits: int = 9) -> str:
        """Per-sample rows: ``id,valid,<metrics...>``; skipped samples have empty metric cells."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "valid", *self._columns])
        for row in self._rows:
            cells = [_format(row[key], digits) if key in row else "" for key in self._columns]  # type: ignore[arg-type]
            writer.writerow([row["id"], int(bool(row["valid"])), *cells])
        return buffer.getvalue()

    def to_markdown(self, title: str | None = None, digits: int = 4) -> str:
        """A Markdown mean table (metric, mean, better direction, meaning) with sample and perfect counts."""
        summary = self.summary()
        lines = [f"## {title}", ""] if title else []
        lines.append(f"{self.n_valid} samples scored, {self.n_skipped} skipped (degenerate).")
        for key in COUNT_KEYS:
            if f"{key}_count" in summary:
                lines.append(f"Perfects (original L1 < threshold): {int(summary[f'{key}_count'])} of {self.n_valid}.")
        lines += ["", "| metric | mean | better | meaning |", "|---|---:|:---:|---|"]
        for key, value in self.mean().items():
            meaning, better = METRIC_INFO.get(key, ("", ""))
            meaning = meaning.replace("|", "\\|")  # a bare | would split the Markdown cell
            lines.append(f"| {key} | {_format(value, digits) or 'n/a'} | {better} | {meaning} |")
        if self._groups:
            grouped = self.grouped()
            lines += ["", f"### By {self.group_title}", "",
                      f"{sum(len(t) for t in grouped.values())} of {len(self)} samples have a {self.group_title}.", "",
                      compare_markdown(grouped, digits=digits, label=self.group_title).rstrip("\n")]
        return "\n".join(lines) + "\n"

    def write_csv(self, path: str | os.PathLike[str], digits: int = 9) -> Path:
        """Write :meth:`to_csv` atomically; returns the path."""
        return write_text_atomic(path, self.to_csv(digits))

    def write_markdown(self, path: str | os.PathLike[str], title: str | None = None, digits: int = 4) -> Path:
        """Write :meth:`to_markdown` atomically; returns the path."""
        return write_text_atomic(path, self.to_markdown(title, digits))


def compare_markdown(tables: Mapping[str, MetricsTable], keys: Sequence[str] | None = None, digits: int = 4, *,
                     label: str = "model") -> str:
    """A Markdown table with one row per named table (e.g. model; ``label`` heads that column) and one column per
    metric mean.

    ``keys`` default to the columns of the tables without the bookkeeping ones (scale, shift, n_pixels);
    ``scored`` / ``skipped`` columns come first.
    """
    if not tables:
        raise ValueError("no tables to compare")
    if keys is None:
        columns = dict.fromkeys(key for table in tables.values() for key in table.columns)
        keys = [key for key in columns if key not in _BOOKKEEPING]
    header = [label, "scored", "skipped", *(f"{key} {METRIC_INFO.get(key, ('', ''))[1]}".strip() for key in keys)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for name, table in tables.items():
        means = table.mean()
        cells = [_format(means.get(key, math.nan), digits) or "n/a" for key in keys]
        lines.append("| " + " | ".join([name, str(table.n_valid), str(table.n_skipped), *cells]) + " |")
    return "\n".join(lines) + "\n"
