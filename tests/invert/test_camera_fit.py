"""EG3D camera from 68 landmarks: the template's placement, round trips, camera validity, conventions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from helpers.base import cameras
from helpers.base.cameras import camera_from_angles, project_points
from helpers.invert import ibug68 as ib
from helpers.invert import landmark_template as lt
from helpers.invert.camera_accuracy import accuracy_poses, measure_accuracy, synthetic_landmarks
from helpers.invert.camera_fit import CameraFitConfig, camera_from_dataset_json, estimate_camera
from helpers.invert.crop_recipe import CropRecipe

DEG = math.pi / 180


def _pitch(elevation_deg: float) -> float:
    return float(cameras.elevation_to_pitch(elevation_deg * DEG))


# --------------------------------------------------------------------------------------------
# Template
# --------------------------------------------------------------------------------------------


def test_template_shape_symmetry_and_groups() -> None:
    t = lt.landmark_template()
    assert t.shape == (68, 3) and t.dtype == np.float64 and not t.flags.writeable
    assert lt.landmark_template() is t  # cached
    np.testing.assert_allclose(t[ib.MIRROR] * (-1, 1, 1), t, atol=1e-12)  # exactly left/right symmetric
    groups = ib.JAW + ib.BROWS + ib.NOSE + ib.EYES + ib.MOUTH
    assert sorted(groups) == list(range(68))
    # Subject's right (eye 36-41, jaw 0, mouth corner 48) on the image left = world x < 0; y up; face to +z.
    assert t[list(ib.RIGHT_EYE), 0].mean() < 0 < t[list(ib.LEFT_EYE), 0].mean()
    assert t[0, 0] < 0 < t[16, 0] and t[48, 0] < 0 < t[54, 0]
    assert t[list(ib.EYES), 1].mean() > t[ib.NOSE_TIP, 1] > t[list(ib.OUTER_MOUTH), 1].mean() > t[8, 1]
    assert t[:, 2].argmax() == ib.NOSE_TIP and t[ib.NOSE_TIP, 2] == pytest.approx(lt.NOSE_TIP_Z)
    info = lt.template_info()
    assert 0.2 < info.depth_span < 0.3  # nose tip to jaw contour of a face ≈ 0.34 world units wide
    assert 350 < info.mm_per_unit < 450  # a 136 mm wide face is ≈ 0.34 world units


def test_frontal_projection_has_the_crop_recipe_geometry() -> None:
    recipe = CropRecipe()
    frontal = cameras.camera_vector(0.0, 0.0)[0].numpy()
    lm = project_points(lt.landmark_template(), frontal, 512)
    quad = recipe.quad(lm)
    np.testing.assert_allclose(quad.center, [recipe.center_px] * 2, atol=1.0)
    assert quad.side == pytest.approx(recipe.quad_side_px, abs=1.0)
    assert abs(quad.x[1]) < 1e-4  # eyes level in the frontal view (float32 camera)
    # Jaw contour ≈ 2.59 from the frontal camera, behind the nose tip (depth 2.35).
    depth = 2.7 - lt.landmark_template()[:, 2]
    assert 2.55 < depth[list(ib.JAW[:3])].mean() < 2.75


# --------------------------------------------------------------------------------------------
# Round trip (acceptance criterion: within 2° of yaw and pitch for |yaw|, |pitch| ≤ 45°)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("noise_px", [0.0, 1.0])
def test_round_trip_recovers_yaw_and_pitch(noise_px: float) -> None:
    poses = accuracy_poses(n_random=20, seed=1, limit_deg=45.0, max_roll_deg=10.0)
    # Extremes with roll, too.
    corners = np.array([[y, e, r] for y in (-45, 45) for e in (-45, 45) for r in (-10, 10)], dtype=float)
    (row,) = measure_accuracy((noise_px,), poses_deg=np.concatenate([poses, corners]), seed=3)
    assert row.count == len(poses) + len(corners)
    assert row.yaw_max < 2.0 and row.elevation_max < 2.0 and row.pitch_max < 2.0, row
    if noise_px == 0.0:  # only the perspective effect of the random template scale remains
        assert row.yaw_max < 0.5 and row.elevation_max < 0.5


def test_round_trip_exact_without_perturbation() -> None:
    for yaw, elev, roll in [(0, 0, 0), (30, -20, 0), (-45, 45, 8), (60, 10, -5)]:
        lm = synthetic_landmarks(yaw * DEG, _pitch(elev), roll * DEG)
        est = estimate_camera(lm)
        assert est.yaw_deg == pytest.approx(yaw, abs=1e-4)
        assert est.elevation_deg == pytest.approx(elev, abs=1e-4)
        assert est.roll_deg == pytest.approx(roll, abs=1e-4)
        assert est.scale == pytest.approx(1.0, abs=1e-6) and np.abs(est.offset).max() < 1e-4
        assert est.rms_px < 1e-4 and est.success


def test_round_trip_without_roll() -> None:
    config = CameraFitConfig(fit_roll=False)
    rng = np.random.default_rng(5)
    for yaw, elev in [(-45, -45), (45, 45), (20, -10), (-30, 30)]:
        lm = synthetic_landmarks(yaw * DEG, _pitch(elev), rng=rng, noise_px=1.0, template_scale=1.05,
                                 image_offset=(4.0, -6.0))
        est = estimate_camera(lm, config=config)
        assert est.roll == 0.0
        assert abs(est.yaw_deg - yaw) < 2.0 and abs(est.elevation_deg - elev) < 2.0
        assert abs(math.degrees(est.pitch - _pitch(elev))) < 2.0


def test_other_image_size() -> None:
    lm = synthetic_landmarks(25 * DEG, _pitch(-15), 3 * DEG, image_size=256, image_offset=(3.0, 2.0))
    est = estimate_camera(lm, image_size=256)
    assert est.yaw_deg == pytest.approx(25, abs=0.05) and est.elevation_deg == pytest.approx(-15, abs=0.05)


# --------------------------------------------------------------------------------------------
# The returned camera
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("roll_deg", [0.0, 7.0])
def test_returned_camera_is_a_valid_eg3d_camera(roll_deg: float) -> None:
    lm = synthetic_landmarks(20 * DEG, _pitch(12), roll_deg * DEG, noise_px=0.5)
    est = estimate_camera(lm, config=CameraFitConfig(fit_roll=roll_deg != 0))
    cam = est.camera
    assert cam.shape == (25,) and cam.dtype == np.float32
    cameras.check_camera(cam)
    pose, _ = cameras.unpack(cam.astype(np.float64))
    rotation, position = pose[:3, :3], pose[:3, 3]
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-6)
    assert np.linalg.det(rotation) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(pose[3], [0, 0, 0, 1])
    assert np.linalg.norm(position) == pytest.approx(2.7, abs=1e-5)
    # Optical axis (camera z) through the pivot; the roll turns the camera about that axis.
    to_pivot = np.asarray(cameras.PIVOT) - position
    np.testing.assert_allclose(rotation[:, 2], to_pivot / np.linalg.norm(to_pivot), atol=1e-6)
    np.testing.assert_array_equal(cam[16:], np.array([cameras.FOCAL, 0, 0.5, 0, cameras.FOCAL, 0.5, 0, 0, 1],
                                                     dtype=np.float32))
    if roll_deg == 0:
        # Camera x axis horizontal: exactly the official orbit camera.
        np.testing.assert_array_equal(cam, cameras.camera_vector(est.yaw, est.pitch)[0].numpy())
    else:
        assert abs(rotation[1, 0]) > 0.05  # rolled: image x axis no longer horizontal
    # The camera reproduces the fitted landmarks (estimate_camera and camera_from_angles agree).
    proj = project_points(lt.landmark_template(), cam.astype(np.float64), 512)
    np.testing.assert_allclose(est.scale * (proj - 255.5) + 255.5 + est.offset, est.fitted, atol=2e-3)
    assert est.yaw_deg == pytest.approx(math.degrees(cameras.orbit_angles(pose)[0]), abs=1e-4)


# --------------------------------------------------------------------------------------------
# Conventions
# --------------------------------------------------------------------------------------------


def test_mirroring_flips_yaw_and_keeps_elevation() -> None:
    rng = np.random.default_rng(11)
    for yaw, elev, roll in [(25, 10, 5), (-40, -20, -3), (10, 35, 0)]:
        lm = synthetic_landmarks(yaw * DEG, _pitch(elev), roll * DEG, rng=rng, noise_px=1.0)
        est = estimate_camera(lm)
        mirrored = estimate_camera(ib.mirror_landmarks(lm, 512))
        assert mirrored.yaw_deg == pytest.approx(-est.yaw_deg, abs=1e-3)
        assert mirrored.elevation_deg == pytest.approx(est.elevation_deg, abs=1e-3)
        assert mirrored.roll_deg == pytest.approx(-est.roll_deg, abs=1e-3)
        assert np.sign(est.yaw_deg) == np.sign(yaw)


def test_yaw_and_elevation_signs_from_the_image() -> None:
    frontal = synthetic_landmarks(0.0, 0.0)
    # Shift each landmark in proportion to how far it sticks out of the face (template depth): what a small head
    # turn does. Nose pointing to the image left = camera towards the subject's left (image right) = yaw > 0.
    relief = lt.landmark_template()[:, 2] - lt.landmark_template()[:, 2].mean()
    # Under orthography a yaw θ shifts a point by −sin θ·z·(≈ 900 px per world unit here): 90 px/unit ≈ 5.7°.
    shift = 90.0 * relief[:, None]
    assert estimate_camera(frontal - shift * (1, 0)).yaw_deg > 3
    assert estimate_camera(frontal + shift * (1, 0)).yaw_deg < -3
    # Nose dropping towards the mouth = camera above the face: positive elevation, negative pitch parameter.
    est = estimate_camera(frontal + shift * (0, 1))
    assert est.elevation_deg > 3 and est.pitch < 0
    above = synthetic_landmarks(0.0, _pitch(20))
    eye_y = list(ib.EYES)
    assert above[ib.NOSE_TIP, 1] - above[eye_y, 1].mean() > frontal[ib.NOSE_TIP, 1] - frontal[eye_y, 1].mean()
    # Subject's left side more visible at positive yaw: image-right half of the face wider than the left one.
    side = synthetic_landmarks(30 * DEG, 0.0)
    assert side[16, 0] - side[ib.NOSE_TIP, 0] > side[ib.NOSE_TIP, 0] - side[0, 0]


def test_roll_sign() -> None:
    # Positive roll turns the image content counter-clockwise as displayed (y down): the eye on the image
    # right (the subject's left eye, 42-47) rises.
    lm = synthetic_landmarks(0.0, 0.0, 10 * DEG)
    assert lm[list(ib.LEFT_EYE), 1].mean() < lm[list(ib.RIGHT_EYE), 1].mean()
    assert estimate_camera(lm).roll_deg == pytest.approx(10, abs=1e-4)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.zeros((67, 2)), np.zeros((68, 3)), np.zeros(136), "face"])
def test_wrong_shapes_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="68, 2"):
        estimate_camera(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_landmarks_are_rejected(value: float) -> None:
    lm = synthetic_landmarks(0.0, 0.0)
    lm[40, 1] = value
    with pytest.raises(ValueError, match="indices \\[40\\]"):
        estimate_camera(lm)


def test_other_bad_inputs() -> None:
    lm = synthetic_landmarks(0.0, 0.0)
    with pytest.raises(ValueError, match="image_size"):
        estimate_camera(lm, image_size=0)
    with pytest.raises(ValueError, match="coincide"):
        estimate_camera(np.full((68, 2), 10.0))
    with pytest.raises(ValueError, match="weights"):
        CameraFitConfig(jaw_weight=-1.0)
    with pytest.raises(ValueError, match="bounds"):
        CameraFitConfig(max_elevation_deg=90.0)
    assert estimate_camera(torch.as_tensor(lm)).rms_px < 1e-4  # tensors are accepted


# --------------------------------------------------------------------------------------------
# Torch builder and projection
# --------------------------------------------------------------------------------------------


def test_camera_from_angles_gradients_flow() -> None:
    template = torch.tensor(lt.landmark_template())
    target = torch.as_tensor(synthetic_landmarks(0.2, -0.1, 0.05))
    angles = torch.tensor([0.1, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    camera = camera_from_angles(angles[0], angles[1], angles[2])
    loss = ((project_points(template, camera, 512) - target) ** 2).mean()
    loss.backward()
    assert angles.grad is not None and torch.all(torch.isfinite(angles.grad)) and torch.all(angles.grad != 0)

    def fn(a: torch.Tensor) -> torch.Tensor:
        return project_points(template[:8], camera_from_angles(a[0], a[1], a[2]), 512)

    assert torch.autograd.gradcheck(fn, (torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64, requires_grad=True),))
    # A few gradient steps on the angles reduce the landmark error (what GAN inversion will do).
    opt = torch.optim.Adam([angles], lr=0.02)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = ((project_points(template, camera_from_angles(*angles), 512) - target) ** 2).mean()
        first = float(loss.detach()) if first is None else first
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.2 * first


def test_project_points_conventions() -> None:
    camera = camera_from_angles(0.3, -0.2, dtype=torch.float64).numpy()
    pivot = np.array([cameras.PIVOT])
    np.testing.assert_allclose(project_points(pivot, camera, 512), [[255.5, 255.5]], atol=1e-9)
    np.testing.assert_allclose(project_points(pivot, camera, (100, 300)), [[149.5, 49.5]], atol=1e-9)
    points = lt.landmark_template()
    batch = np.stack([camera, camera_from_angles(0.0, 0.1, 0.2, dtype=torch.float64).numpy()])
    out = project_points(points, batch, 512)
    assert out.shape == (2, 68, 2)
    torch_out = project_points(torch.tensor(points), torch.as_tensor(batch), 512)
    np.testing.assert_allclose(torch_out.numpy(), out, atol=1e-9)


# --------------------------------------------------------------------------------------------
# Published labels
# --------------------------------------------------------------------------------------------


def test_camera_from_dataset_json(tmp_path) -> None:
    labels = [[name, cameras.camera_vector(yaw, 0.0)[0].tolist()]
              for name, yaw in [("00000.png", 0.1), ("00000_mirror.png", -0.1), ("00001.png", 0.3)]]
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps({"labels": labels}))
    cam = camera_from_dataset_json(path, "00001.png")
    assert cam.shape == (25,) and cam.dtype == np.float32
    np.testing.assert_allclose(cam, labels[2][1], atol=1e-7)
    np.testing.assert_allclose(camera_from_dataset_json(path, "00000_mirror"), labels[1][1], atol=1e-7)
    with pytest.raises(KeyError, match="00001.png"):  # the close names are suggested
        camera_from_dataset_json(path, "00002.png")
    with pytest.raises(Exception, match="not found"):
        camera_from_dataset_json(tmp_path / "missing.json", "00000.png")
