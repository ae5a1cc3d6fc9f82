"""Clean an EG3D shape: drop floaters and the box's walls, crop, smooth, decimate (:func:`clean_mesh`).

Marching cubes on EG3D's density gives the head plus floating specks, and flat caps where the head leaves the padded
density box (the neck, the hair: "walls", axis-aligned planes at the extremes of the mesh). The steps, each optional
(:class:`CleanConfig`), in this order:

1. walls: faces whose normal is axis-aligned (within ``wall_cosine``) and whose three vertices lie within
   ``wall_tolerance`` of the mesh's bounding box on that axis;
2. crop: faces whose centroid is outside an axis-aligned box (e.g. :data:`HEAD_BOX`);
3. largest piece: the connected component with the most faces (trimesh's face adjacency);
4. smoothing: Taubin's λ|μ filter (trimesh), which does not shrink the surface as plain Laplacian smoothing does;
5. decimation: quadric edge collapse to ``target_faces`` (``fast-simplification``), vertex colours from the nearest
   original vertex.

Units and frame are the input's (EG3D world units). :func:`surface_distance` measures how far two surfaces lie apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.mesh.mesh import Mesh

__all__ = ["HEAD_BOX", "CleanConfig", "CleanReport", "clean_mesh", "remove_unreferenced_vertices", "surface_distance"]

#: An EG3D head without the shoulders (world units; the face looks towards +z, y up, the box of FFHQ models is
#: [-0.5, 0.5]³): x and z keep the head, y drops what lies below the chin and neck.
HEAD_BOX = ((-0.35, -0.32, -0.35), (0.35, 0.45, 0.45))


@dataclass(frozen=True)
class CleanConfig:
    """Which steps :func:`clean_mesh` takes (module doc); the defaults drop walls and floaters and smooth lightly."""

    drop_walls: bool = True
    wall_cosine: float = 0.999
    wall_tolerance: float = 1e-3
    crop: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    largest_component: bool = True
    smooth_iterations: int = 5
    target_faces: int | None = None

    def __post_init__(self) -> None:
        if self.smooth_iterations < 0 or (self.target_faces is not None and self.target_faces < 4):
            raise ValueError(f"smooth_iterations must be >= 0 and target_faces >= 4, got {self.smooth_iterations}, "
                             f"{self.target_faces}")
        if self.crop is not None and not np.all(np.less(self.crop[0], self.crop[1])):
            raise ValueError(f"crop must be (low corner, high corner) with low < high, got {self.crop}")


@dataclass(frozen=True)
class CleanReport:
    """Faces at each step: ``faces_in``, removed as ``walls``, ``cropped``, ``floaters``; ``faces_out``."""

    faces_in: int
    walls: int
    cropped: int
    floaters: int
    faces_out: int


def remove_unreferenced_vertices(mesh: Mesh) -> Mesh:
    """The mesh without vertices that no face uses (vertex order otherwise kept)."""
    used = np.zeros(mesh.num_vertices, dtype=bool)
    used[mesh.faces.ravel()] = True
    if used.all():
        return mesh
    new_index = np.cumsum(used) - 1
    colors = None if mesh.vertex_colors is None else mesh.vertex_colors[used]
    return Mesh(mesh.vertices[used], new_index[mesh.faces], colors)


def _keep_faces(mesh: Mesh, keep: np.ndarray) -> Mesh:
    return remove_unreferenced_vertices(Mesh(mesh.vertices, mesh.faces[keep], mesh.vertex_colors))


def _wall_faces(mesh: Mesh, cosine: float, tolerance: float) -> np.ndarray:
    v = mesh.vertices.astype(np.float64)
    tri = v[mesh.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    low, high = v.min(0), v.max(0)
    wall = np.zeros(len(mesh.faces), dtype=bool)
    for axis in range(3):
        aligned = np.abs(normals[:, axis]) >= cosine
        at_low = np.all(tri[:, :, axis] <= low[axis] + tolerance, axis=1)
        at_high = np.all(tri[:, :, axis] >= high[axis] - tolerance, axis=1)
        wall |= aligned & (at_low | at_high)
    return wall


def _largest_component(mesh: Mesh) -> np.ndarray:
    import trimesh

    labels = trimesh.graph.connected_component_labels(mesh.to_trimesh().face_adjacency, node_count=mesh.num_faces)
    return labels == np.bincount(labels).argmax()


def _decimate(mesh: Mesh, target: int) -> Mesh:
    import fast_simplification
    from scipy.spatial import cKDTree

    points, faces = fast_simplification.simplify(mesh.vertices.astype(np.float64), mesh.faces.astype(np.int32),
                                                 target_count=target)
    colors = None
    if mesh.vertex_colors is not None and len(points):
        colors = mesh.vertex_colors[cKDTree(mesh.vertices).query(points)[1]]
    return Mesh(points.astype(np.float32), faces.astype(np.int64), colors)


def clean_mesh(mesh: Mesh, config: CleanConfig = CleanConfig()) -> tuple[Mesh, CleanReport]:
    """The cleaned mesh and what each step removed (module doc). An empty mesh stays empty."""
    faces_in = mesh.num_faces
    walls = cropped = floaters = 0
    if mesh.num_faces and config.drop_walls:
        wall = _wall_faces(mesh, config.wall_cosine, config.wall_tolerance)
        walls = int(wall.sum())
        mesh = _keep_faces(mesh, ~wall)
    if mesh.num_faces and config.crop is not None:
        centroids = mesh.vertices[mesh.faces].mean(1)
        inside = np.all((centroids >= config.crop[0]) & (centroids <= config.crop[1]), axis=1)
        cropped = int((~inside).sum())
        mesh = _keep_faces(mesh, inside)
    if mesh.num_faces and config.largest_component:
        keep = _largest_component(mesh)
        floaters = int((~keep).sum())
        mesh = _keep_faces(mesh, keep)
    if mesh.num_faces and config.smooth_iterations:
        import trimesh

        smoothed = trimesh.smoothing.filter_taubin(mesh.to_trimesh(), iterations=config.smooth_iterations)
        mesh = Mesh(np.asarray(smoothed.vertices, dtype=np.float32), mesh.faces, mesh.vertex_colors)
    if mesh.num_faces and config.target_faces is not None and mesh.num_faces > config.target_faces:
        mesh = _decimate(mesh, config.target_faces)
    return mesh, CleanReport(faces_in, walls, cropped, floaters, mesh.num_faces)


def surface_distance(a: Mesh, b: Mesh, samples: int = 20000, seed: int = 0, candidates: int = 16
                     ) -> dict[str, float]:
    """How far surface ``a`` lies from surface ``b`` (units of the meshes): ``samples`` points on ``a``
    (area-weighted), each one's distance to the closest point of ``b``'s triangles (searched among the
    ``candidates`` triangles with the nearest centroids); ``mean``, ``p95`` and ``max``.

    Directional: cleaned → raw says how far smoothing and decimation moved what was kept; raw → cleaned also counts
    what was removed."""
    import trimesh
    from scipy.spatial import cKDTree

    if not a.num_faces or not b.num_faces:
        raise ValueError("surface_distance needs two non-empty meshes")
    points, _ = trimesh.sample.sample_surface(a.to_trimesh(), samples, seed=seed)
    triangles = b.vertices.astype(np.float64)[b.faces]
    k = min(candidates, len(triangles))
    nearest = cKDTree(triangles.mean(1)).query(points, k=k)[1].reshape(len(points), k)
    closest = trimesh.triangles.closest_point(triangles[nearest.reshape(-1)], np.repeat(points, k, axis=0))
    d = np.linalg.norm(closest - np.repeat(points, k, axis=0), axis=1).reshape(len(points), k).min(1)
    return {"mean": float(d.mean()), "p95": float(np.percentile(d, 95)), "max": float(d.max())}
