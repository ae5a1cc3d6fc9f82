"""3DFaceNet CoarseData and FineData (Guo et al., TPAMI 2018): parameters → posed mesh → depth, and readers.

The data (``github.com/Juyong/3DFace``): 3131 images of 300-W, each augmented 30 times. **CoarseData** gives per image
a ``<name>.txt`` next to ``<name>.jpg``: 100 identity coefficients, 79 expression coefficients, then the weak
perspective pose ``pitch yaw roll t_x t_y s`` (angles in radians); geometry needs the user's Basel Face Model files
(:mod:`helpers.datasets.facenet3d.bfm_files`). **FineData** gives depth maps in an unpublished encoding:
:func:`read_fine_depth` returns the values as stored.

- *Pose* (:class:`PoseConvention`, default): Deep3DFaceReconstruction's code path, checked against a recording of
  it (``tests/fixtures/deep3d_pose_reference``): ``R = Rz(roll)·Ry(yaw)·Rx(pitch)`` applied to column vectors, then
  ``s·(R·X)_xy + t`` with y up and pixel centres at integers.
- *Dataset frame* (:func:`project`): ``x`` right, ``y`` up from the image's bottom edge, ``z`` towards the viewer,
  image pixels. *Image frame* (:func:`to_image_frame`, meshes, depth maps): ``u`` right, ``v`` down from the top
  edge, ``depth`` forward, pixels; pixel ``(row i, col j)`` has its centre at ``(j + 0.5, i + 0.5)``.

:mod:`helpers.datasets.facenet3d.facenet3d_convert` turns samples into training data in EG3D's frame and units.
Design notes: docs/design/datasets.md (facenet3d_data): what is known of the files, the pose convention's sources.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from helpers.base.atomic import write_text_atomic
from helpers.datasets.facenet3d.face_model import FaceModel
from helpers.mesh import Mesh
from helpers.mesh.rasterize import RasterOptions, rasterize_depth  # re-exported: the depth renderer of this module

NUM_IDENTITY = 100
NUM_EXPRESSION = 79
NUM_POSE = 6
NUM_PARAMS = NUM_IDENTITY + NUM_EXPRESSION + NUM_POSE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# ------------------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoarseParams:
    """One CoarseData parameter file.

    Attributes:
        identity: (100,) BFM identity coefficients (raw, for the unscaled components).
        expression: (79,) expression coefficients of ``Exp_Pca.bin``.
        angles: (3,) pitch, yaw, roll in radians (rotation about x, y, z).
        translation: (2,) t_x, t_y in pixels of the image (dataset frame: y up from the bottom edge).
        scale: weak-perspective scale, pixels per model unit (micrometre).
    """

    identity: np.ndarray
    expression: np.ndarray
    angles: np.ndarray
    translation: np.ndarray
    scale: float

    @classmethod
    def from_vector(cls, values: Sequence[float] | np.ndarray) -> CoarseParams:
        """From the 185 values in file order (identity, expression, pitch, yaw, roll, t_x, t_y, s)."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        if v.shape[0] != NUM_PARAMS:
            raise ValueError(f"a CoarseData parameter vector has {NUM_PARAMS} values, got {v.shape[0]}")
        a, b = NUM_IDENTITY, NUM_IDENTITY + NUM_EXPRESSION
        return cls(identity=v[:a].copy(), expression=v[a:b].copy(), angles=v[b:b + 3].copy(),
                   translation=v[b + 3:b + 5].copy(), scale=float(v[b + 5]))

    def to_vector(self) -> np.ndarray:
        """(185,) float64 in file order."""
        return np.concatenate([self.identity, self.expression, self.angles, self.translation, [self.scale]])


def read_coarse_params(path: str | os.PathLike[str]) -> CoarseParams:
    """Read a CoarseData parameter file: three lines of 100, 79 and 6 values (see the module docstring).

    A file whose lines do not have these counts but that holds 185 values in total in the same order (e.g.
    one value per line) is accepted too. Anything else is a ``ValueError`` that names the file and counts.
    """
    path = Path(path)
    lines = [line.split() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    counts = [len(line) for line in lines]
    try:
        values = [float(token) for line in lines for token in line]
    except ValueError as exc:
        raise ValueError(f"{path}: not a CoarseData parameter file ({exc})") from None
    if len(values) != NUM_PARAMS:
        raise ValueError(
            f"{path}: a CoarseData parameter file has {NUM_IDENTITY} identity, {NUM_EXPRESSION} expression and "
            f"{NUM_POSE} pose values ({NUM_PARAMS} in all); found {len(values)} values in lines of {counts}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: parameters must be finite")
    return CoarseParams.from_vector(values)


def write_coarse_params(path: str | os.PathLike[str], params: CoarseParams) -> Path:
    """Write ``params`` in the CoarseData text layout (three lines; used by tests and smoke data)."""
    pose = [*params.angles, *params.translation, params.scale]
    text = "\n".join(" ".join(f"{v:.9g}" for v in part) for part in (params.identity, params.expression, pose))
    return write_text_atomic(path, text + "\n")


# ------------------------------------------------------------------------------------------------
# Pose and projection
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseConvention:
    """How the pose values act. Defaults: Deep3DFaceReconstruction's ``face_decoder.py`` (``Compute_rotation_matrix``,
    ``Rigid_transform_block``; the 3DFaceNet paper's ``p = s·Π·R·X + t``), proved by the recorded fixture.

    Attributes:
        euler_order: ``"zyx"``: ``R = Rz(roll)·Ry(yaw)·Rx(pitch)``; ``"xyz"``: ``R = Rx·Ry·Rz``.
        row_vectors: vertices are rotated as row vectors ``X·R`` (i.e. by ``Rᵀ``: a third-party CoarseData trainer's
            reading); False (default): ``R·X``.
        y_up: the dataset's y (and ``t_y``) points up from the image's bottom edge; False: y points down.
        integer_centers: the dataset's pixel centres are at integer coordinates (Deep3D flips its landmarks as
            ``H − 1 − y``): ``u = x + 0.5``, ``v = H − y − 0.5``; False: ``u = x``, ``v = H − y``.
    """

    euler_order: Literal["zyx", "xyz"] = "zyx"
    row_vectors: bool = False
    y_up: bool = True
    integer_centers: bool = True


def rotation_matrix(angles: Sequence[float] | np.ndarray, euler_order: str = "zyx") -> np.ndarray:
    """(3, 3) rotation from (pitch, yaw, roll) radians about x, y, z; see :attr:`PoseConvention.euler_order`."""
    pitch, yaw, roll = (float(a) for a in np.asarray(angles, dtype=np.float64).reshape(3))
    cx, sx, cy, sy, cz, sz = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    if euler_order == "zyx":
        return rz @ ry @ rx
    if euler_order == "xyz":
        return rx @ ry @ rz
    raise ValueError(f"euler_order must be 'zyx' or 'xyz', got {euler_order!r}")


def column_rotation(angles: Sequence[float] | np.ndarray, convention: PoseConvention = PoseConvention()) -> np.ndarray:
    """(3, 3) matrix ``M`` with which the pose turns a model point ``X`` (a column vector) into ``M·X``."""
    rot = rotation_matrix(angles, convention.euler_order)
    return rot.T if convention.row_vectors else rot


def project(vertices: np.ndarray, params: CoarseParams, convention: PoseConvention = PoseConvention()) -> np.ndarray:
    """(N, 3) model vertices (micrometres) → (N, 3) float64 in the dataset frame (pixels; x right, y as
    :attr:`PoseConvention.y_up` says, z towards the viewer): ``(s·R·X)_xy + t`` and ``(s·R·X)_z``."""
    rotated = np.asarray(vertices, dtype=np.float64) @ column_rotation(params.angles, convention).T
    out = params.scale * rotated
    out[:, :2] += params.translation
    return out


def to_image_frame(points: np.ndarray, height: int, convention: PoseConvention = PoseConvention()) -> np.ndarray:
    """Dataset frame → image frame (u right, v down from the top edge, depth away from the viewer; pixels).

    With ``y_up`` both y and z flip (a rotation by 180° about x), which keeps the frame right-handed; with
    ``integer_centers`` u and v move by half a pixel (see :class:`PoseConvention`)."""
    out = np.array(points, dtype=np.float64, copy=True)
    half = 0.5 if convention.integer_centers else 0.0
    out[:, 0] += half
    if convention.y_up:
        out[:, 1] = height - half - out[:, 1]
        out[:, 2] = -out[:, 2]
    else:
        out[:, 1] += half
    return out


# ------------------------------------------------------------------------------------------------
# Samples
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoarseOptions:
    """Settings of :func:`load_coarse_sample` and :func:`convert_coarse`."""

    pose: PoseConvention = field(default_factory=PoseConvention)
    raster: RasterOptions = field(default_factory=RasterOptions)


def posed_mesh(params: CoarseParams, model: FaceModel, height: int,
               convention: PoseConvention = PoseConvention()) -> tuple[Mesh, np.ndarray]:
    """The model's mesh for ``params`` in the image frame (pixels) and the (N, 3) model-space vertices (µm)."""
    shape = model.shape(params.identity, params.expression)
    points = to_image_frame(project(shape, params, convention), height, convention)
    return Mesh(points, model.triangles, model.vertex_colors), shape


def load_coarse_sample(
    image_path: str | os.PathLike[str], params_path: str | os.PathLike[str], model: FaceModel,
    options: CoarseOptions = CoarseOptions(),
) -> dict[str, Any]:
    """One CoarseData sample: image, parameters, posed mesh, landmarks and a rendered depth map.

    Returns a dict:
        ``id`` (image stem), ``image`` (H, W, 3) uint8 RGB, ``params`` :class:`CoarseParams`,
        ``shape`` (N, 3) float32 model-space vertices in micrometres (before pose),
        ``mesh`` :class:`~helpers.mesh.Mesh` in the image frame (u, v, depth; pixels) with the BFM mean colour,
        ``landmarks`` (L, 2) float64 image (u, v) of the model's landmark vertices, or None without landmarks,
        ``landmarks_depth`` (L,) their depth, or None,
        ``depth`` (H, W) float32 orthographic depth in pixels from the plane through the model origin
        (larger = farther; NaN off the face), ``mask`` (H, W) bool, ``face_index`` (H, W) int32 (−1 off the face),
        ``image_path``, ``params_path`` (Path).
    """
    from PIL import Image

    image_path, params_path = Path(image_path), Path(params_path)
    params = read_coarse_params(params_path)
    with Image.open(image_path) as im:
        image = np.asarray(im.convert("RGB"))
    height, width = image.shape[:2]
    mesh, shape = posed_mesh(params, model, height, options.pose)
    depth, mask, face_index = rasterize_depth(mesh.vertices, mesh.faces, height, width, options.raster)
    landmarks = landmarks_depth = None
    if model.landmarks is not None:
        pts = mesh.vertices[model.landmarks].astype(np.float64)
        landmarks, landmarks_depth = pts[:, :2], pts[:, 2]
    return {
        "id": image_path.stem, "image": image, "params": params, "shape": shape, "mesh": mesh,
        "landmarks": landmarks, "landmarks_depth": landmarks_depth,
        "depth": depth, "mask": mask, "face_index": face_index,
        "image_path": image_path, "params_path": params_path,
    }


def find_coarse_samples(src: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """(image, parameter file) pairs under ``src``: every image (``.jpg/.jpeg/.png/.bmp``) with a ``.txt`` of
    the same stem next to it, sorted by path. Searches sub-folders (``CoarseData/<subject>/…``)."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"CoarseData folder not found: {src}")
    pairs = []
    for image in sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        params = image.with_suffix(".txt")
        if params.is_file():
            pairs.append((image, params))
    return pairs


def coarse_sample_id(image: Path, src: Path) -> str:
    """File-name-safe id from the image path relative to ``src``: sub-folders joined by ``__``."""
    rel = image.relative_to(src).with_suffix("")
    return re.sub(r"[^A-Za-z0-9._-]", "_", "__".join(rel.parts))


# ------------------------------------------------------------------------------------------------
# FineData
# ------------------------------------------------------------------------------------------------


def read_fine_depth(path: str | os.PathLike[str], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a FineData depth map **as stored** (float32 (H, W); no unit, sign or background conversion, since
    none of these is documented: see the module docstring).

    Accepted encodings, tried in this order:
    - ``.npy``;
    - an image PIL can read (8/16-bit grey, 32-bit integer or float TIFF): the values of its single channel;
    - a raw binary file, which needs ``shape`` = (H, W) (e.g. the paired image's size): little-endian float32
      (4·H·W bytes), float64 (8·H·W bytes), or an int32 (H, W) header followed by float32 values.

    Raises ``ValueError`` listing what was tried when none fits.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"depth file not found: {path}")
    if path.suffix.lower() == ".npy":
        depth = np.load(path, allow_pickle=False)
        if depth.ndim != 2:
            raise ValueError(f"{path}: a depth map must be 2-D, got shape {depth.shape}")
        return depth.astype(np.float32)
    tried = []
    try:
        with Image.open(path) as im:
            if len(im.getbands()) != 1:
                raise ValueError(f"{path}: a depth image must have one channel, got {im.mode}")
            return np.asarray(im).astype(np.float32)
    except UnidentifiedImageError:
        tried.append("image (PIL could not identify it)")
    size = path.stat().st_size
    if shape is None:
        raise ValueError(f"{path}: not an image or .npy ({size} bytes); reading it as raw binary needs shape=(H, W)")
    h, w = (int(s) for s in shape)
    n = h * w
    if size == 4 * n:
        return np.fromfile(path, dtype="<f4").reshape(h, w)
    tried.append(f"raw float32 ({4 * n} bytes)")
    if size == 8 * n:
        return np.fromfile(path, dtype="<f8").reshape(h, w).astype(np.float32)
    tried.append(f"raw float64 ({8 * n} bytes)")
    if size == 8 + 4 * n and tuple(np.fromfile(path, dtype="<i4", count=2)) in ((h, w), (w, h)):
        return np.fromfile(path, dtype="<f4", offset=8).reshape(h, w)
    tried.append(f"int32 (H, W) header + float32 ({8 + 4 * n} bytes)")
    raise ValueError(f"{path}: {size} bytes match no known depth encoding for shape {(h, w)}; tried: {'; '.join(tried)}")
