"""A random **stand-in** for the Basel Face Model files, written in their real formats, so that tests and smoke-mode
notebooks can run the 3DFaceNet path (:mod:`helpers.datasets.facenet3d.bfm_files`, :mod:`helpers.datasets.facenet3d.facenet3d_data`) without the user's
licensed files. It is not a face."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from helpers.datasets.facenet3d.bfm_files import EXPRESSION_BASIS, MORPHABLE_MODEL, TRIM_INDEX_FILES, trim_triangles
from helpers.mesh import grid_triangles

__all__ = ["write_standin_model"]


def _unit_columns(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Random components of unit norm, like the BFM's (orthogonality is not needed)."""
    a = rng.standard_normal((rows, cols))
    return (a / np.linalg.norm(a, axis=0)).astype(np.float32)


def write_standin_model(
    folder: str | os.PathLike[str], *, seed: int = 0, grid: int = 24, num_identity: int = 120,
    num_expression: int = 79, trim_file: str = "BFM_exp_idx.mat",
) -> dict[str, np.ndarray]:
    """Write a small **random stand-in** for the user's model files into ``folder``, in the real file formats.

    For tests and smoke-mode notebooks, where the real files (which cannot be shipped) are absent. The "face" is a
    dome on a ``grid × grid`` vertex lattice, 1.6e5 µm wide (BFM frame: x right, y up, facing +z, micrometres);
    components are random with unit norm. Files:
    - ``01_MorphableModel.mat`` (MATLAB v5 by ``scipy.io.savemat``, the BFM's field names): ``shapeMU``,
      ``shapePC`` (``num_identity`` components), ``shapeEV``, ``texMU``/``texPC``/``texEV`` (random colours),
      ``tl`` (1-based triangles);
    - ``Exp_Pca.bin``: ``int32 K``, ``float32 expMU``, ``float32 expPC`` component-major, over the kept vertices;
    - ``trim_file``: ``BFM_exp_idx.mat`` (``trimIndex`` only) or ``model_info.mat`` (``trimIndex``, 68 random
      ``keypoints`` among the kept vertices, ``tri`` 3×F), both 1-based. A block of vertices in the lower middle
      (the "mouth") is trimmed away, as 3DFaceNet drops the inner-mouth vertices.

    Its geometry is nothing like a face: it only lets the parameters → mesh → depth path run. Returns the arrays
    written (0-based), for comparisons: ``full`` (N, 3) mean, ``faces``, ``kept``, ``shape_pc``, ``shape_ev``,
    ``exp_mean``, ``exp_pc`` (interleaved rows × components), ``tex``, ``landmarks`` (into the kept vertices) and
    ``trimmed_faces``.
    """
    import scipy.io

    if trim_file not in TRIM_INDEX_FILES:
        raise ValueError(f"trim_file must be one of {TRIM_INDEX_FILES}, got {trim_file!r}")
    if grid < 12:
        raise ValueError(f"grid must be >= 12 (vertices per side), got {grid}")
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lin = np.linspace(-8e4, 8e4, grid)
    x, y = np.meshgrid(lin, -lin)  # rows go down in y: the grid is an upright face seen from +z
    z = 6e4 * np.sqrt(np.clip(1 - (x**2 + y**2) / 1.3e5**2, 0, None))
    full = np.stack([x.ravel(), y.ravel(), z.ravel()], 1)
    n = len(full)
    faces = grid_triangles(grid, grid)
    shape_pc = _unit_columns(rng, 3 * n, num_identity)
    shape_ev = np.linspace(4e4, 1e3, num_identity).astype(np.float32)
    tex = rng.uniform(0, 255, (n, 3))
    scipy.io.savemat(folder / MORPHABLE_MODEL, {
        "shapeMU": full.reshape(-1, 1).astype(np.float32), "shapePC": shape_pc, "shapeEV": shape_ev[:, None],
        "texMU": tex.reshape(-1, 1).astype(np.float32), "texPC": _unit_columns(rng, 3 * n, 4),
        "texEV": np.ones((4, 1), np.float32), "tl": (faces + 1).astype(np.float64),
    }, format="5")
    rows = range(round(grid * 7 / 12), round(grid * 17 / 24))
    cols = range(round(grid * 5 / 12), round(grid * 7 / 12))
    drop = {r * grid + c for r in rows for c in cols}
    kept = np.setdiff1d(np.arange(n), sorted(drop))
    m = len(kept)
    exp_mean = rng.normal(0, 300, (m, 3)).astype(np.float32)
    exp_pc = _unit_columns(rng, 3 * m, num_expression)  # columns = components, rows interleaved x y z
    with open(folder / EXPRESSION_BASIS, "wb") as fh:
        fh.write(np.int32(num_expression).tobytes())
        fh.write(exp_mean.astype("<f4").tobytes())
        fh.write(np.ascontiguousarray(exp_pc.T).astype("<f4").tobytes())  # component-major
    trimmed_faces = trim_triangles(faces, kept, n)
    landmarks = rng.choice(m, 68, replace=False)  # 3DDFA-style keypoints, into the kept vertices
    if trim_file == "BFM_exp_idx.mat":
        scipy.io.savemat(folder / trim_file, {"trimIndex": (kept + 1).astype(np.uint16)[:, None]}, format="5")
    else:
        scipy.io.savemat(folder / trim_file, {
            "trimIndex": (kept + 1).astype(np.float64)[:, None],
            "keypoints": (landmarks + 1).astype(np.float64)[None, :],
            "tri": (trimmed_faces + 1).T.astype(np.float64),  # 3×F as 3DDFA stores it
        }, format="5")
    return {"full": full, "faces": faces, "kept": kept, "shape_pc": shape_pc, "shape_ev": shape_ev,
            "exp_mean": exp_mean, "exp_pc": exp_pc, "tex": tex, "landmarks": landmarks,
            "trimmed_faces": trimmed_faces}
