"""Least-squares scale / shift alignment in depth and disparity space (helpers.depth.metrics.alignment)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.depth.metrics.alignment import align_prediction, align_scale, align_scale_shift

D = torch.float64


def t(values: object) -> torch.Tensor:
    return torch.tensor(values, dtype=D)


def test_align_scale_shift_by_hand() -> None:
    # p = 0, 1, 2 → g = 1, 2, 4 (the fourth pixel is off the mask): s = cov/var = 3/2, t = 7/3 − 3/2 = 5/6.
    p, g = t([[[0.0, 1.0], [2.0, 50.0]]]), t([[[1.0, 2.0], [4.0, math.nan]]])
    mask = torch.tensor([[[True, True], [True, False]]])
    fit = align_scale_shift(p, g, mask)
    assert fit.scale.item() == pytest.approx(1.5)
    assert fit.shift.item() == pytest.approx(5 / 6)
    assert fit.aligned[0, 0, 0].item() == pytest.approx(5 / 6)
    scale_only = align_scale(p, g, mask)  # Σpg / Σp² = 10 / 5
    assert scale_only.scale.item() == pytest.approx(2.0)
    assert scale_only.shift.item() == 0.0


def test_alignment_recovers_known_scale_and_shift_exactly() -> None:
    gen = torch.Generator().manual_seed(2)
    p = torch.rand(4, 1, 16, 16, dtype=D, generator=gen)
    scale, shift = t([2.5, 0.5, -1.5, 3.0]), t([0.3, 2.0, 4.0, -0.2])
    g = scale.view(-1, 1, 1, 1) * p + shift.view(-1, 1, 1, 1)
    mask = torch.rand(4, 1, 16, 16, generator=gen) > 0.3
    g_noisy = torch.where(mask, g, torch.full_like(g, 123.0))  # off-mask values must not matter
    fit = align_scale_shift(p, g_noisy, mask)
    assert fit.aligned.shape == p.shape
    assert torch.allclose(fit.scale, scale, atol=1e-12) and torch.allclose(fit.shift, shift, atol=1e-12)
    assert torch.allclose(fit.aligned[mask], g[mask], atol=1e-12)
    fit = align_scale(p, scale.view(-1, 1, 1, 1) * p, mask)
    assert torch.allclose(fit.scale, scale, atol=1e-12)


def test_alignment_in_disparity_space_recovers_depth() -> None:
    g = 2.2 + torch.rand(2, 12, 12, dtype=D, generator=torch.Generator().manual_seed(3))
    relative_disparity = 7.0 / g - 0.4  # what a MiDaS-like model outputs: affine in 1/z
    fit = align_prediction(relative_disparity, g, alignment="scale_shift", space="disparity")
    assert torch.allclose(fit.aligned, g, atol=1e-10)
    assert torch.allclose(fit.scale, torch.full((2,), 1 / 7, dtype=D))
    # A fit that goes non-positive in disparity is clamped to the depth cap, never negative depth.
    capped = align_prediction(-torch.ones_like(g), g, alignment="none", space="disparity", depth_cap=8.0)
    assert torch.all(capped.aligned == 8.0)


def test_alignment_of_constant_prediction_and_empty_mask() -> None:
    p = torch.full((2, 3, 3), 0.7, dtype=D, requires_grad=True)
    g = t(np.arange(18.0).reshape(2, 3, 3) + 1)
    mask = torch.ones(2, 3, 3, dtype=torch.bool)
    mask[1] = False
    fit = align_scale_shift(p, g, mask)
    assert fit.scale.tolist() == [0.0, 0.0]
    assert fit.shift[0].item() == pytest.approx(5.0)  # mean of 1..9
    assert fit.shift[1].item() == 0.0
    fit.aligned.sum().backward()
    assert torch.isfinite(p.grad).all()
