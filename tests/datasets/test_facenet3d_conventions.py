"""The 3DFaceNet pose convention against Deep3DFaceReconstruction's own code path (recorded fixture), and the EG3D
view of a converted sample: its camera, crop and depth agree with the orthographic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.base import cameras
from helpers.datasets.facenet3d import FaceModel, write_standin_model
from helpers.datasets.facenet3d.facenet3d_convert import LANDMARK_CENTROID, MM_PER_UNIT, Placement, training_view
from helpers.datasets.facenet3d.facenet3d_data import (
    CoarseParams,
    PoseConvention,
    column_rotation,
    project,
    to_image_frame,
)
from helpers.invert.landmark_template import landmark_template, template_info

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "deep3d_pose_reference" / "deep3d_pose_projection.npz"
FAR_SCALE = 101.5  # Deep3D's focal 1015 over its camera distance 10 (both × 1000 in the far recording)
CENTRE = 112.0  # Deep3D's principal point in its 224² image


@pytest.fixture(scope="module")
def deep3d():
    return dict(np.load(FIXTURE))


def _params(angles, scale: float, translation) -> CoarseParams:
    return CoarseParams(identity=np.zeros(100), expression=np.zeros(79), angles=np.asarray(angles, float),
                        translation=np.asarray(translation, float), scale=scale)


def test_rotation_is_deep3d_rotation(deep3d):
    for angles, rotation, rigid in zip(deep3d["angles"], deep3d["rotation"], deep3d["rigid"], strict=True):
        # Deep3D multiplies row vectors by the matrix it returns: that matrix is our Mᵀ.
        np.testing.assert_allclose(column_rotation(angles), rotation.T, atol=1e-12)
        t = deep3d["translation"]
        posed = project(deep3d["shape"], _params(angles, 1.0, t[:2]))
        np.testing.assert_allclose(posed[:, :2], rigid[:, :2], atol=1e-12)
        np.testing.assert_allclose(posed[:, 2], rigid[:, 2] - t[2], atol=1e-12)


def test_projection_matches_deep3d_in_the_weak_perspective_limit(deep3d):
    """Deep3D's camera 1000× farther with a 1000× focal is weak perspective: s = 101.5, t = s·t_xy + 112, y up. Our
    image frame with its integer pixel centres puts each point on the same pixel index (row = 223 − y)."""
    t = deep3d["translation"]
    for angles, far in zip(deep3d["angles"], deep3d["far_projection"], strict=True):
        params = _params(angles, FAR_SCALE, FAR_SCALE * t[:2] + CENTRE)
        image = to_image_frame(project(deep3d["shape"], params), 224)
        index = image[:, :2] - 0.5  # continuous → pixel index coordinates
        expected = np.stack([far[:, 0], 223.0 - far[:, 1]], axis=-1)
        np.testing.assert_allclose(index, expected, atol=2e-3)  # the far camera's own perspective: ≲ 4e-4 px


def test_the_other_reading_of_the_pose_does_not_match(deep3d):
    """The row-vector reading (X·R, a third-party trainer's) turns the face the other way: off by pixels."""
    t = deep3d["translation"]
    other = PoseConvention(row_vectors=True)
    errors = []
    for angles, far in zip(deep3d["angles"], deep3d["far_projection"], strict=True):
        params = _params(angles, FAR_SCALE, FAR_SCALE * t[:2] + CENTRE)
        image = to_image_frame(project(deep3d["shape"], params, other), 224, other)
        expected = np.stack([far[:, 0], 223.0 - far[:, 1]], axis=-1)
        errors.append(np.abs(image[:, :2] - 0.5 - expected).max())
    assert errors[0] < 1e-2  # no rotation: the two readings agree
    assert min(errors[1:]) > 0.5  # any rotation: they do not


def test_placement_constants_are_the_landmark_templates():
    assert MM_PER_UNIT == pytest.approx(template_info().mm_per_unit, abs=1e-4)
    np.testing.assert_allclose(LANDMARK_CENTROID, landmark_template().mean(0), atol=1e-6)


def test_the_view_camera_sees_what_the_orthographic_data_shows(tmp_path):
    write_standin_model(tmp_path, grid=24, trim_file="model_info.mat")
    model = FaceModel.from_files(tmp_path)
    placement = Placement.for_model(model)
    world_landmarks = placement.to_world(model.mean[model.landmarks])
    np.testing.assert_allclose(world_landmarks.mean(0), LANDMARK_CENTROID, atol=1e-9)
    height, size = 300, 256
    for angles in [(0.0, 0.0, 0.0), (0.15, 0.6, -0.1), (-0.2, -0.9, 0.2)]:
        params = _params(angles, 6e-4, (140.0, 160.0))
        view = training_view(params, placement, height, size)
        cam2world, intrinsics = cameras.unpack(view.camera.astype(np.float64))
        rot = cam2world[:3, :3]
        assert np.allclose(rot.T @ rot, np.eye(3), atol=1e-6) and np.linalg.det(rot) > 0
        np.testing.assert_allclose(intrinsics, [[cameras.FOCAL, 0, 0.5], [0, cameras.FOCAL, 0.5], [0, 0, 1]], atol=1e-5)
        # 2.7 from the pivot, looking at it: the pivot projects to the image centre.
        assert np.linalg.norm(cam2world[:3, 3] - np.asarray(cameras.PIVOT)) == pytest.approx(cameras.RADIUS, rel=1e-5)
        centre = cameras.project_points(np.asarray(cameras.PIVOT)[None], view.camera.astype(np.float64), size)
        np.testing.assert_allclose(centre, [[size / 2 - 0.5, size / 2 - 0.5]], atol=1e-3)
        # The depth map's values are the camera's z-depths exactly; pixel positions agree up to perspective.
        shape = model.mean.astype(np.float64)
        posed = view.to_crop(to_image_frame(project(shape, params), height))
        world = placement.to_world(shape)
        camera_points = (world - cam2world[:3, 3]) @ rot  # world → camera frame
        np.testing.assert_allclose(view.depth_offset + view.depth_per_pixel * posed[:, 2], camera_points[:, 2],
                                   atol=1e-6)
        # Weak perspective vs the camera: from the image centre, the camera draws a point D / z of as far as the
        # data does (D = 2.7, z its depth): exact at the pivot's depth, a few % off for the rest of a face.
        pinhole = cameras.project_points(world, view.camera.astype(np.float64), size) + 0.5  # continuous pixels
        ratio = cameras.RADIUS / camera_points[:, 2]
        np.testing.assert_allclose(pinhole - size / 2, (posed[:, :2] - size / 2) * ratio[:, None], atol=1e-3)  # float32
        # The face's yaw is the camera's, mirrored: a head turned by +yaw is a camera at −yaw.
        yaw = float(cameras.orbit_angles(cam2world)[0])
        assert yaw == pytest.approx(-angles[1], abs=0.12)
