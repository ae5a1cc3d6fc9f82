"""The Basel Face Model 2009 with 3DFaceNet's expression basis: the files and their readers.

:class:`helpers.datasets.facenet3d.face_model.FaceModel` builds the linear model from them.

3DFaceNet (Guo et al., TPAMI 2018; data in ``github.com/Juyong/3DFace``) describes a face by
``shape = mean + A_id·α + A_exp·β`` on the BFM 2009 topology with the inner-mouth vertices removed:
100 identity components of the BFM and 79 expression components built from FaceWarehouse and transferred
to the BFM topology. None of these files may be redistributed; the user registers for them
(:data:`REQUIRED_FILES` says where) and puts them in one folder.

Readers: :func:`read_bfm2009` (``01_MorphableModel.mat``: mean, components and per-component standard deviations of
shape and colour, triangles ``tl``), :func:`read_expression_basis` (``Exp_Pca.bin``: 79 unscaled components on the
M = 53215 kept vertices), :func:`read_expression_std` (``std_exp.txt``) and :func:`read_trim_index`
(``BFM_exp_idx.mat`` or 3DDFA's ``model_info.mat``). Units are the BFM's **micrometres** (colour 0–255), the frame y up
with the face looking towards +z; vertex indices in the files are **1-based**.

:func:`helpers.datasets.facenet3d.bfm_standin.write_standin_model` writes a small random stand-in in these formats
(for tests and smoke-mode notebooks: no real model files can be shipped).

Design notes: docs/design/datasets.md (bfm_files): each file's fields and layout, what is not verified.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: File names the readers look for in a model folder.
MORPHABLE_MODEL = "01_MorphableModel.mat"
EXPRESSION_BASIS = "Exp_Pca.bin"
TRIM_INDEX_FILES = ("BFM_exp_idx.mat", "model_info.mat")
EXPRESSION_STD = "std_exp.txt"

#: Vertices of the full BFM 2009 and of 3DFaceNet's trimmed topology (for messages; not enforced).
BFM_VERTICES = 53490
TRIMMED_VERTICES = 53215

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class RequiredFile:
    """One file a :class:`~helpers.datasets.facenet3d.face_model.FaceModel` needs: accepted names (the first found is used) and
    where to get it."""

    role: str
    names: tuple[str, ...]
    source: str


#: The files :meth:`helpers.datasets.facenet3d.face_model.FaceModel.from_files` needs, in the order they are listed in errors.
REQUIRED_FILES: tuple[RequiredFile, ...] = (
    RequiredFile(
        "Basel Face Model 2009", (MORPHABLE_MODEL,),
        "register at https://faces.dmi.unibas.ch/bfm/ (Basel Face Model 2009, 'Download' after the licence "
        "form), then take 01_MorphableModel.mat from the downloaded archive",
    ),
    RequiredFile(
        "3DFaceNet expression basis", (EXPRESSION_BASIS,),
        "from Guo et al.: https://github.com/Juyong/3DFace (the file Exp_Pca.bin in the repository, also inside "
        "Coarse_Dataset.zip of the CoarseData download)",
    ),
    RequiredFile(
        "trimming index (the 53215 kept BFM vertices)", TRIM_INDEX_FILES,
        "BFM_exp_idx.mat from the BFM folder of https://github.com/microsoft/Deep3DFaceReconstruction, or "
        "model_info.mat from 3DDFA's Face Profiling code "
        "(http://www.cbsr.ia.ac.cn/users/xiangyuzhu/projects/3DDFA/main.htm), which also gives 68 landmarks",
    ),
)


class MissingModelFilesError(FileNotFoundError):
    """Files of the face model are missing; the message lists every one and where to get it."""

    def __init__(self, folder: str | os.PathLike[str], missing: Sequence[RequiredFile]) -> None:
        self.folder = Path(folder)
        self.missing = tuple(missing)
        lines = [(f"{self.folder}: {len(self.missing)} face-model file(s) missing (they cannot be shipped; "
                  "each needs its own registration or download):")]
        for item in self.missing:
            lines.append(f"  - {' or '.join(item.names)} ({item.role}): {item.source}")
        lines.append(f"Put them in {self.folder} and run again.")
        super().__init__("\n".join(lines))


class ModelFileFormatError(ValueError):
    """A model file exists but is not in the expected format."""


def find_model_files(
    folder: str | os.PathLike[str], required: Sequence[RequiredFile] = REQUIRED_FILES
) -> dict[str, Path]:
    """Paths of the model files in ``folder`` by role; raises :class:`MissingModelFilesError` listing *all*
    missing files at once (checked before any file is read)."""
    folder = Path(folder)
    found: dict[str, Path] = {}
    missing = []
    for item in required:
        path = next((folder / name for name in item.names if (folder / name).is_file()), None)
        if path is None:
            missing.append(item)
        else:
            found[item.role] = path
    if missing:
        raise MissingModelFilesError(folder, missing)
    return found


# ------------------------------------------------------------------------------------------------
# .mat files
# ------------------------------------------------------------------------------------------------


def is_hdf5_mat(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a MATLAB v7.3 file (an HDF5 container, which scipy cannot read).

    v7.3 files start with a 128-byte text header naming "MATLAB 7.3" and put the HDF5 signature at byte 512
    (the HDF5 user block); a plain HDF5 file has the signature at byte 0.
    """
    with open(path, "rb") as fh:
        head = fh.read(520)
    return head.startswith(_HDF5_SIGNATURE) or head[512:520] == _HDF5_SIGNATURE or b"MATLAB 7.3" in head[:128]


def load_mat(path: str | os.PathLike[str], names: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Variables ``names`` (required) and ``optional`` (when present) of a MATLAB v4/v5/v7 file.

    Only the asked variables are read (``01_MorphableModel.mat`` holds ~0.5 GB). A v7.3 (HDF5) file, or a
    required variable that is absent, is a :class:`ModelFileFormatError` that says what to do.
    """
    import scipy.io

    path = Path(path)
    if is_hdf5_mat(path):
        raise ModelFileFormatError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which this toolkit reads only in the v5 format (h5py is not a "
            f"dependency). Re-save it in MATLAB/Octave with save('{path.name}', '-v7') (or use the original "
            "file from the download, which is v5)."
        )
    try:
        data = scipy.io.loadmat(path, variable_names=[*names, *optional])
    except NotImplementedError as exc:  # scipy's own v7.3 detection
        raise ModelFileFormatError(f"{path}: {exc}; re-save it with save(..., '-v7')") from None
    except (ValueError, OSError, TypeError) as exc:
        raise ModelFileFormatError(f"{path} could not be read as a MATLAB .mat file: {exc}") from None
    absent = [name for name in names if name not in data]
    if absent:
        present = sorted(name for name, *_ in scipy.io.whosmat(path))
        raise ModelFileFormatError(
            f"{path} lacks the variable(s) {absent}; it holds {present}. Is it the right file?"
        )
    return {name: np.asarray(data[name]) for name in [*names, *optional] if name in data}


def _one_based(values: np.ndarray, upper: int, what: str, path: Path) -> np.ndarray:
    """1-based MATLAB indices → 0-based int64, checked to lie in [1, upper]."""
    values = np.asarray(values)
    if values.size and not np.all(np.equal(np.mod(values, 1), 0)):
        raise ModelFileFormatError(f"{path}: {what} must hold integer indices")
    index = values.astype(np.int64)
    if index.size and (index.min() < 1 or index.max() > upper):
        raise ModelFileFormatError(
            f"{path}: {what} must be 1-based indices in [1, {upper}], found [{index.min()}, {index.max()}]"
        )
    return index - 1


def _triangles(values: np.ndarray, upper: int, what: str, path: Path) -> np.ndarray:
    tri = np.asarray(values)
    if tri.ndim == 2 and tri.shape[0] == 3 and tri.shape[1] != 3:
        tri = tri.T  # 3DDFA stores triangles as 3×F
    if tri.ndim != 2 or tri.shape[1] != 3:
        raise ModelFileFormatError(f"{path}: {what} must be (F, 3) or (3, F), got {tri.shape}")
    return _one_based(tri, upper, what, path)


def _interleaved(values: np.ndarray, what: str, path: Path) -> np.ndarray:
    """(3·N, K) rows x1 y1 z1 x2 … → (N, 3, K)."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] % 3:
        raise ModelFileFormatError(f"{path}: {what} must have 3·N rows (x, y, z per vertex), got {values.shape}")
    return values.reshape(values.shape[0] // 3, 3, values.shape[1])


# ------------------------------------------------------------------------------------------------
# File readers
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bfm2009:
    """The parts of ``01_MorphableModel.mat`` used here (all vertices, 0-based triangles).

    Attributes:
        shape_mean: (N, 3) float32 mean shape, micrometres, BFM frame (y up, face towards +z).
        shape_basis: (N, 3, K) float32 principal components as stored (not scaled by ``shape_std``).
        shape_std: (K,) float32 per-component standard deviation (``shapeEV``).
        triangles: (F, 3) int64 0-based (``tl`` − 1), winding as stored.
        texture_mean: (N, 3) float32 mean colour 0–255 (``texMU``), or None when not read.
    """

    shape_mean: np.ndarray
    shape_basis: np.ndarray
    shape_std: np.ndarray
    triangles: np.ndarray
    texture_mean: np.ndarray | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.shape_mean.shape[0])


def read_bfm2009(path: str | os.PathLike[str], *, num_components: int | None = None,
                 texture: bool = True) -> Bfm2009:
    """Read ``01_MorphableModel.mat`` (v5). ``num_components`` keeps the first K shape components (all when
    None); ``texture`` also reads the mean colour ``texMU``. Raises :class:`ModelFileFormatError` on a v7.3
    file, missing variables or inconsistent shapes."""
    path = Path(path)
    data = load_mat(path, ["shapeMU", "shapePC", "shapeEV", "tl"], ["texMU"] if texture else [])
    mean = _interleaved(data["shapeMU"], "shapeMU", path)[:, :, 0]
    basis = _interleaved(data["shapePC"], "shapePC", path)
    std = np.asarray(data["shapeEV"], dtype=np.float32).reshape(-1)
    if basis.shape[0] != mean.shape[0]:
        raise ModelFileFormatError(f"{path}: shapePC has {basis.shape[0]} vertices, shapeMU {mean.shape[0]}")
    if std.shape[0] != basis.shape[2]:
        raise ModelFileFormatError(f"{path}: shapeEV has {std.shape[0]} values for {basis.shape[2]} components")
    if num_components is not None:
        if not 0 < num_components <= basis.shape[2]:
            raise ModelFileFormatError(f"{path}: asked for {num_components} shape components, it has {basis.shape[2]}")
        basis, std = basis[:, :, :num_components], std[:num_components]
    tex = None
    if "texMU" in data:
        tex = _interleaved(data["texMU"], "texMU", path)[:, :, 0].astype(np.float32)
        if tex.shape != mean.shape:
            raise ModelFileFormatError(f"{path}: texMU has {tex.shape[0]} vertices, shapeMU {mean.shape[0]}")
    return Bfm2009(
        shape_mean=mean.astype(np.float32), shape_basis=np.ascontiguousarray(basis, dtype=np.float32),
        shape_std=std, triangles=_triangles(data["tl"], mean.shape[0], "tl", path), texture_mean=tex,
    )


@dataclass(frozen=True)
class ExpressionBasis:
    """``Exp_Pca.bin``: mean (M, 3) and components (M, 3, K), float32, micrometres, on the trimmed vertices."""

    mean: np.ndarray
    basis: np.ndarray

    @property
    def num_components(self) -> int:
        return int(self.basis.shape[2])


def read_expression_basis(path: str | os.PathLike[str], *, num_vertices: int | None = None) -> ExpressionBasis:
    """Read ``Exp_Pca.bin`` (layout in the module docstring). The vertex count follows from the file size and
    must equal ``num_vertices`` when given (53215 for the real file)."""
    path = Path(path)
    size = path.stat().st_size
    if size < 4:
        raise ModelFileFormatError(f"{path} is {size} bytes: too short for an Exp_Pca.bin header")
    count = int(np.fromfile(path, dtype="<i4", count=1)[0])
    if not 0 < count <= 10_000:
        raise ModelFileFormatError(f"{path}: the leading int32 (number of components) is {count}; not an Exp_Pca.bin")
    floats, rest = divmod(size - 4, 4)
    vertices, rest3 = divmod(floats, 3 * (count + 1))
    if rest or rest3 or vertices == 0:
        raise ModelFileFormatError(
            f"{path}: {size} bytes do not hold int32 K={count} then float32 mean[3·M] and PCs[K][3·M] for any M"
        )
    if num_vertices is not None and vertices != num_vertices:
        raise ModelFileFormatError(f"{path} holds {vertices} vertices, the trimming index {num_vertices}")
    values = np.fromfile(path, dtype="<f4", offset=4)
    mean = values[: 3 * vertices].reshape(vertices, 3)
    basis = values[3 * vertices:].reshape(count, vertices, 3).transpose(1, 2, 0)  # component-major on disk
    return ExpressionBasis(mean=mean.astype(np.float32), basis=np.ascontiguousarray(basis, dtype=np.float32))


@dataclass(frozen=True)
class TrimIndex:
    """The kept BFM vertices and, when the file has them, landmarks and triangles of the trimmed mesh.

    Attributes:
        vertices: (M,) int64 0-based indices into the BFM's vertices.
        landmarks: (68,) int64 0-based indices into the *kept* vertices (3DDFA ``keypoints``), or None.
        triangles: (F, 3) int64 0-based into the kept vertices (3DDFA ``tri``), or None.
    """

    vertices: np.ndarray
    landmarks: np.ndarray | None = None
    triangles: np.ndarray | None = None


def read_trim_index(path: str | os.PathLike[str], *, num_full_vertices: int | None = None) -> TrimIndex:
    """Read ``BFM_exp_idx.mat`` or 3DDFA's ``model_info.mat`` (``trimIndex``, optional ``keypoints``, ``tri``).

    ``num_full_vertices`` bounds the indices (the BFM's vertex count; 53490 when None)."""
    path = Path(path)
    data = load_mat(path, ["trimIndex"], ["keypoints", "tri"])
    vertices = _one_based(np.asarray(data["trimIndex"]).reshape(-1), num_full_vertices or BFM_VERTICES,
                          "trimIndex", path)
    if len(np.unique(vertices)) != len(vertices):
        raise ModelFileFormatError(f"{path}: trimIndex repeats vertices")
    kept = len(vertices)
    landmarks = triangles = None
    if "keypoints" in data:
        landmarks = _one_based(np.asarray(data["keypoints"]).reshape(-1), kept, "keypoints", path)
    if "tri" in data:
        triangles = _triangles(data["tri"], kept, "tri", path)
    return TrimIndex(vertices=vertices, landmarks=landmarks, triangles=triangles)


def read_expression_std(path: str | os.PathLike[str]) -> np.ndarray:
    """``std_exp.txt``: whitespace-separated standard deviations of the expression components (float32)."""
    values = np.loadtxt(path, dtype=np.float64, ndmin=1).reshape(-1)
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ModelFileFormatError(f"{path}: standard deviations must be finite and > 0")
    return values.astype(np.float32)


def trim_triangles(triangles: np.ndarray, kept: np.ndarray, num_vertices: int) -> np.ndarray:
    """Triangles (0-based, over ``num_vertices``) whose three corners are all kept, re-indexed to the kept
    vertices' order."""
    new_index = np.full(num_vertices, -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    mapped = new_index[np.asarray(triangles, dtype=np.int64)]
    return mapped[(mapped >= 0).all(axis=1)]
