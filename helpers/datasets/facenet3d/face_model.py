"""3DFaceNet's linear face model on the Basel Face Model 2009: ``shape = mean + A_id·α + A_exp·β``.

:class:`FaceModel` holds the mean, bases, triangles, landmarks and colours; :meth:`FaceModel.from_files` builds it
from the user's model files with the readers of :mod:`helpers.datasets.facenet3d.bfm_files` (which also documents the files),
:class:`FaceModelOptions` says how.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.datasets.facenet3d.bfm_files import (
    EXPRESSION_STD,
    REQUIRED_FILES,
    ModelFileFormatError,
    RequiredFile,
    find_model_files,
    read_bfm2009,
    read_expression_basis,
    read_expression_std,
    read_trim_index,
    trim_triangles,
)


@dataclass(frozen=True)
class FaceModelOptions:
    """How :meth:`FaceModel.from_files` builds the model.

    Attributes:
        num_identity: identity components kept (3DFaceNet: 100 of the BFM's 199).
        num_expression: expression components kept (3DFaceNet: all 79).
        scale_by_std: multiply coefficients by the components' standard deviations (coefficients in units of
            σ). **False** matches 3DFaceNet's CoarseData as far as can be told: the one public training
            script on those files weights the coefficient loss by 1e-4, i.e. the values are large raw
            coefficients of the unit components (micrometres). Needs ``std_exp.txt`` for the expression part.
        add_expression_mean: add ``expMU`` of ``Exp_Pca.bin`` to the mean shape (Yudong Guo's AD-NeRF and the
            public CoarseData training script do; Deep3D ignores it).
        use_trim_triangles: take the triangles from the trimming file when it has them (3DDFA
            ``model_info.mat``); otherwise those of the BFM whose corners are all kept.
        texture: read the BFM mean colour for vertex colours.
    """

    num_identity: int = 100
    num_expression: int = 79
    scale_by_std: bool = False
    add_expression_mean: bool = True
    use_trim_triangles: bool = True
    texture: bool = True


@dataclass(frozen=True)
class FaceModel:
    """A linear face model ``shape = mean + identity_basis·α + expression_basis·β`` (per-vertex 3-vectors).

    Attributes:
        mean: (N, 3) float32 mean shape in micrometres, BFM frame: seen from +z (facing the face) x points
            right and y up; the face looks towards +z.
        identity_basis: (N, 3, Ki) float32; expression_basis: (N, 3, Ke) float32.
        triangles: (F, 3) int64 0-based.
        landmarks: (L,) int64 0-based vertex indices (68 for 3DDFA's ``keypoints``), or None.
        identity_std, expression_std: (K,) float32 standard deviations, or None when unknown.
        vertex_colors: (N, 3) uint8 mean colour, or None.
        scale_by_std: coefficients are in units of σ (multiplied by the std before use).
    """

    mean: np.ndarray
    identity_basis: np.ndarray
    expression_basis: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray | None = None
    identity_std: np.ndarray | None = None
    expression_std: np.ndarray | None = None
    vertex_colors: np.ndarray | None = None
    scale_by_std: bool = False
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.mean.shape[0]
        if self.mean.shape != (n, 3):
            raise ValueError(f"mean must be (N, 3), got {self.mean.shape}")
        for name in ("identity_basis", "expression_basis"):
            basis = getattr(self, name)
            if basis.ndim != 3 or basis.shape[:2] != (n, 3):
                raise ValueError(f"{name} must be ({n}, 3, K), got {basis.shape}")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError(f"triangles must be (F, 3), got {self.triangles.shape}")
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= n):
            raise ValueError(f"triangles index vertices outside [0, {n})")
        if self.landmarks is not None and self.landmarks.size and (
                self.landmarks.min() < 0 or self.landmarks.max() >= n):
            raise ValueError(f"landmarks index vertices outside [0, {n})")
        if self.scale_by_std and (self.identity_std is None or self.expression_std is None):
            raise ValueError("scale_by_std needs identity_std and expression_std")

    @property
    def num_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def num_identity(self) -> int:
        return int(self.identity_basis.shape[2])

    @property
    def num_expression(self) -> int:
        return int(self.expression_basis.shape[2])

    def shape(self, identity: np.ndarray | None = None, expression: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) float32 vertices in micrometres for coefficient vectors (zeros when None).

        A shorter vector uses the leading components; a longer one is an error."""
        out = self.mean.astype(np.float32, copy=True)
        for coeffs, basis, std, what in (
            (identity, self.identity_basis, self.identity_std, "identity"),
            (expression, self.expression_basis, self.expression_std, "expression"),
        ):
            if coeffs is None:
                continue
            coeffs = np.asarray(coeffs, dtype=np.float64).reshape(-1)
            if coeffs.shape[0] > basis.shape[2]:
                raise ValueError(f"{coeffs.shape[0]} {what} coefficients for a basis of {basis.shape[2]}")
            if self.scale_by_std:
                assert std is not None
                coeffs = coeffs * std[: coeffs.shape[0]]
            # float32 product: coefficients are large (raw µm) but the sum stays well within float32 precision.
            out += basis[:, :, : coeffs.shape[0]] @ coeffs.astype(np.float32)
        return out

    @classmethod
    def from_files(cls, folder: str | os.PathLike[str], options: FaceModelOptions = FaceModelOptions()) -> FaceModel:
        """Build the 3DFaceNet model from the user's files in ``folder`` (see :data:`REQUIRED_FILES`).

        Every missing file is reported at once (:class:`MissingModelFilesError`) before anything is read;
        ``std_exp.txt`` is needed only with ``options.scale_by_std``.
        """
        folder = Path(folder)
        required = list(REQUIRED_FILES)
        if options.scale_by_std:
            required.append(RequiredFile(
                "expression standard deviations", (EXPRESSION_STD,),
                "std_exp.txt attached to https://github.com/Juyong/3DFace/issues/3 (also in the BFM folder of "
                "https://github.com/microsoft/Deep3DFaceReconstruction)",
            ))
        paths = find_model_files(folder, required)
        bfm_path, exp_path, trim_path = (paths[item.role] for item in REQUIRED_FILES)
        bfm = read_bfm2009(bfm_path, num_components=options.num_identity, texture=options.texture)
        trim = read_trim_index(trim_path, num_full_vertices=bfm.num_vertices)
        expression = read_expression_basis(exp_path, num_vertices=len(trim.vertices))
        if options.num_expression > expression.num_components:
            raise ModelFileFormatError(
                f"{exp_path} has {expression.num_components} expression components, {options.num_expression} asked")
        exp_basis = expression.basis[:, :, : options.num_expression]
        exp_std = None
        if options.scale_by_std:
            exp_std = read_expression_std(paths["expression standard deviations"])[: options.num_expression]
            if exp_std.shape[0] < options.num_expression:
                raise ModelFileFormatError(f"std_exp.txt has {exp_std.shape[0]} values, "
                                           f"{options.num_expression} needed")
        kept = trim.vertices
        mean = bfm.shape_mean[kept] + (expression.mean if options.add_expression_mean else 0.0)
        if options.use_trim_triangles and trim.triangles is not None:
            triangles = trim.triangles
        else:
            triangles = trim_triangles(bfm.triangles, kept, bfm.num_vertices)
        colors = None
        if bfm.texture_mean is not None:
            colors = np.clip(np.rint(bfm.texture_mean[kept]), 0, 255).astype(np.uint8)
        return cls(
            mean=np.ascontiguousarray(mean, dtype=np.float32),
            identity_basis=np.ascontiguousarray(bfm.shape_basis[kept]),
            expression_basis=np.ascontiguousarray(exp_basis),
            triangles=triangles, landmarks=trim.landmarks,
            identity_std=bfm.shape_std, expression_std=exp_std, vertex_colors=colors,
            scale_by_std=options.scale_by_std,
            sources={"morphable_model": str(bfm_path), "expression": str(exp_path), "trim_index": str(trim_path)},
        )
