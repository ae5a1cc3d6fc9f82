"""Back-projecting z-depth maps into meshes: geometry, discontinuities, masks, colours, winding."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.base.cameras import pixel_directions
from helpers.mesh import Mesh, depth_to_mesh, grid_triangles, resample_colors

FOCAL = 4.2647
K = np.array([[FOCAL, 0.0, 0.5], [0.0, FOCAL, 0.5], [0.0, 0.0, 1.0]])
CAMERA = np.array([0.0, 0.0, 2.7])
# Frontal EG3D camera at (0, 0, 2.7) looking at the origin: x right, y down, z forward (= -world z).
CAM2WORLD = np.eye(4)
CAM2WORLD[:3, :3] = np.diag([1.0, -1.0, -1.0])
CAM2WORLD[:3, 3] = CAMERA
SIZE = 128


def world_rays(size: int = SIZE, intrinsics: np.ndarray = K) -> np.ndarray:
    """(H, W, 3) world directions with unit camera-z, so a point is CAMERA + depth · ray."""
    return pixel_directions(np.asarray(intrinsics, dtype=np.float64), size, size) @ CAM2WORLD[:3, :3].T


def sphere_depth(center: np.ndarray, radius: float) -> np.ndarray:
    """Analytic z-depth of a sphere (nearest intersection), 0 where the ray misses."""
    rays = world_rays()
    offset = CAMERA - center
    a = np.sum(rays * rays, axis=-1)
    b = 2 * rays @ offset
    c = offset @ offset - radius**2
    disc = b * b - 4 * a * c
    return np.where(disc > 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), 0.0)


def faces_camera_fraction(mesh: Mesh, camera: np.ndarray) -> float:
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return float(np.mean(np.sum(mesh.face_normals() * (camera - centroids), axis=1) > 0))


def test_tilted_plane_vertices_lie_on_the_plane() -> None:
    normal, offset = np.array([0.3, -0.2, 1.0]), 0.1  # world plane normal · X = offset
    depth = (offset - normal @ CAMERA) / (world_rays() @ normal)
    mesh = depth_to_mesh(depth, K, CAM2WORLD)
    assert mesh.num_vertices == SIZE * SIZE and mesh.num_faces == 2 * (SIZE - 1) ** 2
    distance = (mesh.vertices.astype(np.float64) @ normal - offset) / np.linalg.norm(normal)
    assert np.abs(distance).max() < 1e-3
    assert faces_camera_fraction(mesh, CAMERA) == 1.0


def test_camera_frame_output_uses_z_depth() -> None:
    depth = np.full((4, 6), 2.0)
    mesh = depth_to_mesh(depth, K)
    np.testing.assert_allclose(mesh.vertices[:, 2], 2.0)
    # Pixel (row 0, column 0) has its centre at u = 0.5/6, v = 0.5/4.
    expected = [2.0 * (0.5 / 6 - 0.5) / FOCAL, 2.0 * (0.5 / 4 - 0.5) / FOCAL]
    np.testing.assert_allclose(mesh.vertices[0, :2], expected, rtol=1e-6)
    assert (mesh.face_normals()[:, 2] < -0.99).all()  # towards the camera at the origin


def test_skewed_intrinsics_are_inverted() -> None:
    skewed = K.copy()
    skewed[0, 1] = 0.3
    mesh = depth_to_mesh(np.full((3, 3), 1.5), skewed)
    u, v = 2.5 / 3, 0.5 / 3  # pixel (row 0, column 2)
    np.testing.assert_allclose(skewed @ (mesh.vertices[2] / 1.5), [u, v, 1.0], atol=1e-6)


def test_sphere_vertices_lie_on_the_sphere_and_face_the_camera() -> None:
    center, radius = np.array([0.02, -0.01, 0.1]), 0.25
    depth = sphere_depth(center, radius)
    assert 0 < (depth > 0).mean() < 1  # the silhouette is inside the image
    mesh = depth_to_mesh(depth, K, CAM2WORLD)
    radii = np.linalg.norm(mesh.vertices.astype(np.float64) - center, axis=1)
    assert np.abs(radii - radius).max() < 1e-3
    assert faces_camera_fraction(mesh, CAMERA) == 1.0
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    outward = np.sum(mesh.face_normals() * (centroids - center), axis=1)
    assert outward.min() > 0  # seen from outside: normals leave the ball
    assert mesh.faces.max() == mesh.num_vertices - 1  # compact indices
    assert np.isin(np.arange(mesh.num_vertices), mesh.faces).all()  # no unused vertices


def test_depth_steps_are_not_bridged() -> None:
    depth = np.full((10, 10), 1.0)
    depth[:, 5:] = 1.5
    mesh = depth_to_mesh(depth, K, max_depth_jump=0.05)
    z = mesh.vertices[mesh.faces][..., 2]
    assert mesh.num_faces == 2 * 9 * 4 * 2
    assert (z.max(axis=1) - z.min(axis=1)).max() < 1e-6
    bridged = depth_to_mesh(depth, K, max_depth_jump=None)
    assert bridged.num_faces == 2 * 9 * 9


def test_invalid_pixels_and_mask_make_holes() -> None:
    depth = np.full((6, 6), 2.0)
    depth[0, 0], depth[5, 5], depth[2, 3] = 0.0, np.nan, -1.0
    mask = np.ones((6, 6), bool)
    mask[4, 1] = False
    mesh = depth_to_mesh(depth, K, mask=mask)
    # An interior pixel is in 6 triangles; the top-left and bottom-right corners in 1 each.
    assert mesh.num_faces == 50 - 6 - 6 - 1 - 1
    rays = pixel_directions(np.asarray(K, dtype=np.float64), 6, 6) * 2.0
    for row, col in [(0, 0), (5, 5), (2, 3), (4, 1)]:
        assert np.linalg.norm(mesh.vertices - rays[row, col], axis=1).min() > 1e-3
    assert depth_to_mesh(np.zeros((4, 4)), K).is_empty


def test_colours_are_area_resampled_to_the_depth_grid() -> None:
    rng = np.random.default_rng(0)
    low = rng.integers(0, 256, size=(4, 5, 3)).astype(np.uint8)
    high = np.repeat(np.repeat(low, 2, axis=0), 2, axis=1)  # 2× image, blocks of one colour
    mesh = depth_to_mesh(np.full((4, 5), 2.0), K, colors=high)
    np.testing.assert_array_equal(mesh.vertex_colors, low.reshape(-1, 3))
    from_float = depth_to_mesh(np.full((4, 5), 2.0), K, colors=high.astype(np.float32) / 255)
    np.testing.assert_array_equal(from_float.vertex_colors, low.reshape(-1, 3))
    mixed = np.zeros((2, 2, 4), np.uint8)
    mixed[0, :, 0] = 200  # top row red, bottom row black, alpha ignored
    np.testing.assert_array_equal(resample_colors(mixed, 1, 1), [[[100, 0, 0]]])


def test_colours_follow_the_mask() -> None:
    depth = np.full((3, 3), 2.0)
    colors = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    mask = np.ones((3, 3), bool)
    mask[:, 2] = False
    mesh = depth_to_mesh(depth, K, mask=mask, colors=colors)
    np.testing.assert_array_equal(mesh.vertex_colors, colors[:, :2].reshape(-1, 3))


def test_grid_triangles_tile_the_image_with_one_winding() -> None:
    height, width = 3, 4
    triangles = grid_triangles(height, width)
    assert triangles.shape == (2 * 2 * 3, 3)
    rows, cols = np.divmod(triangles, width)
    # Signed area in (column, row) image coordinates: all half-pixels, all of one sign.
    area = 0.5 * (
        (cols[:, 1] - cols[:, 0]) * (rows[:, 2] - rows[:, 0])
        - (cols[:, 2] - cols[:, 0]) * (rows[:, 1] - rows[:, 0])
    )
    np.testing.assert_array_equal(area, -0.5)
    assert len({tuple(sorted(t)) for t in triangles.tolist()}) == len(triangles)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.ones(5), K), {}, "depth"),
        ((np.ones((3, 3)), np.eye(2)), {}, "intrinsics"),
        ((np.ones((3, 3)), np.zeros((3, 3))), {}, "intrinsics"),
        ((np.ones((3, 3)), K, np.eye(3)), {}, "cam2world"),
        ((np.ones((3, 3)), K), {"mask": np.ones((2, 2), bool)}, "mask"),
        ((np.ones((3, 3)), K), {"max_depth_jump": 0.0}, "max_depth_jump"),
        ((np.ones((3, 3)), K), {"colors": np.ones((3, 3, 2))}, "colors"),
    ],
)
def test_bad_inputs_are_refused(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        depth_to_mesh(*args, **kwargs)


@pytest.mark.parametrize("mirror", [False, True])
def test_normals_face_the_camera_for_mirrored_k_or_cam2world(mirror: bool) -> None:
    intrinsics = K.copy()
    cam2world = CAM2WORLD.copy()
    if mirror:
        cam2world[:3, 0] *= -1  # left-handed camera frame
    else:
        intrinsics[0, 0] *= -1  # mirrored image x
    mesh = depth_to_mesh(np.full((5, 5), 2.0), intrinsics, cam2world)
    assert faces_camera_fraction(mesh, CAMERA) == 1.0
