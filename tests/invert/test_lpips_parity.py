"""LPIPS (helpers.invert.lpips) against the ``lpips`` package: AlexNet and VGG16, on the recorded reference.

``tests/fixtures/lpips_alex_reference/`` (its README says how it was recorded) holds ``lpips`` 0.1.4's distances,
per-layer terms, tap shapes and input gradients for uint8 image pairs, computed with trunk and linear-layer weights
made by numpy rules that this test repeats (no weight file is stored). The test writes them with torchvision's and
lpips' key names, so both load by key through ``load_lpips((trunk_path, lin_path), net=...)``, the path of the
published weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.invert.lpips import LPIPS
from helpers.invert.lpips_weights import load_lpips

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lpips_alex_reference"
TOLERANCE = 1e-5  # absolute, on distances and per-layer terms (the acceptance bound)

# torchvision `features` indices of the convolutions, with their (out, in, kernel) shapes: written out by hand.
CONVS = {
    "alex": {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)},
    "vgg": dict(zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
                    ((64, 3, 3), (64, 64, 3), (128, 64, 3), (128, 128, 3), (256, 128, 3), (256, 256, 3),
                     (256, 256, 3), (512, 256, 3), (512, 512, 3), (512, 512, 3), (512, 512, 3), (512, 512, 3),
                     (512, 512, 3)))),
}


def rule_trunk(net: str) -> dict[str, torch.Tensor]:
    """The fixture's trunk weights (README): conv k's weight ~ N(0, 2 / fan_in) from RandomState(1000 + k), its bias
    ~ U(-0.1, 0.1) from RandomState(2000 + k), drawn in float64 and stored as float32; torchvision key names."""
    state = {}
    for k, (out_ch, in_ch, size) in CONVS[net].items():
        weight = np.random.RandomState(1000 + k).standard_normal((out_ch, in_ch, size, size))
        weight = (weight * np.sqrt(2.0 / (in_ch * size * size))).astype(np.float32)
        bias = np.random.RandomState(2000 + k).uniform(-0.1, 0.1, out_ch).astype(np.float32)
        state[f"features.{k}.weight"], state[f"features.{k}.bias"] = torch.from_numpy(weight), torch.from_numpy(bias)
    return state


def to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 → [-1, 1] float32, as recorded: ``x / 127.5 - 1`` in float32."""
    return torch.from_numpy(images.astype(np.float32) / np.float32(127.5) - np.float32(1))


def rule_images_512() -> tuple[np.ndarray, np.ndarray]:
    """The 512² pair (not stored): a 16² uniform grid upsampled ×32 + N(0, 12²) noise, and that + N(0, 12²)."""
    rs = np.random.RandomState(512)
    low = rs.uniform(0, 255, (1, 3, 16, 16))
    up = np.repeat(np.repeat(low, 32, axis=2), 32, axis=3)
    a = np.clip(np.round(up + 12.0 * rs.standard_normal(up.shape)), 0, 255).astype(np.uint8)
    b = np.clip(np.round(a + 12.0 * rs.standard_normal(a.shape)), 0, 255).astype(np.uint8)
    return a, b


#: Channels of the five tapped layers, which the linear layers weigh.
TAP_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


def rule_lin(net: str) -> dict[str, torch.Tensor]:
    """The fixture's linear layers (README): layer i's (1, C, 1, 1) weight is |N(0, 1)| · 0.1 from
    RandomState(3000 + i), float32; lpips' key names."""
    return {f"lin{i}.model.1.weight": torch.from_numpy(
        (np.abs(np.random.RandomState(3000 + i).standard_normal((1, c, 1, 1))) * 0.1).astype(np.float32))
        for i, c in enumerate(TAP_CHANNELS[net])}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[LPIPS, dict[str, np.ndarray]]]:
    """net → (our LPIPS loaded by key from a torchvision-named trunk file and lpips' own v0.1 file, the reference)."""
    out = {}
    for net in ("alex", "vgg"):
        folder = tmp_path_factory.mktemp(net)
        trunk, lin = folder / f"{net}-trunk.pth", folder / f"{net}-lin.pth"
        torch.save({**rule_trunk(net), "classifier.1.weight": torch.zeros(2, 2)}, trunk)  # the classifier is ignored
        torch.save(rule_lin(net), lin)
        with np.load(FIXTURE / f"{net}.npz") as reference:
            out[net] = load_lpips((trunk, lin), net=net), dict(reference)
    return out


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "images.npz") as stored:
        return dict(stored)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_distances_and_layer_terms_match_the_lpips_package(cases, images, net: str) -> None:
    model, reference = cases[net]
    worst = 0.0
    for tag in ("s64", "odd"):
        x, y = to_float(images[f"{tag}_x"]), to_float(images[f"{tag}_y"])
        with torch.no_grad():
            layers = model.layer_distances(x, y).numpy()
            distance = layers.sum(axis=1)  # forward() is this sum (test_lpips.py)
        np.testing.assert_allclose(distance, reference[f"{tag}_distance"], rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(layers, reference[f"{tag}_layers"], rtol=0, atol=TOLERANCE)
        worst = max(worst, float(np.abs(distance - reference[f"{tag}_distance"]).max()))
        assert [tuple(t.shape[1:]) for t in model.trunk(x)] == [tuple(s) for s in reference[f"{tag}_tap_shapes"]]
    # The same numbers well inside the bound: float32 rounding only.
    assert worst < TOLERANCE / 10, worst


def test_alexnet_at_the_recipe_size_512(cases) -> None:
    """The tuning stage's network at the size it is used (not stored: the pair is regenerated by the rule)."""
    model, reference = cases["alex"]
    a, b = rule_images_512()
    with torch.no_grad():
        distance = model(to_float(a), to_float(b)).numpy()
        taps = model.trunk(to_float(a))
    np.testing.assert_allclose(distance, reference["s512_distance"], rtol=0, atol=TOLERANCE)
    assert [tuple(t.shape[1:]) for t in taps] == [tuple(s) for s in reference["s512_tap_shapes"]]


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_input_gradient_matches(cases, images, net: str) -> None:
    """LPIPS is a loss here: the gradient reaching the image is what the optimisation sees."""
    model, reference = cases[net]
    x = to_float(images["s64_x"]).requires_grad_(True)
    model(x, to_float(images["s64_y"])).sum().backward()
    expected = reference["s64_grad_x0"]
    np.testing.assert_allclose(x.grad[0].numpy(), expected, rtol=0, atol=1e-4 * float(np.abs(expected).max()))


def test_the_fixture_is_small_and_holds_no_weight_file() -> None:
    assert sorted(p.name for p in FIXTURE.iterdir()) == ["README.md", "alex.npz", "images.npz", "vgg.npz"]
    assert sum(p.stat().st_size for p in FIXTURE.iterdir()) < 1_000_000
