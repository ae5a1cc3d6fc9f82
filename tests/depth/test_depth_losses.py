"""Depth training losses: hand-computed values, masks, invariances, gradients."""

from __future__ import annotations

import pytest
import torch

from helpers.depth.losses import (
    DepthLoss,
    DepthLossConfig,
    build_depth_loss,
    gradient_matching,
    normalize_median_mad,
)
from helpers.depth.metrics.depth_metrics import original_normalize

D = torch.float64
ALL_KINDS = [
    DepthLossConfig(kind="original_l1"),
    DepthLossConfig(kind="original_l1", masked=False),
    DepthLossConfig(kind="l1"),
    DepthLossConfig(kind="l2"),
    DepthLossConfig(kind="l1", space="disparity"),
    DepthLossConfig(kind="ssi"),
    DepthLossConfig(kind="ssi", ssi_alignment="median"),
    DepthLossConfig(kind="ssi", space="disparity", gradient_weight=0.5),
    DepthLossConfig(kind="l1", gradient_weight=0.5, scales=3),
]


def face_batch(n: int = 2, size: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z = 2.4 + 0.6 * torch.rand(n, 1, size, size, dtype=D, generator=gen)
    mask = torch.zeros_like(z, dtype=torch.bool)
    mask[..., 2:-2, 1:-1] = True
    return torch.where(mask, z, torch.zeros_like(z)), mask


def perfect_prediction(config: DepthLossConfig, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """What a perfect network outputs in each convention (relative models: any scale and shift)."""
    safe = torch.where(mask, z, torch.ones_like(z))
    if config.kind == "original_l1":
        return original_normalize(z, mask)
    if config.space == "disparity":
        return 3.0 / safe + 0.5 if config.kind == "ssi" else 1.0 / safe
    return 3.0 * z + 0.5 if config.kind == "ssi" else z


def test_l1_and_l2_by_hand() -> None:
    target = torch.tensor([[[2.0, 2.0], [4.0, 0.0]]], dtype=D)  # 0: no surface, ignored
    pred = torch.tensor([[[2.0, 4.0], [4.0, 9.0]]], dtype=D)
    assert build_depth_loss(DepthLossConfig(kind="l1"))(pred, target).item() == pytest.approx(2 / 3)
    assert build_depth_loss(DepthLossConfig(kind="l2"))(pred, target).item() == pytest.approx(4 / 3)
    mask = torch.tensor([[[True, False], [True, True]]])
    assert build_depth_loss(DepthLossConfig(kind="l1"))(pred, target, mask).item() == 0.0
    disparity = build_depth_loss(DepthLossConfig(kind="l1", space="disparity"))
    assert disparity(torch.tensor([[[0.5, 0.25], [0.25, 7.0]]], dtype=D), target).item() == pytest.approx(0.25 / 3)


def test_original_l1_by_hand_masked_and_whole_image() -> None:
    target = torch.tensor([[[2.0, 3.0], [4.0, 0.0]]], dtype=D)  # [-1, 1] map: 1, 0, −1, background −1
    pred = torch.tensor([[[1.0, 0.5], [-1.0, -0.5]]], dtype=D)
    masked = build_depth_loss(DepthLossConfig(kind="original_l1"))(pred, target)
    assert masked.item() == pytest.approx(0.5 / 3)
    whole = build_depth_loss(DepthLossConfig(kind="original_l1", masked=False))(pred, target)
    assert whole.item() == pytest.approx(1.0 / 4)
    legacy_target = torch.tensor([[[1.0, 0.0], [-1.0, -1.0]]], dtype=D)
    assert whole.item() == pytest.approx(torch.nn.L1Loss()(pred, legacy_target).item())  # the original's loss


def test_gradient_matching_by_hand() -> None:
    # residual [[0, 1], [0, 0]]: one x-difference and one y-difference of 1, over M = 4 pixels.
    residual = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]], dtype=D)
    mask = torch.ones(1, 2, 2, dtype=torch.bool)
    assert gradient_matching(residual, mask, scales=1).item() == pytest.approx(0.5)
    assert gradient_matching(residual, mask, scales=4).item() == pytest.approx(0.5)  # coarser scales: 1 pixel
    mask[0, 1, 1] = False  # the y-difference now touches an invalid pixel, M = 3
    assert gradient_matching(residual, mask, scales=1).item() == pytest.approx(1 / 3)
    loss = build_depth_loss(DepthLossConfig(kind="l1", gradient_weight=1.0, scales=1))
    target = torch.full((1, 2, 2), 3.0, dtype=D)
    terms = loss.terms(target + residual, target)
    assert terms["data"].item() == pytest.approx(0.25)
    assert terms["loss"].item() == pytest.approx(0.75)


def test_normalize_median_mad_by_hand() -> None:
    x = torch.tensor([[[1.0, 2.0], [3.0, 10.0]]], dtype=D)  # median 2.5, mean |x − 2.5| = 2.5
    out = normalize_median_mad(x, torch.ones_like(x, dtype=torch.bool))
    assert torch.allclose(out, torch.tensor([[[-0.6, -0.2], [0.2, 3.0]]], dtype=D))
    constant = normalize_median_mad(torch.full_like(x, 4.0), torch.ones_like(x, dtype=torch.bool))
    assert torch.equal(constant, torch.zeros_like(x))


@pytest.mark.parametrize("config", ALL_KINDS, ids=repr)
def test_zero_for_perfect_prediction(config: DepthLossConfig) -> None:
    z, mask = face_batch()
    pred = perfect_prediction(config, z, mask)
    assert build_depth_loss(config)(pred, z, mask).item() == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("config", ALL_KINDS, ids=repr)
def test_positive_and_gradient_flows(config: DepthLossConfig) -> None:
    z, mask = face_batch()
    noise = 0.05 * torch.randn(z.shape, dtype=D, generator=torch.Generator().manual_seed(1))
    pred = (perfect_prediction(config, z, mask) + noise).requires_grad_(True)
    loss = build_depth_loss(config)(pred, z, mask)
    assert loss.ndim == 0 and loss.item() > 0
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[mask].abs().sum() > 0
    if config.masked:
        assert pred.grad[~mask].abs().max() == 0  # pixels off the mask get no gradient


@pytest.mark.parametrize("alignment", ["least_squares", "median"])
@pytest.mark.parametrize("gradient_weight", [0.0, 0.5])
def test_ssi_is_invariant_to_scale_and_shift_of_the_prediction(alignment: str, gradient_weight: float) -> None:
    z, mask = face_batch()
    pred = torch.rand(z.shape, dtype=D, generator=torch.Generator().manual_seed(2))
    loss = build_depth_loss(DepthLossConfig(kind="ssi", ssi_alignment=alignment, gradient_weight=gradient_weight))
    base = loss(pred, z, mask)
    for scale, shift in [(2.5, 0.3), (0.01, -4.0), (40.0, 7.0)]:
        assert loss(scale * pred + shift, z, mask).item() == pytest.approx(base.item(), rel=1e-9)


def test_batch_safe_with_empty_masks() -> None:
    z, mask = face_batch()
    pred = (z + 0.1).requires_grad_(True)
    for config in ALL_KINDS:
        if not config.masked:
            continue
        loss = build_depth_loss(config)
        partial = mask.clone()
        partial[1] = False
        # an image with an empty mask adds nothing: the loss equals the loss of the other image alone
        assert loss(pred, z, partial).item() == pytest.approx(loss(pred[:1], z[:1], partial[:1]).item())
        empty = loss(pred, z, torch.zeros_like(mask))
        assert empty.item() == 0.0 and empty.requires_grad
        (grad,) = torch.autograd.grad(empty, pred)
        assert torch.equal(grad, torch.zeros_like(grad))


def test_float32_and_nhw_inputs() -> None:
    z, mask = face_batch()
    loss = build_depth_loss(DepthLossConfig(kind="ssi", gradient_weight=0.5))
    a = loss(z.float()[:, 0] * 2, z.float()[:, 0], mask[:, 0])
    b = loss(z * 2, z, mask)
    assert a.dtype == torch.float32 and a.item() == pytest.approx(b.item(), abs=1e-5)


def test_config_validation_and_module() -> None:
    with pytest.raises(ValueError, match="kind"):
        DepthLossConfig(kind="huber")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="masked=False"):
        DepthLossConfig(kind="l1", masked=False)
    with pytest.raises(ValueError, match="space='depth'"):
        DepthLossConfig(kind="original_l1", space="disparity")
    with pytest.raises(ValueError, match="scales"):
        DepthLossConfig(scales=0)
    with pytest.raises(ValueError, match="gradient_weight"):
        DepthLossConfig(gradient_weight=-1.0)
    module = build_depth_loss(DepthLossConfig(kind="ssi"))
    assert isinstance(module, DepthLoss) and isinstance(module, torch.nn.Module)
    assert "ssi" in repr(module)
    assert build_depth_loss().config == DepthLossConfig()
    with pytest.raises(ValueError, match="does not match"):
        module(torch.ones(1, 3, 3), torch.ones(1, 3, 4))
