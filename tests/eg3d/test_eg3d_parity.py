"""Parity of helpers.eg3d with the official NVlabs/eg3d generator (float32, CPU).

Reference: ``shared/fixtures/eg3d_reference`` (see its README), recorded from the official code with a
tiny randomly perturbed TriPlaneGenerator. Tolerances are the README's suggested ``atol`` values
(about 10x the float64-vs-float32 gap of the official code itself), which are tighter than the
project targets (1e-4 on ws/planes, 1e-3 on rendered outputs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.eg3d import Generator, GeneratorConfig, RenderDraws
from helpers.eg3d.checkpoints.checkpoint_files import read_checkpoint
from helpers.eg3d.rays import make_rays, split_camera
from helpers.eg3d.triplane import sample_triplane

ATOL = {
    "ws": 2e-5, "w_untruncated": 2e-5, "w_avg": 0.0, "planes": 1e-4, "query": 2e-5, "rays": 1e-6,
    "image": 5e-5, "render": 1e-5, "shape": 2e-5,
}


def assert_close(actual: torch.Tensor, expected: np.ndarray, atol: float, name: str) -> None:
    expected_t = torch.from_numpy(np.asarray(expected))
    assert tuple(actual.shape) == tuple(expected_t.shape), f"{name}: shape {tuple(actual.shape)} != {expected_t.shape}"
    err = (actual.detach().double() - expected_t.double()).abs().max().item()
    print(f"{name}: max abs error {err:.3g} (atol {atol:g})")
    assert err <= atol, f"{name}: max abs error {err:.3g} > {atol:g}"


@pytest.fixture(scope="module")
def ref(eg3d_reference: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for name in ("inputs", "outputs", "render_draws", "shape", "cameras"):
        with np.load(eg3d_reference / f"{name}.npz") as npz:
            arrays.update({f"{name}.{k}": npz[k] for k in npz.files})
    return arrays


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a))


@pytest.fixture(scope="module")
def G(eg3d_reference: Path) -> Generator:
    return Generator.from_checkpoint_contents(read_checkpoint(eg3d_reference / "eg3d_tiny.pkl"))


@pytest.fixture(scope="module")
def ws(G: Generator, ref) -> torch.Tensor:
    with torch.no_grad():
        return G.mapping(t(ref["inputs.z"]), t(ref["inputs.c_cond"]), truncation_psi=0.7, truncation_cutoff=14)


@pytest.fixture(scope="module")
def planes(G: Generator, ws: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return G.planes(ws)


@pytest.fixture(scope="module")
def render(G: Generator, ws: torch.Tensor, planes: torch.Tensor, ref) -> dict[str, torch.Tensor]:
    draws = RenderDraws(t(ref["render_draws.draw00_rand_stratified"]), t(ref["render_draws.draw01_rand_importance"]))
    with torch.no_grad():
        return G.synthesize(ws, t(ref["inputs.c_render"]), neural_rendering_resolution=32, draws=draws,
                            planes=planes, return_depths_fine=True)


# ------------------------------------------------------------------------------ loading
def test_fixture_pickle_loads_with_strict_official_keys(eg3d_reference: Path) -> None:
    contents = read_checkpoint(eg3d_reference / "eg3d_tiny.pkl")
    official = [line.split("\t") for line in (eg3d_reference / "state_keys.txt").read_text().splitlines()]
    model = Generator.from_checkpoint_contents(contents)  # load_state_dict(strict=True) inside
    ours = model.state_dict()
    assert [name for name, _, _ in official] == list(ours)
    for name, shape, dtype in official:
        assert str(tuple(ours[name].shape)) == shape and str(ours[name].dtype) == dtype, name
        assert torch.equal(ours[name], contents.state_dict[name]), name
    assert model.neural_rendering_resolution == 128
    assert model.config.synthesis.channel_max == 32 and model.config.superresolution.conv_clamp == 256


def test_full_size_architecture_matches_official_key_list(eg3d_reference: Path) -> None:
    official = [line.split("\t") for line in (eg3d_reference / "full_size_keys_ffhq512_128.txt").read_text().splitlines()]
    with torch.device("meta"):
        model = Generator(GeneratorConfig.ffhq512_128())
    ours = [(name, str(tuple(p.shape)), str(p.dtype)) for name, p in model.state_dict().items()]
    assert ours == [tuple(row) for row in official]
    assert model.num_ws == 14


# ------------------------------------------------------------------------------ mapping, planes
def test_mapping(G: Generator, ws: torch.Tensor, ref) -> None:
    assert_close(ws, ref["outputs.ws"], ATOL["ws"], "ws")
    with torch.no_grad():
        w = G.mapping(t(ref["inputs.z"]), t(ref["inputs.c_cond"]))
    assert_close(w[:, 0], ref["outputs.w_untruncated"], ATOL["w_untruncated"], "w_untruncated")
    assert torch.equal(w[:, 0:1].expand_as(w), w)  # all 14 rows equal before truncation
    assert_close(G.backbone.mapping.w_avg, ref["outputs.w_avg"], ATOL["w_avg"], "w_avg")


def test_planes(planes: torch.Tensor, ref) -> None:
    assert planes.shape == (2, 3, 32, 256, 256)
    p = planes.flatten(1, 2)  # the official (N, 96, 256, 256) layout
    assert_close(p[:, :, ::8, ::8], ref["outputs.planes_sub8"], ATOL["planes"], "planes_sub8")
    assert_close(p[:, :, 124:132, 124:132], ref["outputs.planes_crop_124_132"], ATOL["planes"], "planes_crop_124_132")
    assert_close(p.double().mean((2, 3)), ref["outputs.planes_mean"], ATOL["planes"], "planes_mean")
    assert_close(p.double().std((2, 3), unbiased=False), ref["outputs.planes_std"], ATOL["planes"], "planes_std")


# ------------------------------------------------------------------------------ field queries
def test_plane_features_use_the_official_axes(planes: torch.Tensor, ref) -> None:
    pts = t(ref["inputs.query_points"])[:256].expand(2, -1, -1)
    feats = sample_triplane(planes, pts, box_warp=1.0)
    assert_close(feats, ref["outputs.query_plane_features_first256"], ATOL["query"], "query_plane_features_first256")


def test_density_and_features_at_points(G: Generator, planes: torch.Tensor, ws: torch.Tensor, ref) -> None:
    pts = t(ref["inputs.query_points"])
    with torch.no_grad():
        out = G.sample_density(planes, pts, chunk=500)  # (P, 3) points shared by the batch; odd chunks
        sigma_only = G.sample_density(ws, pts, with_features=False)  # ws: planes computed inside
    assert_close(out["sigma"], ref["outputs.query_sigma"], ATOL["query"], "query_sigma")
    assert_close(out["features"], ref["outputs.query_rgb"], ATOL["query"], "query_rgb")
    assert_close(sigma_only["sigma"], ref["outputs.query_sigma"], ATOL["query"], "query_sigma (sigma only)")
    assert set(sigma_only) == {"sigma"}


def test_shape_grid_density(G: Generator, ws: torch.Tensor, ref) -> None:
    with torch.no_grad():
        sigma = G.sample_density(ws[:1], t(ref["shape.grid_points"]), with_features=False)["sigma"]
    assert_close(sigma[0, :, 0], ref["shape.sigma_raw"], ATOL["shape"], "shape sigma_raw")


# ------------------------------------------------------------------------------ rendering
def test_rays(ref) -> None:
    cam2world, intrinsics = split_camera(t(ref["inputs.c_render"]))
    origins, directions = make_rays(cam2world, intrinsics, 32)
    assert_close(origins, ref["outputs.ray_origins"], ATOL["rays"], "ray_origins")
    assert_close(directions, ref["outputs.ray_directions"], ATOL["rays"], "ray_directions")


def test_volume_rendering(render: dict[str, torch.Tensor], ref) -> None:
    tol = ATOL["render"]
    assert_close(render["image_raw"], ref["outputs.image_raw"], tol, "image_raw")
    assert_close(render["depth_ray"], ref["outputs.image_depth"], tol, "image_depth")
    assert_close(render["features"], ref["outputs.feature_image"], tol, "feature_image")
    assert_close(render["opacity"].flatten(2).transpose(1, 2), ref["outputs.weights_sum"], tol, "weights_sum")
    assert_close(render["depths_fine"], ref["outputs.depths_fine"], tol, "depths_fine")


def test_super_resolved_image(render: dict[str, torch.Tensor], ref) -> None:
    assert_close(render["image"], ref["outputs.image"], ATOL["image"], "image (512x512)")


def test_seeded_generator_reproduces_the_recorded_draws(G: Generator, ws, planes, ref) -> None:
    """The fixture's draws came from torch.Generator().manual_seed(99), stratified first."""
    draws = G.draws(2, 32, generator=torch.Generator().manual_seed(99))
    assert torch.equal(draws.stratified, t(ref["render_draws.draw00_rand_stratified"]))
    assert torch.equal(draws.importance, t(ref["render_draws.draw01_rand_importance"]))
    with torch.no_grad():
        out = G.synthesize(ws, t(ref["inputs.c_render"]), neural_rendering_resolution=32, planes=planes,
                           generator=torch.Generator().manual_seed(99))
    assert_close(out["depth_ray"], ref["outputs.image_depth"], ATOL["render"], "image_depth (seeded)")
    assert_close(out["image"], ref["outputs.image"], ATOL["image"], "image (seeded)")
