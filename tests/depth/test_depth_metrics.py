"""Depth metrics against hand-computed values on tiny maps, the original's L1, the one entry point, re-exports.

Alignment, normals and tables have their own test files (test_depth_alignment, test_depth_normals,
test_depth_metrics_table).
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
import torch

from helpers.base.cameras import FOCAL, intrinsics
from helpers.base.depth_png import encode_legacy_depth_png
from helpers.depth.metrics.depth_metrics import (
    DepthMetricsConfig,
    compute_depth_metrics,
    depth_error_metrics,
    original_l1,
    original_normalize,
    original_perfects,
)
from helpers.depth.metrics.masked import masked_median
from helpers.depth.metrics.metrics_table import MetricsTable, compare_markdown

D = torch.float64


def t(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=D)


# --------------------------------------------------------------------------------------------
# Hand-computed metrics
# --------------------------------------------------------------------------------------------

# target and prediction: per-pixel errors 0, +1, 0, −2; ratios 1, 1.5, 1, 2.
TARGET = t([[[2.0, 2.0], [4.0, 4.0]]])
PRED = t([[[2.0, 3.0], [4.0, 2.0]]])


def test_depth_error_metrics_by_hand() -> None:
    m = depth_error_metrics(PRED, TARGET, torch.ones(1, 2, 2, dtype=torch.bool))
    assert m["abs_rel"].item() == pytest.approx((1 / 2 + 2 / 4) / 4)  # 0.25
    assert m["sq_rel"].item() == pytest.approx((1 / 2 + 4 / 4) / 4)  # 0.375
    assert m["mae"].item() == pytest.approx(3 / 4)
    assert m["rmse"].item() == pytest.approx(math.sqrt(5 / 4))
    assert m["rmse_log"].item() == pytest.approx(math.sqrt((math.log(1.5) ** 2 + math.log(2) ** 2) / 4))
    d = [0.0, math.log(1.5), 0.0, -math.log(2)]
    silog = 100 * math.sqrt(sum(x * x for x in d) / 4 - (sum(d) / 4) ** 2)
    assert m["silog"].item() == pytest.approx(silog)
    assert m["side"].item() == pytest.approx(silog / 100)
    assert m["delta1"].item() == pytest.approx(2 / 4)  # ratios 1, 1
    assert m["delta2"].item() == pytest.approx(3 / 4)  # + 1.5 < 1.5625
    assert m["delta3"].item() == pytest.approx(3 / 4)  # 2 > 1.953125


def test_depth_error_metrics_respect_the_mask() -> None:
    mask = torch.tensor([[[True, True], [True, False]]])
    pred = PRED.clone()
    pred[0, 1, 1] = -5.0  # off the mask: ignored, even though log would be NaN
    m = depth_error_metrics(pred, TARGET, mask)
    assert m["abs_rel"].item() == pytest.approx((1 / 2) / 3)
    assert m["rmse"].item() == pytest.approx(math.sqrt(1 / 3))
    assert m["delta1"].item() == pytest.approx(2 / 3)
    assert all(torch.isfinite(v).all() for v in m.values())


def test_shapes_n1hw_and_nhw_agree() -> None:
    a = compute_depth_metrics(PRED[:, None], TARGET[:, None])
    b = compute_depth_metrics(PRED, TARGET)
    for key in a:
        assert torch.equal(a[key], b[key]) or torch.allclose(a[key], b[key], equal_nan=True)


def test_silog_is_scale_invariant_and_zero_for_scaled_prediction() -> None:
    g = torch.rand(3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(0)) + 2.2
    p = g * (1 + 0.1 * torch.rand(3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(1)))
    mask = torch.ones_like(g, dtype=torch.bool)
    base = depth_error_metrics(p, g, mask)["silog"]
    assert torch.allclose(depth_error_metrics(3.7 * p, g, mask)["silog"], base, atol=1e-10)
    assert depth_error_metrics(1.3 * g, g, mask)["silog"].abs().max() < 1e-6
    assert (base > 0).all()


def test_masked_median_even_and_odd_counts() -> None:
    x = t([[[5.0, 1.0], [3.0, 100.0]], [[4.0, 2.0], [9.0, 7.0]]])
    mask = torch.tensor([[[True, True], [True, False]], [[True, True], [True, True]]])
    assert masked_median(x, mask).tolist() == [3.0, 5.5]
    assert math.isnan(masked_median(x, torch.zeros_like(mask))[0].item())


# --------------------------------------------------------------------------------------------
# The original project's L1 and perfects
# --------------------------------------------------------------------------------------------


def test_original_normalize_by_hand_and_matches_the_8bit_format() -> None:
    depth = t([[[2.0, 3.0], [4.0, 0.0]]])  # 0 = no surface
    mask = depth > 0
    assert original_normalize(depth, mask).tolist() == [[[1.0, 0.0], [-1.0, -1.0]]]
    # quantised = what the original read from encode_legacy_depth_png: 2·x/255 − 1 (x = 255, 128, 0, 0)
    quantized = original_normalize(depth, mask, quantize=True)
    assert torch.allclose(quantized, t([[[1.0, 2 * 128 / 255 - 1], [-1.0, -1.0]]]))
    rng = np.random.default_rng(4)
    z = rng.uniform(2.2, 3.4, (16, 16))
    z[:3] = 0
    legacy = 2 * encode_legacy_depth_png(z).astype(np.float64) / 255 - 1
    ours = original_normalize(t(z), t(z) > 0, quantize=True)
    assert np.allclose(ours.numpy(), legacy, atol=1e-12)


def test_original_normalize_constant_depth_and_empty_mask() -> None:
    depth = t([[[2.5, 2.5], [2.5, 0.0]]])
    assert original_normalize(depth, depth > 0).tolist() == [[[1.0, 1.0], [1.0, -1.0]]]
    assert original_normalize(depth, torch.zeros_like(depth, dtype=torch.bool)).tolist() == [[[-1.0] * 2] * 2]


def test_original_l1_whole_image_masked_and_perfects() -> None:
    pred = t([[[1.0, 0.5], [-1.0, -0.5]]])
    target = t([[[1.0, 0.0], [-1.0, -1.0]]])
    mask = torch.tensor([[[True, True], [True, False]]])
    assert original_l1(pred, target).item() == pytest.approx(0.25)  # (0 + .5 + 0 + .5) / 4
    assert original_l1(pred, target, mask).item() == pytest.approx(0.5 / 3)
    # the notebook's nn.L1Loss(reduction="mean") on one sample
    assert original_l1(pred, target).item() == pytest.approx(torch.nn.L1Loss()(pred, target).item())
    assert original_perfects(t([0.05, 0.08, 0.1])).tolist() == [True, False, False]  # strict <


def test_compute_metrics_original_convention_raw_prediction() -> None:
    z = 2.2 + torch.rand(1, 8, 8, dtype=D, generator=torch.Generator().manual_seed(5))
    z[:, :2] = 0  # background
    mask = z > 0
    legacy = original_normalize(z, mask)  # what a network trained in the original convention outputs
    config = DepthMetricsConfig(alignment="scale_shift", space="depth", original_pred="raw")
    m = compute_depth_metrics(legacy, z, mask, config)
    assert m["original_l1"].item() < 1e-12 and m["original_perfect"].item() == 1.0
    assert m["scale"].item() < 0  # near = +1: depth is affine in the map with a negative scale
    assert m["abs_rel"].item() < 1e-12
    off = compute_depth_metrics(legacy + 0.1, z, mask, config)
    assert off["original_l1"].item() == pytest.approx(0.1)
    assert off["original_perfect"].item() == 0.0


def test_compute_metrics_original_l1_normalizes_depth_predictions() -> None:
    z = t([[[2.0, 3.0], [4.0, 0.0]]])
    pred = t([[[2.0, 3.5], [4.0, 9.0]]])  # normalised over the 3 valid pixels: 1, −0.5, −1; background −1
    m = compute_depth_metrics(pred, z, z > 0)
    assert m["original_l1"].item() == pytest.approx(0.5 / 4)
    assert m["original_l1_masked"].item() == pytest.approx(0.5 / 3)


# --------------------------------------------------------------------------------------------
# One entry point and degenerate samples
# --------------------------------------------------------------------------------------------


def face_batch(n: int = 3, size: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(6)
    z = 2.4 + 0.5 * torch.rand(n, 1, size, size, dtype=D, generator=gen)
    mask = torch.zeros_like(z, dtype=torch.bool)
    mask[..., 1:-1, 1:-1] = True
    return torch.where(mask, z, torch.zeros_like(z)), mask


def test_compute_metrics_perfect_relative_prediction() -> None:
    z, mask = face_batch()
    config = DepthMetricsConfig(alignment="scale_shift", intrinsics=intrinsics())
    m = compute_depth_metrics(0.2 * z - 0.1, z, mask, config)
    for key in ("abs_rel", "rmse", "silog", "normal_mean_deg", "original_l1"):
        assert m[key].abs().max() < 1e-9, key
    assert m["delta1"].tolist() == [1.0] * 3 and m["valid"].all()
    assert m["n_pixels"].tolist() == [64] * 3
    assert list(m)[:3] == ["abs_rel", "sq_rel", "mae"]


def test_empty_mask_raises_naming_the_sample() -> None:
    z, mask = face_batch()
    mask[1] = False
    with pytest.raises(ValueError, match=r"sample 'seed7'.*empty mask"):
        compute_depth_metrics(z, z, mask, ids=["seed6", "seed7", "seed8"])


def test_non_positive_prediction_raises_or_is_skipped() -> None:
    z, mask = face_batch()
    pred = z.clone()
    pred[2, 0, 4, 4] = -1.0
    with pytest.raises(ValueError, match=r"sample '2': 1 of 64 predicted depths .* <= 0"):
        compute_depth_metrics(pred, z, mask)
    m = compute_depth_metrics(pred, z, mask, DepthMetricsConfig(on_degenerate="skip"))
    assert m["valid"].tolist() == [True, True, False]
    assert torch.isnan(m["abs_rel"][2]) and torch.isnan(m["original_l1"][2])
    assert torch.isfinite(m["abs_rel"][:2]).all()


def test_normals_on_too_small_mask_is_degenerate() -> None:
    z, _ = face_batch(1, 4)
    mask = torch.zeros_like(z, dtype=torch.bool)
    mask[..., :2, :2] = True
    config = DepthMetricsConfig(intrinsics=intrinsics(), on_degenerate="raise")
    with pytest.raises(ValueError, match="3×3 neighbourhood"):
        compute_depth_metrics(z, z, mask, config)
    assert "normal_mean_deg" not in compute_depth_metrics(z, z, mask)  # without intrinsics: fine


def test_constant_target_is_not_degenerate() -> None:
    z = torch.full((1, 4, 4), 2.7, dtype=D)
    m = compute_depth_metrics(z + 0.27, z)
    assert m["abs_rel"].item() == pytest.approx(0.1)
    assert m["original_l1"].item() == 0.0  # both constant: all +1


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="alignment"):
        DepthMetricsConfig(alignment="affine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="space"):
        DepthMetricsConfig(space="inverse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="intrinsics"):
        DepthMetricsConfig(intrinsics=[[1.0, 0.0], [0.0, 1.0]])
    config = DepthMetricsConfig(intrinsics=intrinsics())
    assert config.intrinsics is not None and config.intrinsics[0][0] == pytest.approx(FOCAL)
    assert config == DepthMetricsConfig(intrinsics=intrinsics().tolist())
    with pytest.raises(ValueError, match="does not match"):
        compute_depth_metrics(torch.ones(1, 3, 3), torch.ones(1, 3, 4))


# --------------------------------------------------------------------------------------------
# MetricsTable (helpers.depth.metrics.metrics_table)
# --------------------------------------------------------------------------------------------


def test_metrics_table_means_skips_and_files(tmp_path) -> None:
    z, mask = face_batch()
    pred = z.clone()
    pred[1] = z[1] * 1.1
    pred[2, 0, 4, 4] = -1.0  # degenerate: skipped
    table = MetricsTable()
    config = DepthMetricsConfig(on_degenerate="skip")
    table.add(compute_depth_metrics(pred, z, mask, config), ids=["a", "b", "c"])
    table.add(compute_depth_metrics(z[:1], z[:1], mask[:1], config))  # default id "3"
    assert len(table) == 4 and table.n_valid == 3 and table.n_skipped == 1
    means = table.mean()
    assert means["abs_rel"] == pytest.approx(0.1 / 3)  # (0 + 0.1 + 0) / 3 scored samples
    assert all(math.isfinite(v) for v in means.values())
    summary = table.summary()
    assert summary["skipped"] == 1 and summary["original_perfect_count"] == 3
    with pytest.raises(ValueError, match="duplicate|already"):
        table.add(compute_depth_metrics(z[:1], z[:1], mask[:1]), ids=["a"])

    rows = list(csv.DictReader(io.StringIO(table.write_csv(tmp_path / "m.csv").read_text())))
    assert [r["id"] for r in rows] == ["a", "b", "c", "3"]
    assert rows[2]["valid"] == "0" and rows[2]["abs_rel"] == ""
    assert float(rows[1]["abs_rel"]) == pytest.approx(0.1)
    text = table.write_markdown(tmp_path / "m.md", title="U-Net").read_text()
    assert text.startswith("## U-Net") and "3 samples scored, 1 skipped" in text and "3 of 3" in text
    assert "| abs_rel | 0.03333 | ↓ |" in text
    assert "mean \\|p−g\\|/g" in text  # pipes escaped inside cells
    assert not list(tmp_path.glob(".*.tmp*"))  # atomic writes leave no temporaries

    comparison = compare_markdown({"unet": table, "midas": table})
    assert comparison.splitlines()[0].startswith("| model | scored | skipped | abs_rel ↓")
    assert "| unet | 3 | 1 | 0.03333 |" in comparison and "scale" not in comparison


def test_a_table_reports_its_groups_in_their_order():
    table = MetricsTable()
    for i, (group, value) in enumerate([("b", 1.0), ("a", 2.0), ("b", 3.0), (None, 9.0)]):
        table.add_row(str(i), {"abs_rel": value})
        if group:
            table.set_group(str(i), group)
    table.group_title = "head yaw"
    table.order_groups(["a", "b"])
    grouped = table.grouped()
    assert list(grouped) == ["a", "b"] and grouped["b"].mean()["abs_rel"] == 2.0 and len(grouped["a"]) == 1
    text = table.to_markdown()
    assert "### By head yaw" in text and "3 of 4 samples have a head yaw." in text
    assert text.index("| a | 1 | 0 |") < text.index("| b | 2 | 0 |")
