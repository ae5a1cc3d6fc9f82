"""Triangle meshes from depth maps (back-projection through a pinhole camera).

Conventions (as EG3D): OpenCV camera, x right, y down, z forward; depth is camera-space **z**
(not the distance along the ray) in EG3D world units; intrinsics are normalised by the image
size, so pixel (row i, column j) of an H×W map has its centre at ``u = (j+0.5)/W``,
``v = (i+0.5)/H`` (EG3D's ray sampler uses the same centres); ``cam2world`` is the 4×4
camera→world matrix of the EG3D 25-vector.
"""

from __future__ import annotations

import numpy as np

from helpers.base.cameras import pixel_directions
from helpers.base.depth_png import valid_depth
from helpers.mesh.mesh import Mesh


def _check_intrinsics(intrinsics: np.ndarray) -> np.ndarray:
    matrix = np.asarray(intrinsics, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise ValueError(f"intrinsics must be a finite 3x3 matrix, got shape {matrix.shape}")
    if not np.allclose(matrix[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"intrinsics last row must be [0, 0, 1], got {matrix[2].tolist()}")
    if abs(np.linalg.det(matrix)) < 1e-12:
        raise ValueError("intrinsics matrix is singular")
    return matrix


def _check_cam2world(cam2world: np.ndarray) -> np.ndarray:
    matrix = np.asarray(cam2world, dtype=np.float64)
    if matrix.size != 16 or not np.isfinite(matrix).all():
        raise ValueError(f"cam2world must be a finite 4x4 matrix, got shape {matrix.shape}")
    matrix = matrix.reshape(4, 4)
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f"cam2world last row must be [0, 0, 0, 1], got {matrix[3].tolist()}")
    return matrix


def resample_colors(colors: np.ndarray, height: int, width: int) -> np.ndarray:
    """An RGB image resampled to (height, width, 3) uint8.

    ``colors`` is (h, w, 3|4) or (h, w) grayscale, uint8 (0..255) or float in [0, 1]; alpha is
    dropped. Shrinking uses area averaging (box filter), enlarging bilinear interpolation, each
    channel computed in float before a single rounding.
    """
    from PIL import Image

    image = np.asarray(colors)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"colors must be an (H, W, 3|4) or (H, W) image, got shape {image.shape}")
    if image.dtype == np.uint8:
        scaled = image[..., :3].astype(np.float32)
    elif np.issubdtype(image.dtype, np.floating):
        scaled = np.clip(image[..., :3].astype(np.float32), 0.0, 1.0) * 255.0
    else:
        raise ValueError(f"colors must be uint8 or float in [0, 1], got dtype {image.dtype}")
    if scaled.shape[:2] != (height, width):
        shrinking = scaled.shape[0] >= height and scaled.shape[1] >= width
        method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
        channels = [Image.fromarray(np.ascontiguousarray(c)) for c in np.moveaxis(scaled, -1, 0)]
        scaled = np.stack(  # a loop over the three channels, not over pixels
            [np.asarray(channel.resize((width, height), method)) for channel in channels], axis=-1
        )
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def grid_triangles(height: int, width: int) -> np.ndarray:
    """(2·(H-1)·(W-1), 3) pixel-index triangles covering an H×W pixel grid.

    Each 2×2 quad (a top-left, b top-right, c bottom-left, d bottom-right) gives (a, c, b) and
    (b, c, d); with x right and y down these are wound so that, for intrinsics with positive
    determinant, the normals of the back-projected triangles face the camera.
    """
    index = np.arange(height * width, dtype=np.int64).reshape(height, width)
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    return np.concatenate([np.stack([a, c, b], axis=1), np.stack([b, c, d], axis=1)])


def depth_to_mesh(
    depth: np.ndarray,
    intrinsics: np.ndarray,
    cam2world: np.ndarray | None = None,
    *,
    mask: np.ndarray | None = None,
    max_depth_jump: float | None = 0.05,
    colors: np.ndarray | None = None,
) -> Mesh:
    """Back-project a z-depth map into a triangle mesh.

    Args:
        depth: (H, W) camera-space z-depth in world units. Pixels with depth <= 0, NaN/inf, or
            ``mask`` False have no surface.
        intrinsics: normalised 3×3 K (EG3D: focal ≈ 4.2647, principal point 0.5). The camera
            point of pixel (i, j) is ``depth · K⁻¹ [(j+0.5)/W, (i+0.5)/H, 1]``.
        cam2world: optional 4×4 OpenCV camera→world matrix (the first 16 numbers of EG3D's
            25-vector). Given: vertices are in world units and frame; None: camera frame.
        mask: optional (H, W) boolean foreground mask.
        max_depth_jump: a triangle is kept only when max − min of its three depths is below
            this (world units), so depth discontinuities (face/background, occlusions) are not
            bridged. None keeps every triangle of valid pixels.
        colors: optional RGB image (uint8 or float in [0, 1]) of any resolution; it is
            resampled to H×W (area when shrinking, bilinear when enlarging) and stored per vertex.

    Returns:
        A Mesh of the pixels used by at least one kept triangle (compact indices, row-major
        pixel order), with normals facing the camera: what the camera sees is the outside.
    """
    z = np.asarray(depth, dtype=np.float64)
    matrix = None if cam2world is None else _check_cam2world(cam2world)
    if z.ndim != 2:
        raise ValueError(f"depth must be an (H, W) map, got shape {z.shape}")
    height, width = z.shape
    valid = valid_depth(z, mask)
    if max_depth_jump is not None and not max_depth_jump > 0:
        raise ValueError(f"max_depth_jump must be positive or None, got {max_depth_jump}")
    depth_or_zero = np.where(valid, z, 0.0)
    rays = pixel_directions(_check_intrinsics(intrinsics), height, width)

    triangles = grid_triangles(height, width)
    keep = valid.ravel()[triangles].all(axis=1)
    if max_depth_jump is not None:
        tri_z = depth_or_zero.ravel()[triangles]
        keep &= tri_z.max(axis=1) - tri_z.min(axis=1) < max_depth_jump
    faces = triangles[keep]
    used = np.zeros(height * width, dtype=bool)
    used[faces.ravel()] = True
    faces = (np.cumsum(used) - 1)[faces]  # compact vertex indices, row-major pixel order

    points = rays.reshape(-1, 3)[used] * depth_or_zero.ravel()[used, None]
    # A mirroring K or cam2world reverses the winding; flip back so normals face the camera.
    mirrored = bool(np.linalg.det(np.asarray(intrinsics, dtype=np.float64)) < 0)
    if matrix is not None:
        points = points @ matrix[:3, :3].T + matrix[:3, 3]  # in float64, before the float32 Mesh
        mirrored ^= bool(np.linalg.det(matrix[:3, :3]) < 0)
    if mirrored:
        faces = faces[:, ::-1]
    vertex_colors = None
    if colors is not None:
        vertex_colors = resample_colors(colors, height, width).reshape(-1, 3)[used]
    return Mesh(points, faces, vertex_colors)
