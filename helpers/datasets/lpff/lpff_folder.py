"""LPFF's published folder: read its cameras, metadata and crops; mirror its cameras as EG3D does.

:class:`LpffFolder` reads LPFF's published layout (Hugging Face ``onethousand/LPFF/LPFF-dataset``):
``camera_parameters.json`` (``{"<name>": [25 floats], ...}``, or EG3D's ``{"labels": [[name, [25 floats]], ...]}``
form), keyed by the stem of the name; ``info.json`` (Flickr metadata); the crops of the unzipped ``crop/eg3d.zip``,
looked for in ``crop/eg3d/``, ``eg3d/``, ``crop/`` and the root, or in the folder passed as ``images``. A crop
matches the camera of its file stem. The Unsplash-Pexels set published beside LPFF reads the same.

Cameras are EG3D 25-vectors (:mod:`helpers.base.cameras`), the camera 2.7 from the world **origin**, its optical
axis passing near, not exactly through, EG3D's pivot. Mirroring is EG3D's (:func:`helpers.base.cameras.flip_camera`:
the image flipped left-right, the camera of the world mirrored about x = 0); mirrors are named ``<name>_mirror``.

:mod:`helpers.datasets.lpff.lpff_convert` converts such a folder to ours; :mod:`helpers.datasets.lpff.pose_rebalance`
computes LPFF's pose statistics and rebalancing.

Design notes: docs/design/datasets.md (lpff_folder): the published layout, the cameras' origin, mirroring.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from helpers.base import cameras
from helpers.datasets.ffhq_labels import LabelsFormatError, as_camera, parse_labels, read_json

CAMERA_PARAMETERS = "camera_parameters.json"
INFO = "info.json"
#: Where the unzipped EG3D-aligned crops are looked for, relative to the LPFF folder, in this order.
IMAGE_DIRS = ("crop/eg3d", "eg3d", "crop", ".")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The other images of a face where the published data has them (unzipped ``crop/stylegan.zip``; ``realign2400/``),
#: looked for in these folders relative to the LPFF folder: kind → folders, first found wins.
EXTRA_IMAGE_DIRS: dict[str, tuple[str, ...]] = {"stylegan": ("crop/stylegan", "stylegan"),
                                                "realign": ("realign2400",)}
MIRROR_SUFFIX = "_mirror"
MissingPolicy = Literal["error", "skip"]


class LpffFormatError(LabelsFormatError):
    """An LPFF folder or file does not have the published layout."""


# --------------------------------------------------------------------------------------------
# Reading the published layout
# --------------------------------------------------------------------------------------------


def check_pose(camera: np.ndarray, where: str, *, atol: float = 1e-4) -> None:
    """Raise :class:`LpffFormatError` unless ``camera`` (25,) has a proper rotation, a [0, 0, 0, 1] last pose row
    and a [0, 0, 1] last intrinsics row."""
    pose, k = cameras.unpack(np.asarray(camera, dtype=np.float64))
    rot = pose[:3, :3]
    problems = []
    if not np.allclose(pose[3], [0, 0, 0, 1], atol=atol):
        problems.append(f"last cam2world row {pose[3].tolist()} is not [0, 0, 0, 1]")
    if not np.allclose(k[2], [0, 0, 1], atol=atol):
        problems.append(f"last intrinsics row {k[2].tolist()} is not [0, 0, 1]")
    if not np.allclose(rot.T @ rot, np.eye(3), atol=atol) or np.linalg.det(rot) <= 0:
        problems.append("the cam2world rotation is not a rotation (orthonormal, det +1)")
    if problems:
        raise LpffFormatError(f"{where}: not an EG3D camera: {'; '.join(problems)}")


def read_camera_parameters(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """``{image name: (25,) float32 EG3D camera}`` from LPFF's ``camera_parameters.json``.

    Accepts the published form ``{"<name>": [25 floats], ...}`` and EG3D's ``{"labels": [[name, [25 floats]],
    ...]}`` (keyed by the stem of each name; a stem twice is an error). Every camera is checked
    (:func:`check_pose`); a malformed file raises :class:`LpffFormatError` naming the entry.
    """
    path = Path(path)
    try:
        data = read_json(path)
        if isinstance(data, dict) and isinstance(data.get("labels"), list):
            pairs = [(Path(name.replace("\\", "/")).stem, cam) for name, cam in parse_labels(data, str(path))]
        elif isinstance(data, dict):
            pairs = [(str(name), as_camera(cam, f"{path}: {name!r}")) for name, cam in data.items()]
    except LpffFormatError:
        raise
    except LabelsFormatError as exc:
        raise LpffFormatError(str(exc)) from None
    if not isinstance(data, dict):
        raise LpffFormatError(f'{path}: expected {{"<image name>": [25 floats], ...}} (LPFF camera_parameters.json) '
                              f'or {{"labels": [[name, [25 floats]], ...]}}, got a JSON {type(data).__name__}')
    out: dict[str, np.ndarray] = {}
    for name, cam in pairs:
        if name in out:
            raise LpffFormatError(f"{path}: image {name!r} has two cameras")
        check_pose(cam, f"{path}: {name!r}")
        out[name] = cam.astype(np.float32)
    if not out:
        raise LpffFormatError(f"{path}: holds no cameras")
    return out


def read_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """LPFF's ``info.json``: ``{name: metadata}`` (Flickr: a dict with ``image_info.license``; Unsplash-Pexels: a
    URL string)."""
    path = Path(path)
    try:
        data = read_json(path)
    except LabelsFormatError as exc:
        raise LpffFormatError(str(exc)) from None
    if not isinstance(data, dict):
        raise LpffFormatError(f"{path}: expected an object {{\"<image name>\": metadata, ...}}, "
                              f"got a JSON {type(data).__name__}")
    return data


def _image_files(directory: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for suffix in IMAGE_SUFFIXES:  # a stem's file is chosen in this order
        for p in sorted(directory.glob(f"*{suffix}")):
            if not p.name.startswith(".") and p.is_file():
                files.setdefault(p.stem, p)
    return files


@dataclass(frozen=True)
class LpffSample:
    """One LPFF face: its name, crop, (25,) float32 camera and metadata (None when there is no info.json entry)."""

    name: str
    image_path: Path
    camera: np.ndarray
    info: Any


class LpffFolder:
    """An LPFF folder in the published layout (see the module doc): ``names``, ``len``, ``sample(name)``.

    Args:
        root: the folder holding ``camera_parameters.json`` (and ``info.json``, the unzipped crops).
        images: folder of the ``<name>.png`` crops; default: the first of :data:`IMAGE_DIRS` that holds a crop of
            a camera.
        missing: a camera without a crop is an error (``"error"``, default) or left out and listed in
            :attr:`skipped` (``"skip"``). Crops without a camera are ignored (counted in :attr:`unlabelled`).
    """

    def __init__(self, root: str | os.PathLike[str], *, images: str | os.PathLike[str] | None = None,
                 missing: MissingPolicy = "error") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise LpffFormatError(f"{self.root}: no such folder")
        params = self.root / CAMERA_PARAMETERS
        if not params.is_file():
            raise LpffFormatError(f"{self.root}: no {CAMERA_PARAMETERS}; download LPFF-dataset/{CAMERA_PARAMETERS} "
                                  "from huggingface.co/datasets/onethousand/LPFF (`python -m helpers datasets "
                                  "download lpff`)")
        self.cameras = read_camera_parameters(params)
        info_path = self.root / INFO
        self.infos: dict[str, Any] = read_info(info_path) if info_path.is_file() else {}
        self.image_dir, files = self._find_images(images)
        self.unlabelled = len(set(files) - set(self.cameras))
        without = sorted(set(self.cameras) - set(files))
        if without and missing == "error":
            raise LpffFormatError(
                f"{self.image_dir}: {len(without)} of {len(self.cameras)} cameras have no crop <name>.png here "
                f"(e.g. {without[:3]}); unzip crop/eg3d.zip completely, or pass missing='skip'")
        self.skipped = without
        self.names = sorted(set(self.cameras) & set(files))
        self._files = files
        self._extra = {kind: next((found for rel in dirs if (found := _image_files(self.root / rel))), {})
                       for kind, dirs in EXTRA_IMAGE_DIRS.items()}

    def _find_images(self, images: str | os.PathLike[str] | None) -> tuple[Path, dict[str, Path]]:
        if images is not None:
            directory = Path(images)
            if not directory.is_dir():
                raise LpffFormatError(f"{directory}: no such image folder")
            return directory, _image_files(directory)
        for rel in IMAGE_DIRS:
            directory = (self.root / rel) if rel != "." else self.root
            if directory.is_dir():
                files = _image_files(directory)
                if set(files) & set(self.cameras):
                    return directory, files
        raise LpffFormatError(f"{self.root}: no crops found: unzip LPFF's crop/eg3d.zip so that <name>.png files are "
                              f"in one of {', '.join(IMAGE_DIRS)} (relative to this folder), or pass images=FOLDER")

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._files and name in self.cameras

    def image_path(self, name: str) -> Path:
        return self._files[name]

    def extra_image_path(self, name: str, kind: str) -> Path | None:
        """The face's other image of ``kind`` (a key of :data:`EXTRA_IMAGE_DIRS`: ``"stylegan"``, the 1024² FFHQ
        crop; ``"realign"``, the 2400² realigned image), or None where the folder does not have it."""
        if kind not in EXTRA_IMAGE_DIRS:
            raise ValueError(f"kind must be one of {sorted(EXTRA_IMAGE_DIRS)}, got {kind!r}")
        return self._extra[kind].get(name)

    def camera(self, name: str) -> np.ndarray:
        """(25,) float32 EG3D camera of an image."""
        return self.cameras[name].copy()

    def info(self, name: str) -> Any:
        """The image's ``info.json`` entry, or None."""
        return self.infos.get(name)

    def sample(self, name: str) -> LpffSample:
        if name not in self:
            raise KeyError(f"{name!r} is not an LPFF image of {self.root} (with a camera and a crop)")
        return LpffSample(name, self._files[name], self.camera(name), self.info(name))


# --------------------------------------------------------------------------------------------
# Mirroring
# --------------------------------------------------------------------------------------------


def mirror_camera(camera: np.ndarray | Sequence[Any]) -> np.ndarray:
    """(..., 25) float32 camera of the left-right flipped image (EG3D's ``flip_yaw``; see the module doc).

    Applying it twice gives the camera back exactly.
    """
    c = np.asarray(camera, dtype=np.float32)
    return cameras.flip_camera(c).numpy().astype(np.float32)


def mirror_name(name: str) -> str:
    """``"<name>"`` → ``"<name>_mirror"`` (EG3D's and LPFF's naming of the flipped image)."""
    return f"{name}{MIRROR_SUFFIX}"


def with_mirrors(cams: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{name: camera}`` with each image followed by its mirror ``<name>_mirror`` and mirrored camera."""
    out: dict[str, np.ndarray] = {}
    for name, cam in cams.items():
        out[name] = np.asarray(cam, dtype=np.float32)
        out[mirror_name(name)] = mirror_camera(cam)
    if len(out) != 2 * len(cams):
        raise ValueError("a name and a mirror name collide (an input name already ends with '_mirror'?)")
    return out


