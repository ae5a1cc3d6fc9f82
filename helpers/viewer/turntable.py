"""A turntable of a mesh without a browser: shaded orthographic renders of the mesh turning about the vertical axis.

Meshes are in EG3D's frame (y up, the face looks towards +z); frame 0 looks at the face from +z. Each frame is an
(S, S, 3) uint8 image: the z-buffer of :func:`helpers.mesh.rasterize.rasterize_depth`, each visible triangle
shaded by the cosine of its normal with the viewing direction (a headlight), times its vertex colours' mean (grey
without colours), on a white background. The mesh fills ``fill`` of the frame; its scale is fixed over the turn.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.mesh.mesh import Mesh
from helpers.mesh.rasterize import rasterize_depth

__all__ = ["turntable_frames"]

_GREY = np.array([200, 200, 200], dtype=np.float64)


def _rotation(yaw: float, elevation: float) -> np.ndarray:
    """World → view rotation: turn by ``yaw`` about y, then tilt by ``elevation`` about x (radians)."""
    cy, sy, ce, se = math.cos(yaw), math.sin(yaw), math.cos(elevation), math.sin(elevation)
    turn = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, ce, -se], [0.0, se, ce]])
    return tilt @ turn


def turntable_frames(mesh: Mesh, count: int = 36, *, size: int = 256, elevation_deg: float = 10.0,
                     fill: float = 0.9, ambient: float = 0.25) -> list[np.ndarray]:
    """``count`` frames of ``mesh`` turning once about the vertical axis through its bounding-box centre.

    ``elevation_deg``: the view from above (positive) or below; ``ambient``: the shade of surfaces seen edge-on.
    An empty mesh gives white frames.
    """
    if count < 1 or size < 2:
        raise ValueError(f"a turntable needs count >= 1 and size >= 2, got {count} and {size}")
    frames = []
    vertices = mesh.vertices.astype(np.float64)
    if not mesh.num_faces:
        return [np.full((size, size, 3), 255, np.uint8) for _ in range(count)]
    centre = (vertices.min(0) + vertices.max(0)) / 2
    radius = float(np.linalg.norm(vertices - centre, axis=1).max()) or 1.0
    scale = fill * size / (2 * radius)  # pixels per world unit, the same in every frame
    colours = _GREY if mesh.vertex_colors is None else mesh.vertex_colors[mesh.faces].astype(np.float64).mean(1)
    for k in range(count):
        local = (vertices - centre) @ _rotation(2 * math.pi * k / count, math.radians(elevation_deg)).T
        # Image frame: u right, v down (world y up), depth away from the viewer at +z.
        image_points = np.stack([size / 2 + scale * local[:, 0], size / 2 - scale * local[:, 1], -local[:, 2]], -1)
        _, covered, face_index = rasterize_depth(image_points, mesh.faces, size, size)
        tri = local[mesh.faces]
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        lengths = np.linalg.norm(normals, axis=1, keepdims=True)
        cosine = np.abs(normals[:, 2:3]) / np.where(lengths > 0, lengths, 1.0)  # both windings lit
        shade = ambient + (1 - ambient) * cosine
        lit = np.clip(shade * (colours if colours.ndim == 2 else colours[None]), 0, 255)
        frame = np.full((size, size, 3), 255, np.uint8)
        frame[covered] = np.rint(lit[face_index[covered]]).astype(np.uint8)
        frames.append(frame)
    return frames
