"""Image → depth → mesh → viewer (helpers.depth.reconstruction): conversion math, geometry, files, CLI.

Offline and fast: fake models return known maps; the end-to-end tests use tiny random checkpoints.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from helpers.base import cameras
from helpers.base.photo import center_square, load_mask, load_rgb
from helpers.depth.models import (
    DepthModelConfig,
    LoadedDepthModel,
    build_depth_model,
    load_depth_model,
    save_depth_model,
)
from helpers.depth.reconstruction import (
    FRONTAL_FACE_Z_RANGE,
    ReconstructConfig,
    depth_from_prediction,
    depth_preview,
    reconstruct,
    reconstruct_from_depth,
    save_reconstruction,
)
from helpers.generation.analytic_head import AnalyticHead
from helpers.mesh import depth_to_mesh, load_mesh

NEAR, FAR = FRONTAL_FACE_Z_RANGE


class FixedOutput(nn.Module):
    """A fake depth model: ``predict`` returns a fixed (H, W) map and records the images it got."""

    def __init__(self, output: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("output", torch.as_tensor(np.asarray(output, dtype=np.float32)))
        self.seen: list[torch.Tensor] = []

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        assert tuple(images.shape[-2:]) == tuple(self.output.shape), "the fake returns maps at its own size"
        self.seen.append(images.clone())
        return self.output[None, None].expand(images.shape[0], 1, *self.output.shape).clone()


def fake(output: np.ndarray, target: str) -> LoadedDepthModel:
    name = "attention_unet" if target != "relative_inverse" else "tiny-random-dpt"
    # z_offset 0 / z_scale 1: a metric_z fake's raw output is z itself.
    config = DepthModelConfig(name=name, target=target, input_size=output.shape[0], n_blocks=3, z_offset=0.0,
                              z_scale=1.0)
    return LoadedDepthModel(FixedOutput(output), config)


@pytest.fixture(scope="module")
def unet_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = DepthModelConfig(name="attention_unet", start_filts=4, n_blocks=3)
    return save_depth_model(build_depth_model(config), config, tmp_path_factory.mktemp("model") / "unet.pt")


@pytest.fixture(scope="module")
def frontal_view():
    return AnalyticHead().render(cameras.camera_vector(0.0, 0.0)[0].numpy(), 64)


@pytest.fixture()
def photo(tmp_path):
    """A non-square RGB photo file (the astronaut, 120 x 160)."""
    from skimage.data import astronaut

    path = tmp_path / "photo.png"
    Image.fromarray(astronaut()[::3, ::3][:120, :160]).save(path)
    return path


# --------------------------------------------------------------------------------------------
# Conversion math
# --------------------------------------------------------------------------------------------


def test_original_maps_one_to_near_and_minus_one_to_far():
    d = np.array([[1.0, 0.0, -0.5], [-0.89, -0.95, -1.0], [1.3, np.nan, 0.5]])
    depth, mask = depth_from_prediction(d, "original")
    expected = NEAR + (1 - np.clip(d, -1, 1)) / 2 * (FAR - NEAR)
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, False, True]]
    np.testing.assert_allclose(depth[mask], expected[mask], rtol=1e-6)
    assert depth[0, 0] == pytest.approx(NEAR) and depth[2, 0] == pytest.approx(NEAR)  # clipped overshoot
    assert (depth[~mask] == 0).all() and depth.dtype == np.float32


def test_original_threshold_and_range_are_configurable():
    d = np.array([[1.0, -0.5, -0.95]])
    depth, mask = depth_from_prediction(d, "original", ReconstructConfig(depth_range=(2.0, 3.0), mask_threshold=-1))
    assert mask.all()
    np.testing.assert_allclose(depth, [[2.0, 2.75, 2.975]], rtol=1e-6)
    _, mask = depth_from_prediction(d, "original", ReconstructConfig(mask_threshold=0.0))
    assert mask.tolist() == [[True, False, False]]


def test_user_mask_overrides_the_threshold():
    d = np.full((2, 2), -1.0)
    user = np.array([[True, False], [False, True]])
    depth, mask = depth_from_prediction(d, "original", mask=user)
    assert (mask == user).all()
    np.testing.assert_allclose(depth[user], FAR, rtol=1e-6)


def test_relative_inverse_maps_disparity_linearly_to_inverse_depth():
    # Background disparity ~0.1, face 4..6: Otsu separates them.
    d = np.full((8, 8), 0.1) + np.random.default_rng(0).uniform(0, 0.05, (8, 8))
    d[2:6, 2:6] = np.linspace(4.0, 6.0, 16).reshape(4, 4)
    depth, mask = depth_from_prediction(d, "relative_inverse")
    assert mask.sum() == 16 and mask[2:6, 2:6].all()
    face = depth[2:6, 2:6].ravel()
    assert face[-1] == pytest.approx(NEAR) and face[0] == pytest.approx(FAR)  # max disparity = nearest
    t = (np.linspace(4.0, 6.0, 16) - 4.0) / 2.0
    np.testing.assert_allclose(1 / face, 1 / FAR + t * (1 / NEAR - 1 / FAR), rtol=1e-6)


def test_relative_inverse_is_invariant_to_scale_and_shift_and_recovers_true_depth():
    z = np.linspace(NEAR, FAR, 30).reshape(5, 6)
    user = np.ones(z.shape, dtype=bool)
    for scale, shift in ((1.0, 0.0), (7.5, 3.0), (0.01, -0.002)):
        depth, _ = depth_from_prediction(scale / z + shift, "relative_inverse", mask=user)
        np.testing.assert_allclose(depth, z, rtol=1e-5)


def test_relative_inverse_mask_and_degenerate_maps():
    d = np.full((4, 4), 0.5)
    depth, mask = depth_from_prediction(d, "relative_inverse")
    assert not mask.any() and (depth == 0).all()  # constant: no face to separate
    user = np.zeros((4, 4), bool)
    user[1:3, 1:3] = True
    depth, mask = depth_from_prediction(d, "relative_inverse", mask=user)
    assert (mask == user).all()  # flat foreground: half-way in disparity
    np.testing.assert_allclose(1 / depth[user], (1 / NEAR + 1 / FAR) / 2, rtol=1e-6)


def test_metric_z_keeps_values_inside_the_plausible_range():
    d = np.array([[2.5, 1.0, 3.5], [np.inf, 2.2, 3.3]])
    depth, mask = depth_from_prediction(d, "metric_z")
    assert mask.tolist() == [[True, False, False], [False, True, True]]
    np.testing.assert_allclose(depth[mask], d[mask], rtol=1e-6)
    depth, mask = depth_from_prediction(d, "metric_z", mask=np.ones(d.shape, bool))
    assert mask.tolist() == [[True, True, True], [False, True, True]]  # user mask: z as is, still finite
    _, mask = depth_from_prediction(d, "metric_z", ReconstructConfig(metric_range=(0.5, 4.0)))
    assert mask.sum() == 5


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="target"):
        depth_from_prediction(np.zeros((2, 2)), "disparity")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mask shape"):
        depth_from_prediction(np.zeros((2, 2)), "original", mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="depth_range"):
        ReconstructConfig(depth_range=(3.0, 2.0))
    with pytest.raises(ValueError, match="camera"):
        ReconstructConfig(camera=tuple(range(16)))
    with pytest.raises(ValueError, match="frame"):
        ReconstructConfig(frame="image")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        load_rgb(np.full((4, 4, 3), 200.0))
    with pytest.raises(ValueError, match="shape"):
        load_rgb(np.zeros((3, 8, 8), np.uint8))


def test_default_depth_range_is_the_frontal_analytic_head(frontal_view):
    z = frontal_view.depth[frontal_view.mask]
    assert z.min() == pytest.approx(NEAR, abs=0.01) and z.max() == pytest.approx(FAR, abs=0.01)
    assert np.allclose(ReconstructConfig().camera, cameras.camera_vector(0.0, 0.0)[0].numpy())


# --------------------------------------------------------------------------------------------
# Inputs: crop, resize, masks
# --------------------------------------------------------------------------------------------


def test_input_is_center_cropped_and_fed_at_the_model_size():
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 10:50] = 255  # exactly the centre square
    model = fake(np.zeros((32, 32)), "original")
    rec = reconstruct(image, ReconstructConfig(resolution=16), model=model)
    assert rec.image.shape == (16, 16, 3) and (rec.image == 255).all()
    assert model.model.seen[0].shape == (1, 3, 32, 32) and model.model.seen[0].dtype == torch.uint8
    assert rec.depth.shape == rec.mask.shape == rec.prediction.shape == (16, 16)
    assert rec.camera.shape == (25,) and rec.camera.dtype == np.float32


def test_mask_file_is_cropped_and_resized_like_the_image(tmp_path):
    image = np.full((40, 60, 3), 128, np.uint8)
    mask = np.zeros((80, 120), np.uint8)
    mask[:, :60] = 255  # left half of the full frame → left half of the centre square... minus the crop
    Image.fromarray(mask).save(tmp_path / "mask.png")
    rec = reconstruct(image, ReconstructConfig(resolution=16), model=fake(np.zeros((16, 16)), "original"),
                      mask=tmp_path / "mask.png")
    # The square covers columns 20..100 of the mask; 20..60 are foreground: the left half.
    assert rec.mask[:, :8].all() and not rec.mask[:, 8:].any()
    assert (load_mask(mask > 0, (40, 60), 16) == rec.mask).all()
    with pytest.raises(ValueError, match="aspect ratio"):
        load_mask(np.ones((40, 40), bool), (40, 60), 16)


def test_load_rgb_accepts_paths_pil_and_arrays(photo, tmp_path):
    from_path = load_rgb(photo)
    assert from_path.shape == (120, 160, 3) and from_path.dtype == np.uint8
    assert (load_rgb(Image.open(photo).convert("RGBA")) == from_path).all()
    assert (load_rgb(from_path / 255.0) == from_path).all()
    assert load_rgb(from_path[..., 0]).shape == (120, 160, 3)
    assert center_square(from_path).shape == (120, 120, 3)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_rgb(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="could not be read as an image"):
        load_rgb(tmp_path / "bad.png")


# --------------------------------------------------------------------------------------------
# Geometry: exact depth of the analytic head in, its surface out
# --------------------------------------------------------------------------------------------


def test_metric_depth_back_projects_onto_the_head_surface(frontal_view):
    head = AnalyticHead()
    model = fake(frontal_view.depth, "metric_z")
    config = ReconstructConfig(resolution=64, max_depth_jump=None)
    rec = reconstruct(frontal_view.image, config, model=model)
    assert (rec.mask == frontal_view.mask).all()
    np.testing.assert_array_equal(rec.depth, frontal_view.depth)
    # The vertices lie on the surface: σ = level there (slope 100 → 0.5 ≈ 0.005 world units).
    sigma = head.density(rec.mesh.vertices)
    assert np.abs(sigma - head.level).max() < 0.5
    cam2world, k = cameras.unpack(frontal_view.camera.astype(np.float64))
    expected = depth_to_mesh(frontal_view.depth, k, cam2world, mask=frontal_view.mask, max_depth_jump=None)
    np.testing.assert_allclose(rec.mesh.vertices, expected.vertices, atol=1e-6)
    np.testing.assert_array_equal(rec.mesh.faces, expected.faces)
    assert rec.mesh.vertex_colors is not None and rec.z_range == config.metric_range


def test_camera_frame_mesh_is_the_world_mesh_before_cam2world(frontal_view):
    model = fake(frontal_view.depth, "metric_z")
    world = reconstruct(frontal_view.image, ReconstructConfig(resolution=64), model=model)
    camera = reconstruct(frontal_view.image, ReconstructConfig(resolution=64, frame="camera"), model=model)
    cam2world, _ = cameras.unpack(frontal_view.camera.astype(np.float64))
    moved = camera.mesh.vertices @ cam2world[:3, :3].T + cam2world[:3, 3]
    np.testing.assert_allclose(moved, world.mesh.vertices, atol=1e-5)
    assert camera.frame == "camera" and (camera.mesh.vertices[:, 2] > 2).all()  # z forward, in front


def test_original_prediction_of_the_head_gives_its_relief(frontal_view):
    # The original's encoding of the exact depth: per image [-1, 1], 1 = nearest, background -1.
    z, fg = frontal_view.depth, frontal_view.mask
    lo, hi = z[fg].min(), z[fg].max()
    d = np.where(fg, 1 - 2 * (z - lo) / (hi - lo), -1.0)
    rec = reconstruct(frontal_view.image, ReconstructConfig(resolution=64, depth_range=(float(lo), float(hi)),
                                                            mask_threshold=-1.0), model=fake(d, "original"))
    keep = rec.mask
    assert keep.sum() >= fg.sum() - 2  # only the farthest point(s), at exactly -1, are lost
    np.testing.assert_allclose(rec.depth[keep], z[keep], atol=1e-5)


# --------------------------------------------------------------------------------------------
# End to end: real (random) checkpoints, files, command line
# --------------------------------------------------------------------------------------------


def test_reconstruct_and_save_with_a_random_unet(unet_checkpoint, photo, tmp_path):
    from helpers.base.depth_png import read_depth_png
    from helpers.depth.models import load_depth_model

    model = load_depth_model(unet_checkpoint)
    rec = reconstruct(photo, ReconstructConfig(resolution=32, device="cpu"), model=model)
    assert rec.target == "original" and rec.mask.any() and rec.mesh.num_faces > 0
    files = save_reconstruction(rec, tmp_path / "out", stem="photo")
    assert set(files) == {"mesh", "depth", "depth_json", "depth_preview", "image", "viewer"}
    mesh = load_mesh(files["mesh"])
    assert mesh.num_faces == rec.mesh.num_faces and mesh.vertex_colors is not None
    info = json.loads(files["depth_json"].read_text())
    assert (info["near"], info["far"]) == FRONTAL_FACE_Z_RANGE and info["metric"] is False
    depth = read_depth_png(files["depth"], info["near"], info["far"])
    np.testing.assert_allclose(depth, rec.depth, atol=(FAR - NEAR) / 65534)
    assert np.asarray(Image.open(files["depth_preview"])).shape == (32, 32, 3)
    html = files["viewer"].read_text()
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js embedded: offline


def test_config_loads_the_model_itself(unet_checkpoint, photo):
    rec = reconstruct(photo, ReconstructConfig(model=str(unet_checkpoint), resolution=16, device="cpu"))
    assert rec.depth.shape == (16, 16)


def test_relative_inverse_model_end_to_end(tmp_path, photo):
    torch.manual_seed(0)
    config = DepthModelConfig(name="tiny-random-dpt", target="relative_inverse")
    path = save_depth_model(build_depth_model(config), config, tmp_path / "dpt.pt")
    rec = reconstruct(photo, ReconstructConfig(model=str(path), resolution=24, device="cpu"))
    assert rec.target == "relative_inverse"
    surface = rec.depth[rec.mask]
    assert surface.size and surface.min() >= NEAR - 1e-5 and surface.max() <= FAR + 1e-5


def test_empty_foreground_still_writes_files(tmp_path):
    rec = reconstruct(np.zeros((8, 8, 3), np.uint8), ReconstructConfig(resolution=8),
                      model=fake(np.full((8, 8), -1.0), "original"))
    assert not rec.mask.any() and rec.mesh.is_empty
    files = save_reconstruction(rec, tmp_path, stem="empty")
    assert load_mesh(files["mesh"], allow_empty=True).is_empty and files["viewer"].is_file()
    assert (depth_preview(rec.depth) == 255).all()


def test_reconstruct_from_depth_resamples_by_nearest_and_back_projects_like_a_prediction():
    rng = np.random.default_rng(0)
    z = (2.4 + 0.2 * rng.random((64, 64))).astype(np.float32)
    photo = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    config = ReconstructConfig(resolution=32, frame="camera", max_depth_jump=None)  # keep every triangle
    rec = reconstruct_from_depth(photo, z, config)
    assert rec.target == "metric_z" and np.array_equal(rec.depth, z[1::2, 1::2])  # the pixel holding each centre
    assert rec.mask.all() and rec.mesh.num_faces == 2 * 31 * 31
    assert np.allclose(rec.mesh.vertices[:, 2].reshape(32, 32), rec.depth)  # camera frame: vertex z is the depth
    with pytest.raises(ValueError, match="one \\(H, W\\) map"):
        reconstruct_from_depth(photo, z[None], config)


def test_a_read_only_photo_gives_no_warning():
    """Photos read through PIL are read-only arrays; the network's input is a copy, so torch has nothing to warn
    about (notebook 06 showed a UserWarning)."""
    photo = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    photo.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = reconstruct(photo, ReconstructConfig(resolution=64), model=load_depth_model("tiny-random-unet"))
    assert rec.depth.shape == (64, 64)
