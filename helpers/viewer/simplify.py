"""Vertex-clustering simplification: make a large mesh light enough for an interactive viewer.

Method (vertex clustering on a uniform grid, after Rossignac & Borrel):

1. quantise every vertex to a cubic grid of cell size ``h`` (cells anchored at the mesh's
   minimum corner);
2. merge all vertices that fall into one cell into a single vertex at their mean position
   (vertex colours are averaged the same way);
3. re-index the faces, drop faces that became degenerate (two corners in one cell) and keep
   one copy of faces that became duplicates (same three cells, either orientation);
4. drop vertices that no face uses any more.

Everything is vectorised numpy (``np.unique`` + ``np.bincount``), so a few million faces take
about a second. The result is meant for display: it is not guaranteed to be manifold or
watertight, thin features narrower than ``h`` collapse, and face winding is kept from the
surviving original face, so outward normals stay outward.

:func:`simplify_for_display` picks ``h`` so that the result has at most ``max_faces`` faces.
"""

from __future__ import annotations

import math

import numpy as np

from helpers.mesh.cleanup import remove_unreferenced_vertices
from helpers.mesh.mesh import Mesh

# Projected area of a unit cube averaged over orientations is 1.5: a surface of area A meets
# about 1.5 A / h^2 grid cells, and a closed triangle mesh has about twice as many faces as
# vertices. Used only for the first guess of the cell size; the loop below corrects it.
_FACES_PER_AREA_CELL = 3.0


def _cell_ids(vertices: np.ndarray, cell_size: float) -> np.ndarray:
    """(V,) int64 id of each vertex's grid cell; equal ids <=> same cell."""
    origin = vertices.min(axis=0)
    cells = np.floor((vertices - origin) / cell_size).astype(np.int64)
    dims = cells.max(axis=0) + 1
    if float(np.prod(dims.astype(np.float64))) < 2.0**62:
        return np.ravel_multi_index(cells.T, dims)
    # Grid too fine for one int64 key: fall back to row-wise uniqueness (slower, same result).
    return np.unique(cells, axis=0, return_inverse=True)[1].ravel()


def cluster_vertices(mesh: Mesh, cell_size: float) -> Mesh:
    """Merge the vertices of ``mesh`` that share a cubic grid cell of edge ``cell_size``.

    Args:
        mesh: any triangle mesh; unreferenced vertices are ignored.
        cell_size: grid cell edge in the mesh's units (world units for EG3D meshes); must be > 0.

    Returns:
        A new mesh with one vertex per occupied cell (mean position, mean colour), without
        degenerate or duplicate faces. An empty mesh is returned unchanged.
    """
    if not cell_size > 0:
        raise ValueError(f"cell_size must be > 0, got {cell_size}")
    if mesh.is_empty:
        return mesh
    mesh = remove_unreferenced_vertices(mesh)
    vertices = mesh.vertices.astype(np.float64)
    _, cluster = np.unique(_cell_ids(vertices, cell_size), return_inverse=True)
    cluster = cluster.ravel()
    n_clusters = int(cluster.max()) + 1
    counts = np.bincount(cluster, minlength=n_clusters)[:, None]

    def cluster_mean(values: np.ndarray) -> np.ndarray:
        sums = np.stack(
            [np.bincount(cluster, weights=values[:, c], minlength=n_clusters) for c in range(values.shape[1])],
            axis=1,
        )
        return sums / counts

    new_vertices = cluster_mean(vertices)
    new_colors = None
    if mesh.vertex_colors is not None:
        new_colors = np.clip(np.rint(cluster_mean(mesh.vertex_colors.astype(np.float64))), 0, 255).astype(np.uint8)

    faces = cluster[mesh.faces]
    a, b, c = faces.T
    faces = faces[(a != b) & (b != c) & (a != c)]
    # Duplicates regardless of orientation: compare the sorted corner triples, keep the first.
    _, first = np.unique(np.sort(faces, axis=1), axis=0, return_index=True)
    faces = faces[np.sort(first)]
    return remove_unreferenced_vertices(Mesh(new_vertices, faces, new_colors))


def surface_area(mesh: Mesh) -> float:
    """Total triangle area in squared mesh units."""
    tri = mesh.vertices[mesh.faces].astype(np.float64)
    return float(0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum())


def simplify_for_display(mesh: Mesh, max_faces: int, *, max_iterations: int = 30) -> Mesh:
    """``mesh`` reduced by :func:`cluster_vertices` to at most ``max_faces`` faces.

    Meshes already within budget are returned unchanged (same object). The cell size starts
    from an estimate based on the surface area and grows until the budget is met, so the
    result usually has between ~50% and 100% of ``max_faces`` faces.
    """
    if max_faces < 1:
        raise ValueError(f"max_faces must be >= 1, got {max_faces}")
    if mesh.num_faces <= max_faces:
        return mesh
    area = surface_area(mesh)
    extent = float(np.ptp(mesh.vertices[mesh.faces.ravel()], axis=0).max())
    if area <= 0 or extent <= 0:
        raise ValueError("cannot simplify a mesh whose faces are all degenerate")
    cell = max(math.sqrt(_FACES_PER_AREA_CELL * area / max_faces), extent * 1e-6)
    for _ in range(max_iterations):
        reduced = cluster_vertices(mesh, cell)
        if reduced.num_faces <= max_faces:
            return reduced
        # Face count scales like 1 / cell^2; overshoot a little so the loop ends quickly.
        cell *= max(math.sqrt(reduced.num_faces / max_faces) * 1.02, 1.05)
    raise RuntimeError(f"could not reduce the mesh to {max_faces} faces in {max_iterations} steps")
