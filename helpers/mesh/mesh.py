"""The triangle-mesh container shared by every part of the toolkit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # trimesh is imported lazily: it is slow to import and only needed for files.
    import trimesh


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh.

    Attributes:
        vertices: (V, 3) float32 positions. Meshes made by this toolkit are in EG3D world units,
            in the same frame as the EG3D cameras (y up, the face looks towards +z), unless a
            function says otherwise (e.g. camera-space back-projection).
        faces: (F, 3) int64 vertex indices, counter-clockwise seen from outside (normals point out).
        vertex_colors: optional (V, 3) uint8 RGB per vertex.
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        vertices = np.ascontiguousarray(self.vertices, dtype=np.float32)
        faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise ValueError(f"Mesh vertices must have shape (V, 3), got {vertices.shape}")
        if faces.size == 0:
            faces = faces.reshape(0, 3)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"Mesh faces must have shape (F, 3), got {faces.shape}")
        if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
            raise ValueError(
                f"Mesh faces index vertices outside [0, {len(vertices)}): "
                f"min {faces.min()}, max {faces.max()}"
            )
        colors = self.vertex_colors
        if colors is not None:
            colors = np.asarray(colors)
            if colors.shape != (len(vertices), 3):
                raise ValueError(
                    f"vertex_colors must have shape ({len(vertices)}, 3), got {colors.shape}"
                )
            if colors.dtype != np.uint8:
                # Floats are taken as [0, 1]; anything else must already be 0..255.
                scale = 255.0 if np.issubdtype(colors.dtype, np.floating) else 1.0
                colors = np.clip(np.rint(colors * scale), 0, 255).astype(np.uint8)
            colors = np.ascontiguousarray(colors)
        # frozen dataclass: normalised arrays are stored through object.__setattr__.
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "faces", faces)
        object.__setattr__(self, "vertex_colors", colors)

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def is_empty(self) -> bool:
        return self.num_faces == 0

    def bounds(self) -> np.ndarray:
        """(2, 3) array: per-axis minimum and maximum of the vertices."""
        if self.num_vertices == 0:
            raise ValueError("an empty mesh has no bounds")
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])

    def face_normals(self) -> np.ndarray:
        """(F, 3) unit normals from the face winding (zero for degenerate faces)."""
        tri = self.vertices[self.faces].astype(np.float64)
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        length = np.linalg.norm(normals, axis=1, keepdims=True)
        return (normals / np.where(length > 0, length, 1.0)).astype(np.float32)

    def transformed(self, matrix: np.ndarray) -> Mesh:
        """The mesh with a 4x4 homogeneous transform applied to its vertices.

        A transform with negative determinant (a mirror) also reverses the face winding so
        that normals keep pointing outwards.
        """
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise ValueError(f"transform must be a 4x4 matrix, got {matrix.shape}")
        vertices = self.vertices.astype(np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
        faces = self.faces[:, ::-1] if np.linalg.det(matrix[:3, :3]) < 0 else self.faces
        return Mesh(vertices, faces, self.vertex_colors)

    def to_trimesh(self) -> trimesh.Trimesh:
        """A :class:`trimesh.Trimesh` with the same vertices and faces (no merging or reordering)."""
        import trimesh

        visual = None
        if self.vertex_colors is not None:
            visual = trimesh.visual.ColorVisuals(vertex_colors=self.vertex_colors)
        return trimesh.Trimesh(self.vertices, self.faces, visual=visual, process=False)

    @classmethod
    def from_trimesh(cls, mesh: trimesh.Trimesh) -> Mesh:
        colors = None
        visual = getattr(mesh, "visual", None)
        if visual is not None and getattr(visual, "kind", None) == "vertex":
            colors = np.asarray(visual.vertex_colors)[:, :3]
        return cls(np.asarray(mesh.vertices), np.asarray(mesh.faces), colors)
