"""Behaviour of the pure-PyTorch EG3D generator (helpers.eg3d) beyond fixture parity.

Uses :func:`helpers.eg3d.tiny_random` (CPU, float32, neural resolution 16-32) so the whole file runs
in seconds. Official numbers are checked in test_eg3d_parity.py.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers import eg3d
from helpers.base.cameras import camera_vector
from helpers.eg3d import Generator, GeneratorConfig, RenderDraws
from helpers.eg3d.config import (
    FIXED_PLANE_AXES,
    LPFF_AVERAGE_CAMERA,
    OFFICIAL_PLANE_AXES,
    SUPERRESOLUTION_KINDS,
    SuperresolutionConfig,
    plane_axes_from_matrices,
)
from helpers.eg3d.ops import modulated_conv2d, setup_filter, upsample2d
from helpers.eg3d.superresolution import SuperResolution
from helpers.eg3d.triplane import TriplaneSampler, sample_triplane


@pytest.fixture(scope="module")
def G() -> Generator:
    return eg3d.tiny_random(seed=0)


@pytest.fixture(scope="module")
def inputs(G: Generator) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 512, generator=gen)
    c_cond = camera_vector(0.0, 0.0).expand(2, -1)
    cams = torch.cat([camera_vector(0.3, -0.1), camera_vector(-0.5, 0.2)])
    with torch.no_grad():
        ws = G.mapping(z, c_cond, truncation_psi=0.7)
    return {"z": z, "c_cond": c_cond, "cams": cams, "ws": ws}


def render(G: Generator, inputs, seed: int = 0, **kw) -> dict[str, torch.Tensor]:
    kw.setdefault("neural_rendering_resolution", 16)
    with torch.no_grad():
        return G.synthesize(inputs["ws"], inputs["cams"], generator=torch.Generator().manual_seed(seed), **kw)


# ------------------------------------------------------------------------------ outputs
def test_tiny_random_synthesize_outputs(G: Generator, inputs) -> None:
    out = render(G, inputs, neural_rendering_resolution=32)
    shapes = {"image": (2, 3, 512, 512), "image_raw": (2, 3, 32, 32), "features": (2, 32, 32, 32),
              "depth_ray": (2, 1, 32, 32), "depth_z": (2, 1, 32, 32), "opacity": (2, 1, 32, 32),
              "planes": (2, 3, 32, 256, 256), "ws": (2, 14, 512)}
    for key, shape in shapes.items():
        assert tuple(out[key].shape) == shape, key
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]).all(), key
    assert torch.equal(out["image_raw"], out["features"][:, :3])
    assert out["features"].min() >= -1.0 - 3e-3 and out["features"].max() <= 1.0 + 3e-3
    assert (out["opacity"] >= 0).all() and (out["opacity"] <= 1 + 1e-6).all()
    # Depths lie within the sampled interval (stratified samples may pass ray_end by one step).
    cfg = G.config.rendering
    step = (cfg.ray_end - cfg.ray_start) / (cfg.depth_resolution - 1)
    assert out["depth_ray"].min() >= cfg.ray_start and out["depth_ray"].max() <= cfg.ray_end + step


def test_tiny_random_is_deterministic_and_leaves_global_rng_alone(inputs) -> None:
    state = torch.get_rng_state()
    a, b, c = eg3d.tiny_random(seed=3), eg3d.tiny_random(seed=3), eg3d.tiny_random(seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, x), y, w in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(x, y), name
    assert not torch.equal(a.backbone.synthesis.b4.const, c.backbone.synthesis.b4.const)
    assert a.config.neural_rendering_resolution == 32 and a.config.superresolution.block_channels == (32, 16)


def test_generator_argument_makes_renders_reproducible_without_global_rng(G: Generator, inputs) -> None:
    state = torch.get_rng_state()
    first, second = render(G, inputs, seed=5), render(G, inputs, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    for key in ("image", "depth_ray", "opacity"):
        assert torch.equal(first[key], second[key]), key
    other = render(G, inputs, seed=6)
    assert not torch.equal(first["depth_ray"], other["depth_ray"])
    # Explicit draws (what tests inject from recordings) equal the generator's own draws.
    draws = G.draws(2, 16, generator=torch.Generator().manual_seed(5))
    assert isinstance(draws, RenderDraws) and draws.stratified.shape == (2, 256, 48, 1)
    assert draws.importance.shape == (512, 48)
    injected = render(G, inputs, seed=123, draws=draws)
    assert torch.equal(injected["image"], first["image"])


def test_no_side_effects_on_the_generator(G: Generator, inputs) -> None:
    before = {k: v.clone() for k, v in G.state_dict().items()}
    render(G, inputs, neural_rendering_resolution=8)
    assert G.neural_rendering_resolution == 32  # the official synthesis would now say 8
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


def test_results_do_not_depend_on_chunking_or_plane_reuse(G: Generator, inputs) -> None:
    base = render(G, inputs)
    chunked = render(G, inputs, ray_chunk=37)
    reused = render(G, inputs, planes=base["planes"])
    official_layout = render(G, inputs, planes=base["planes"].flatten(1, 2))
    for key in ("image", "features", "depth_ray", "depth_z", "opacity"):
        torch.testing.assert_close(chunked[key], base[key], atol=2e-6, rtol=0)
        assert torch.equal(reused[key], base[key]), key
        assert torch.equal(official_layout[key], base[key]), key


def test_render_without_super_resolution(G: Generator, inputs) -> None:
    """Depth-only callers skip the 512² head and get the same volume-rendered outputs."""
    base = render(G, inputs)
    bare = render(G, inputs, super_resolution=False)
    assert "image" not in bare
    for key in ("image_raw", "features", "depth_ray", "depth_z", "opacity"):
        assert torch.equal(bare[key], base[key]), key


def test_depth_z_is_camera_space_z(G: Generator, inputs) -> None:
    """depth_z = depth_ray * cos(angle to the optical axis), computed here from the intrinsics alone."""
    out = render(G, inputs)
    res = 16
    k = inputs["cams"][:, 16:].reshape(-1, 3, 3)
    centers = (torch.arange(res) + 0.5) / res
    x = (centers[None, None, :] - k[:, 0, 2, None, None]) / k[:, 0, 0, None, None]
    y = (centers[None, :, None] - k[:, 1, 2, None, None]) / k[:, 1, 1, None, None]
    cos = 1 / torch.sqrt(x**2 + y**2 + 1)  # (N, H, W): z of the unit ray in camera space
    torch.testing.assert_close(out["depth_z"][:, 0], out["depth_ray"][:, 0] * cos, atol=1e-5, rtol=0)
    assert (out["depth_z"] < out["depth_ray"]).all()


def test_white_background_adds_the_missing_opacity(inputs) -> None:
    black, white = eg3d.tiny_random(seed=0), eg3d.tiny_random(seed=0, white_back=True)
    a, b = render(black, inputs), render(white, inputs)
    torch.testing.assert_close(b["features"], a["features"] + 2 * (1 - a["opacity"]), atol=1e-5, rtol=0)


def test_noise_modes(G: Generator, inputs) -> None:
    ws = inputs["ws"][:1]
    with torch.no_grad():
        const = G.planes(ws)
        none = G.planes(ws, noise_mode="none")
        rnd1 = G.planes(ws, noise_mode="random", generator=torch.Generator().manual_seed(0))
        rnd2 = G.planes(ws, noise_mode="random", generator=torch.Generator().manual_seed(0))
    assert torch.equal(rnd1, rnd2)
    assert not torch.equal(const, none) and not torch.equal(const, rnd1)
    with pytest.raises(ValueError, match="noise_mode"):
        G.planes(ws, noise_mode="bogus")


def test_forward_maps_then_renders(G: Generator, inputs) -> None:
    with torch.no_grad():
        out = G(inputs["z"], inputs["c_cond"], inputs["cams"], truncation_psi=0.7,
                neural_rendering_resolution=16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["image"], render(G, inputs)["image"], atol=0, rtol=0)


# ------------------------------------------------------------------------------ density queries
def test_sample_density_inputs_and_chunking(G: Generator, inputs) -> None:
    pts = torch.rand(3000, 3, generator=torch.Generator().manual_seed(2)) - 0.5
    with torch.no_grad():
        planes = G.planes(inputs["ws"])
        shared = G.sample_density(planes, pts)
        batched = G.sample_density(planes, pts.expand(2, -1, -1), chunk=1000)
        from_ws = G.sample_density(inputs["ws"], pts)
        sigma_only = G.sample_density(planes.flatten(1, 2), pts, with_features=False)
    assert shared["sigma"].shape == (2, 3000, 1) and shared["features"].shape == (2, 3000, 32)
    for out in (batched, from_ws):
        torch.testing.assert_close(out["sigma"], shared["sigma"], atol=1e-6, rtol=0)
        torch.testing.assert_close(out["features"], shared["features"], atol=1e-6, rtol=0)
    torch.testing.assert_close(sigma_only["sigma"], shared["sigma"], atol=1e-6, rtol=0)
    assert G.sample_density(planes, pts[:0])["sigma"].shape == (2, 0, 1)
    with pytest.raises(ValueError, match="points"):
        G.sample_density(planes, pts[:, :2])
    with pytest.raises(ValueError, match="planes"):
        G.sample_density(torch.zeros(2, 7), pts)


def test_gather_sampler_matches_grid_sample_with_gradients() -> None:
    gen = torch.Generator().manual_seed(0)
    planes = torch.randn(2, 3, 8, 16, 12, generator=gen, dtype=torch.float64)  # non-square, odd sizes
    # Inside, outside, and exactly on texel centres / borders of the [-0.5, 0.5] box.
    pts = torch.cat([torch.rand(2, 500, 3, generator=gen, dtype=torch.float64) * 1.6 - 0.8,
                     torch.tensor([[0.5, -0.5, 0.0], [0.5 - 1 / 32, 0.25, -0.5], [2.0, 2.0, -2.0]],
                                  dtype=torch.float64).expand(2, -1, -1)], 1)
    for axes in (OFFICIAL_PLANE_AXES, FIXED_PLANE_AXES):
        p1, q1 = planes.clone().requires_grad_(), pts.clone().requires_grad_()
        p2, q2 = planes.clone().requires_grad_(), pts.clone().requires_grad_()
        fast = TriplaneSampler(p1, 1.0, axes, use_gather=True)(q1)
        ref = sample_triplane(p2, q2, 1.0, axes).mean(1)
        torch.testing.assert_close(fast, ref, atol=1e-12, rtol=0)
        weights = torch.randn(fast.shape, generator=gen, dtype=torch.float64)
        (fast * weights).sum().backward()
        (ref * weights).sum().backward()
        torch.testing.assert_close(p1.grad, p2.grad, atol=1e-12, rtol=0)
        torch.testing.assert_close(q1.grad, q2.grad, atol=1e-9, rtol=0)
    assert fast[:, -1].abs().max() == 0  # far outside: zero padding


def test_official_plane_axes_quirk() -> None:
    """Plane 2 is indexed by (z, x) officially and by (z, y) in LPFF's fixed checkpoints."""
    planes = torch.zeros(1, 3, 1, 4, 4)
    planes[0, 2, 0] = torch.arange(16.0).reshape(4, 4)  # value = 4 * row + column
    point = torch.tensor([[[0.375, -0.125, -0.375]]])  # texel centres: x -> 3, y -> 1, z -> 0
    official = sample_triplane(planes, point, 1.0)[0, 2, 0, 0]
    fixed = sample_triplane(planes, point, 1.0, FIXED_PLANE_AXES)[0, 2, 0, 0]
    assert official == 4 * 3 + 0  # width <- z (0), height <- x (3)
    assert fixed == 4 * 1 + 0  # width <- z (0), height <- y (1)


# ------------------------------------------------------------------------------ ops
def _upfirdn_reference(x: torch.Tensor, f: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
    """Literal upfirdn2d: insert zeros (up 2), pad, convolve with the flipped filter times 4."""
    n, c, h, w = x.shape
    up = torch.zeros(n, c, 2 * h, 2 * w, dtype=x.dtype)
    up[:, :, ::2, ::2] = x
    up = F.pad(up, [pad[0], pad[1], pad[0], pad[1]])
    k = (f * 4).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(up, k, groups=c)


def test_upsample_and_modulated_conv_match_literal_definitions() -> None:
    gen = torch.Generator().manual_seed(0)
    f = setup_filter()
    x = torch.randn(2, 5, 7, 7, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(upsample2d(x, f.double()), _upfirdn_reference(x, f.double(), (2, 1)))
    # Modulated conv with upsampling = modulate, zero-insert + 3x3 transposed conv + FIR, demodulate.
    weight = torch.randn(4, 5, 3, 3, generator=gen, dtype=torch.float64)
    styles = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    for up in (1, 2):
        fused = modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=f.double(), fused=True)
        unfused = modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=f.double(), fused=False)
        expected = []
        for i in range(2):
            w = weight * styles[i].reshape(1, -1, 1, 1)
            w = w / w.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
            if up == 1:
                expected.append(F.conv2d(x[i:i + 1], w, padding=1))
            else:  # transposed conv (stride 2, convolution semantics), then the FIR with padding 1
                y = F.conv_transpose2d(x[i:i + 1], w.transpose(0, 1), stride=2)
                k = (f.double() * 4).flip([0, 1])[None, None].repeat(4, 1, 1, 1)
                expected.append(F.conv2d(F.pad(y, [1, 1, 1, 1]), k, groups=4))
        expected = torch.cat(expected)
        assert fused.shape == (2, 4, 7 * up, 7 * up)
        torch.testing.assert_close(fused, expected)
        torch.testing.assert_close(unfused, expected)


# ------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("kind", sorted(SUPERRESOLUTION_KINDS))
def test_superresolution_variants(kind: str) -> None:
    spec = SUPERRESOLUTION_KINDS[kind]
    cfg = SuperresolutionConfig(kind=kind, img_resolution=spec["img_resolution"], channels=(8, 4))
    sr = SuperResolution(cfg, generator=torch.Generator().manual_seed(0))
    keys = set(sr.state_dict())
    assert ("resample_filter" in keys) == spec["top_level_filter"]
    assert sr.block0.resolution == spec["input_resolution"] * (2 if spec["first_block_up"] else 1)
    res = 32
    feats = torch.randn(1, 32, res, res, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        img = sr(feats[:, :3], feats, torch.randn(1, 14, 512))
    assert img.shape == (1, 3, spec["img_resolution"], spec["img_resolution"])
    with torch.device("meta"):
        full = SuperResolution(SuperresolutionConfig(kind=kind, img_resolution=spec["img_resolution"]))
    assert full.block1.conv1.weight.shape[0] == spec["channels"][1]


def test_config_from_official_and_lpff_kwargs() -> None:
    ffhq = GeneratorConfig.ffhq512_128()
    assert ffhq.num_ws == 14 and ffhq.rendering.plane_axes == OFFICIAL_PLANE_AXES
    assert ffhq.superresolution.kind == "SuperresolutionHybrid8XDC" and ffhq.superresolution.conv_clamp == 256
    # LPFF: fixed axes from the renderer's matrices, conditioning on the average camera.
    fixed = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 1], [0, 1, 0]], [[0, 0, 1], [0, 1, 0], [1, 0, 0]]]
    official = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 1], [0, 1, 0]], [[0, 0, 1], [1, 0, 0], [0, 1, 0]]]
    assert plane_axes_from_matrices(official) == OFFICIAL_PLANE_AXES
    assert plane_axes_from_matrices(fixed) == FIXED_PLANE_AXES
    from helpers.eg3d.config import _FFHQ512_128_INIT_KWARGS as base

    rk = dict(base["rendering_kwargs"], c_gen_conditioning_avg=True)
    cfg = GeneratorConfig.from_init_kwargs(base, rendering_kwargs=rk, extras={"plane_axes": fixed})
    assert cfg.rendering.plane_axes == FIXED_PLANE_AXES and cfg.mapping.c_fixed == LPFF_AVERAGE_CAMERA
    with pytest.raises(ValueError, match="unsupported"):
        GeneratorConfig.from_init_kwargs(dict(base, fancy_option=1))
    with pytest.raises(ValueError, match="axis permutations"):
        plane_axes_from_matrices([[[1, 1, 0], [0, 1, 0], [0, 0, 1]]] * 3)
    # ShapeNet cars (128^2 images, 64^2 rendering, white background, bigger box).
    shapenet_rk = dict(base["rendering_kwargs"], superresolution_module="training.superresolution.SuperresolutionHybrid2X",
                       white_back=True, box_warp=1.6, ray_start=0.1, ray_end=2.6, depth_resolution=64,
                       depth_resolution_importance=64, c_gen_conditioning_zero=True)
    car = GeneratorConfig.from_init_kwargs(dict(base, img_resolution=128, rendering_kwargs=shapenet_rk),
                                           neural_rendering_resolution=64)
    assert car.superresolution.kind == "SuperresolutionHybrid2X" and car.rendering.white_back
    with torch.device("meta"):
        Generator(car)


def test_lpff_average_camera_conditioning(inputs) -> None:
    G = eg3d.tiny_random(seed=0)
    lpff = Generator(dataclasses.replace(G.config, mapping=dataclasses.replace(G.config.mapping,
                                                                              c_fixed=LPFF_AVERAGE_CAMERA)))
    lpff.load_state_dict(G.state_dict())
    with torch.no_grad():
        a = lpff.mapping(inputs["z"], inputs["cams"])
        b = lpff.mapping(inputs["z"], torch.zeros(2, 25))
        expected = G.mapping(inputs["z"], torch.tensor(LPFF_AVERAGE_CAMERA).expand(2, -1))
    assert torch.equal(a, b) and torch.equal(a, expected)


# ------------------------------------------------------------------------------ autograd, dtypes
def test_gradients_reach_latents_and_weights(inputs) -> None:
    """PTI optimises ws and then the generator weights through the whole renderer."""
    G = eg3d.tiny_random(seed=0).requires_grad_(True)
    ws = inputs["ws"][:1].clone().requires_grad_(True)
    out = G.synthesize(ws, inputs["cams"][:1], neural_rendering_resolution=8,
                       generator=torch.Generator().manual_seed(0))
    (out["image"].square().mean() + out["depth_ray"].mean()).backward()
    assert ws.grad is not None and torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0
    for name in ("backbone.synthesis.b256.conv1.weight", "decoder.net.0.weight", "superresolution.block1.conv1.weight"):
        grad = G.get_parameter(name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_runs_under_cpu_autocast(G: Generator, inputs, dtype: torch.dtype) -> None:
    """Reduced-precision convolutions (what CUDA bf16/fp16 autocast does) with float32 outputs. fp16 is the
    path of T4/P100 GPUs (Colab), with the official pre-normalisation of the modulated weights."""
    ref = render(G, inputs)
    with torch.autocast("cpu", dtype=dtype):
        out = render(G, inputs)
    for key in ("image", "features", "depth_ray", "opacity"):
        assert out[key].dtype == torch.float32 and torch.isfinite(out[key]).all()
    # bf16 keeps ~3 significant digits, fp16 ~4
    tol = 0.2 if dtype == torch.bfloat16 else 0.05
    assert (out["image"] - ref["image"]).abs().max() < tol
    assert (out["depth_ray"] - ref["depth_ray"]).abs().max() < tol / 4


def test_load_reads_a_checkpoint_file(eg3d_reference: Path) -> None:
    G = eg3d.load(eg3d_reference / "eg3d_tiny.pkl")
    assert isinstance(G, Generator) and not G.training
    assert not any(p.requires_grad for p in G.parameters())
    assert G.config.synthesis.channel_base == 2048 and math.isclose(G.config.rendering.ray_end, 3.3)
