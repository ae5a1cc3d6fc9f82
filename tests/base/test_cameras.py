"""EG3D camera conventions, checked against values recorded from the official code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from helpers.base import cameras


@pytest.fixture(scope="module")
def ref(eg3d_reference):
    return dict(np.load(eg3d_reference / "cameras.npz"))


def test_official_sampler_poses_match_fixture(ref):
    params = ref["lookat_params"]  # columns: horizontal, vertical, lookat xyz, radius
    for row, expected in zip(params, ref["lookat_cam2world"]):
        pose = cameras.official_lookat_pose(row[0], row[1], lookat=row[2:5], radius=float(row[5]))
        assert pose.dtype == torch.float32
        np.testing.assert_allclose(pose[0].numpy(), expected, atol=1e-6, rtol=0)


def test_orbit_pose_is_the_official_sampler_around_frontal(ref):
    # gen_samples' conditioning and rendering cameras: (π/2, π/2) and (π/2 + 0.4, π/2 - 0.2)
    np.testing.assert_allclose(cameras.orbit_pose(0.0, 0.0)[0].numpy(), ref["cam2world_cond"], atol=1e-6, rtol=0)
    both = cameras.orbit_pose([0.0, 0.4], [0.0, -0.2])
    np.testing.assert_allclose(both.numpy(), ref["cam2world_render"], atol=1e-6, rtol=0)


def test_camera_vectors_match_fixture(ref):
    np.testing.assert_allclose(cameras.conditioning_camera(2).numpy(), ref["c_cond"], atol=1e-6, rtol=0)
    render = cameras.camera_vector([0.0, 0.4], [0.0, -0.2])
    np.testing.assert_allclose(render.numpy(), ref["c_render"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(cameras.intrinsics().numpy(), ref["intrinsics"], atol=1e-6, rtol=0)


def test_official_fov_formula_matches_fixture(ref):
    np.testing.assert_allclose(cameras.intrinsics_from_fov(18.837).numpy(), ref["fov_to_intrinsics_18p837"], atol=1e-6)
    np.testing.assert_allclose(cameras.intrinsics_from_fov(18).numpy(), ref["fov_to_intrinsics_18"], atol=1e-6)
    # The original's data generator used the truncated 18° FOV.
    assert cameras.fov_to_focal(18) == pytest.approx(cameras.SEED_FOCAL, abs=1e-4)
    # Exact constants: 4.2647 corresponds to a diagonal FOV of 18.8285°.
    assert cameras.fov_to_focal(18.828513, official=False) == pytest.approx(cameras.FOCAL, abs=1e-5)
    with pytest.raises(ValueError, match="field of view"):
        cameras.fov_to_focal(0)


def test_pose_is_a_rigid_opencv_camera_looking_at_the_pivot():
    yaw = torch.linspace(-1.2, 1.2, 7)
    pitch = torch.linspace(-0.4, 0.4, 7)
    poses = cameras.orbit_pose(yaw, pitch).double()
    rot, pos = poses[:, :3, :3], poses[:, :3, 3]
    eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
    torch.testing.assert_close(rot.transpose(1, 2) @ rot, eye, atol=1e-6, rtol=0)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(7, dtype=torch.float64), atol=1e-6)
    torch.testing.assert_close(pos.norm(dim=1), torch.full((7,), 2.7, dtype=torch.float64), atol=1e-5, rtol=0)
    to_pivot = torch.tensor(cameras.PIVOT, dtype=torch.float64) - pos
    torch.testing.assert_close(rot[:, :, 2], to_pivot / to_pivot.norm(dim=1, keepdim=True), atol=1e-6, rtol=0)
    # Image "down" (camera y) points downwards in the world: the face is upright.
    assert (rot[:, 1, 1] < 0).all()


def test_yaw_and_pitch_signs():
    right = cameras.orbit_pose(0.5, 0.0)[0]
    assert right[0, 3] > 0.5  # positive yaw moves the camera towards +x
    below = cameras.orbit_pose(0.0, 0.3)[0]
    assert below[1, 3] < -0.3  # positive pitch moves the camera down
    # Camera height follows the official parameterisation: y = -(2/π)·pitch·radius
    assert below[1, 3].item() == pytest.approx(-(2 / math.pi) * 0.3 * 2.7, abs=1e-5)
    assert cameras.pitch_to_elevation(0.3) == pytest.approx(math.asin(-0.6 / math.pi))
    assert cameras.elevation_to_pitch(cameras.pitch_to_elevation(-0.37)) == pytest.approx(-0.37)


def test_orbit_angles_invert_orbit_pose():
    yaw = np.array([0.0, 0.4, -0.4, 1.3, -1.5])
    pitch = np.array([0.0, -0.2, 0.25, 0.1, -0.4])
    poses = cameras.orbit_pose(yaw, pitch, radius=2.3)
    for inp in (poses, poses.numpy()):
        y, p, r = cameras.orbit_angles(inp)
        np.testing.assert_allclose(np.asarray(y), yaw, atol=2e-6)
        np.testing.assert_allclose(np.asarray(p), pitch, atol=2e-6)
        np.testing.assert_allclose(np.asarray(r), 2.3, atol=2e-6)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_pack_unpack_round_trip(kind):
    poses = cameras.orbit_pose([0.1, -0.3, 0.2], [0.0, 0.1, -0.1])
    k = cameras.intrinsics()
    if kind == "numpy":
        poses, k = poses.numpy(), k.numpy()
    c = cameras.pack(poses, k)
    assert type(c) is type(poses) and tuple(c.shape) == (3, 25)
    pose2, k2 = cameras.unpack(c)
    assert type(pose2) is type(poses)
    np.testing.assert_array_equal(np.asarray(pose2), np.asarray(poses))
    np.testing.assert_array_equal(np.asarray(k2), np.broadcast_to(np.asarray(k), (3, 3, 3)))
    # Row-major layout: translation at 3, 7, 11; focal at 16 and 20; principal point at 18 and 21.
    np.testing.assert_array_equal(np.asarray(c)[:, [3, 7, 11]], np.asarray(poses)[:, :3, 3])
    np.testing.assert_allclose(np.asarray(c)[:, [16, 20, 18, 21]], [[cameras.FOCAL, cameras.FOCAL, 0.5, 0.5]] * 3)
    np.testing.assert_allclose(np.asarray(cameras.focal_of(c)), cameras.FOCAL)


def test_unpack_accepts_a_single_vector():
    pose, k = cameras.unpack(np.zeros(25, dtype=np.float32))
    assert pose.shape == (4, 4) and k.shape == (3, 3)


@pytest.mark.parametrize("bad", [np.zeros(24), np.zeros((2, 16)), torch.zeros(1, 26), np.float32(1.0)])
def test_wrong_camera_length_says_what_is_wrong(bad):
    with pytest.raises(ValueError, match="25 values"):
        cameras.unpack(bad)


def test_pack_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(\.\.\., 4, 4\)"):
        cameras.pack(np.zeros((2, 3, 4)), np.eye(3))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 3\)"):
        cameras.pack(np.zeros((2, 4, 4)), np.eye(4))
    with pytest.raises(ValueError, match="numpy array or tensor"):
        cameras.check_camera([0.0] * 25)


def test_seed_camera_conversion():
    frontal = cameras.conditioning_camera(1).numpy()  # what an EG3D label looks like
    seed_file = frontal.reshape(1, 25)
    c = cameras.from_seed_camera(seed_file)
    assert c.shape == (25,) and c.dtype == np.float32
    _, k = cameras.unpack(c)
    assert k[0, 0] == pytest.approx(cameras.SEED_FOCAL) and k[1, 1] == pytest.approx(cameras.SEED_FOCAL)
    np.testing.assert_array_equal(c[:16], seed_file[0, :16])
    assert cameras.from_seed_camera(seed_file, focal=cameras.FOCAL)[16] == pytest.approx(cameras.FOCAL)
    np.testing.assert_array_equal(cameras.to_seed_camera(c), c.reshape(1, 25))
    with pytest.raises(ValueError, match=r"\(1, 25\)"):
        cameras.from_seed_camera(np.zeros((2, 25)))
    with pytest.raises(ValueError, match="not an EG3D camera"):
        cameras.from_seed_camera(np.zeros((1, 25)))


def test_flip_camera_is_the_mirrored_orbit_and_eg3d_xflip():
    for yaw, pitch in ((0.4, -0.15), (-1.1, 0.2), (0.0, 0.0)):
        camera = cameras.camera_vector(yaw, pitch)[0]
        flipped = cameras.flip_camera(camera)
        assert torch.allclose(flipped, cameras.camera_vector(-yaw, pitch)[0], atol=2e-6)
        eg3d = camera.clone()
        eg3d[[1, 2, 3, 4, 8]] *= -1  # EG3D's training/dataset.py x-flip of labels
        assert torch.allclose(flipped, eg3d)
        pose, _ = cameras.unpack(flipped)
        assert torch.linalg.det(pose[:3, :3]) == pytest.approx(1.0, abs=1e-5)  # still a rotation
    # A turned camera whose principal point is off the centre: cx and cy are mirrored too.
    camera = cameras.pack(cameras.orbit_pose(0.35, -0.12)[0], cameras.intrinsics(4.2647, cx=0.47, cy=0.53))
    assert torch.allclose(cameras.flip_camera(cameras.flip_camera(camera)), camera)
    assert cameras.flip_camera(camera)[18] == pytest.approx(1 - 0.47)  # cx' = 1 − cx
    nan = torch.full((25,), float("nan"))
    assert torch.isnan(cameras.flip_camera(nan)).all()


def test_camera_from_angles_matches_orbit_pose() -> None:
    yaw = torch.tensor([-0.7, 0.0, 0.3, 1.2])
    pitch = torch.tensor([0.4, 0.0, -0.25, 0.1])
    official = cameras.camera_vector(yaw, pitch)
    np.testing.assert_array_equal(cameras.camera_from_angles(yaw, pitch).numpy(), official.numpy())
    c64 = cameras.camera_from_angles(yaw.double(), pitch.double())
    assert c64.dtype == torch.float64
    pose64 = cameras.orbit_pose(yaw.double(), pitch.double(), dtype=torch.float64)
    np.testing.assert_allclose(c64[:, :16].numpy(), pose64.reshape(-1, 16).numpy(), atol=1e-12)
    # Shapes broadcast; scalars give a single vector.
    assert cameras.camera_from_angles(0.1, 0.2).shape == (25,)
    assert cameras.camera_from_angles(torch.zeros(2, 1), torch.zeros(3)).shape == (2, 3, 25)
    single = cameras.camera_from_angles(0.3, -0.25, radius=2.5, pivot=(0.0, 0.1, 0.2), focal=3.6)
    assert single[16] == pytest.approx(3.6)
    assert float(torch.linalg.norm(single[[3, 7, 11]])) == pytest.approx(2.5, rel=1e-6)


def test_project_points_lands_on_pixel_index_coordinates():
    """The pivot is seen at the image centre; a point off the axis at f·x/z of the image side from it."""
    camera = cameras.camera_vector(0.0, 0.0, dtype=torch.float64)[0]
    pivot = torch.tensor([[0.0, 0.0, 0.2]], dtype=torch.float64)
    assert cameras.project_points(pivot, camera, 512)[0].tolist() == pytest.approx([255.5, 255.5])
    point = np.array([[0.1, 0.0, 0.2]])  # world x = image right of the frontal view (the camera faces −z)
    (u, v), = cameras.project_points(point, camera.numpy(), (256, 512))  # numpy in, numpy out; (H, W)
    assert u == pytest.approx(512 * (0.5 + cameras.FOCAL * 0.1 / 2.5) - 0.5) and v == pytest.approx(127.5)


def test_pixel_directions_project_back_to_their_pixels():
    k = np.array([[4.2647, 0.02, 0.47], [0.0, 4.1, 0.52], [0.0, 0.0, 1.0]])
    for kk in (k, torch.from_numpy(k)):
        d = np.asarray(cameras.pixel_directions(kk, 6, 8))
        assert d.shape == (6, 8, 3)
        np.testing.assert_allclose(d[..., 2], 1.0)
        proj = d @ k.T  # back to normalised image coordinates
        np.testing.assert_allclose(proj[2, 5, :2], [(5 + 0.5) / 8, (2 + 0.5) / 6], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        cameras.pixel_directions(np.eye(4), 2, 2)


def test_scalar_angles_broadcast_against_sequences():
    poses = cameras.orbit_pose([0.0, 0.3, -0.3], 0.1)
    assert poses.shape == (3, 4, 4)
    np.testing.assert_array_equal(poses[1].numpy(), cameras.orbit_pose(0.3, 0.1)[0].numpy())
    assert cameras.camera_vector(0.2, [0.0, 0.1]).shape == (2, 25)


def test_camera_vector_roll_turns_the_camera_about_its_viewing_axis():
    unrolled = cameras.camera_vector(0.3, -0.1, dtype=torch.float64)
    np.testing.assert_array_equal(cameras.camera_vector(0.3, -0.1).numpy(),
                                  cameras.pack(cameras.orbit_pose(0.3, -0.1), cameras.intrinsics()).numpy())
    rolled = cameras.camera_vector(0.3, -0.1, [0.2, -0.5], dtype=torch.float64)
    assert rolled.shape == (2, 25) and rolled.dtype == torch.float64
    pose0, k0 = cameras.unpack(unrolled[0])
    for roll, camera in zip((0.2, -0.5), rolled):
        pose, k = cameras.unpack(camera)
        torch.testing.assert_close(k, k0)
        torch.testing.assert_close(pose[:, 2:], pose0[:, 2:], atol=0, rtol=0)  # same axis and position
        # The camera's x and y axes turned by the roll within the image plane.
        assert float(pose[:3, 0] @ pose0[:3, 0]) == pytest.approx(math.cos(roll), abs=1e-12)
        assert float(pose[:3, 0] @ pose0[:3, 1]) == pytest.approx(math.sin(roll), abs=1e-12)
        torch.testing.assert_close(pose[:3, :3].T @ pose[:3, :3], torch.eye(3, dtype=torch.float64))


def test_yaw_bins_of_the_large_pose_evaluation():
    bins = [name for _, _, name in cameras.YAW_BINS]
    for yaw_deg, expected in [(0, 0), (19.9, 0), (-20, 1), (44, 1), (-45, 2), (69, 2), (70.5, 3), (-110, 3), (180, 3)]:
        camera = cameras.camera_vector(yaw=math.radians(yaw_deg), pitch=0.1)[0].numpy()
        assert cameras.yaw_bin(camera) == bins[expected], yaw_deg
    assert cameras.yaw_bin(np.full(25, np.nan)) is None  # datasets without cameras
