"""LPFF (large-pose Flickr faces): read the published layout, rebalance poses, mirror, convert to our folder format.

Published layout (oneThousand1000/LPFF-dataset ``dataset_download/readme.md``; Hugging Face
``onethousand/LPFF/LPFF-dataset``)::

    camera_parameters.json   {"<name>": [25 floats], ...}   e.g. "100004356@N06_21795165006_01"
    info.json                {"<name>": {Flickr metadata: raw_image_name, image_info{photo_url, license, ...}}}
    crop/eg3d.zip            19,590 crops <name>.png, 512², EG3D's alignment (the ones the cameras belong to)
    crop/stylegan.zip        the same faces in StyleGAN's (FFHQ) alignment: no cameras, not read here
    raw/, realign2400/, *_lm.json                            not read here

:class:`LpffFolder` reads ``camera_parameters.json`` in that form (written by LPFF's
``0_image_processing/5_process_camera_parameter.py``: name → the 16 cam2world values then
``[4.2647, 0, 0.5, 0, 4.2647, 0.5, 0, 0, 1]``) and also in EG3D's ``{"labels": [[name, [25 floats]], ...]}`` form
(LPFF's ``1_dataset_processing/eg3d_dataset.py`` appends LPFF to FFHQ's ``dataset.json`` in that form), keyed by
the stem of the name. The crops are looked for in ``crop/eg3d/``, ``eg3d/``, ``crop/`` and the root (the unzipped
``eg3d.zip``), or in the folder passed as ``images``; a crop matches the camera of its file stem. The Unsplash-Pexels
set published beside LPFF has the same layout (its ``info.json`` maps a name to a URL string) and reads the same.

Cameras
-------
LPFF cameras are EG3D 25-vectors (:mod:`helpers.cameras`: OpenCV cam2world, EG3D world units, intrinsics
normalised by the image size). The camera position is 2.7 from the world **origin** (the script scales it so); its
rotation comes from Deep3DFaceRecon's head pose, so the optical axis passes near, not exactly through, EG3D's pivot.

Pose angles (θ, φ)
------------------
LPFF's rebalancing (``data_processing/2_dataset_rebalance/0_compute_theta_phi.py``) takes the camera position
``(x, y, z)`` = the translation column of cam2world (relative to the world origin, not the pivot) and computes
``φ = atan2(z, y)`` and ``θ = atan2(y / cos φ, x)``, the inverse of ``x = r cos θ, y = r sin θ cos φ,
z = r sin θ sin φ``. So θ ∈ [0, π] is the angle between the camera position vector and world +x (θ = π/2 − yaw on the
horizontal circle: our yaw, positive towards +x, see :func:`helpers.cameras.orbit_angles`), φ the angle of the
position in the y–z plane from world +y (up): π/2 = level, smaller = camera above the face. :func:`theta_phi`
uses ``y / cos φ = hypot(y, z)``, which is the same number wherever ``y ≠ 0``; at ``y = 0`` exactly the published
expression divides 0 by cos(π/2) ≈ 6e-17 and returns θ ∈ {0, π}, a singularity not reproduced here.

Rebalancing (``2_dataset_rebalance/1_compute_density.py`` and ``2_eg3d_FFHQ_LPFF_rebalanced.py``)
--------------------------------------------------------------------------------------------------
1. ``scipy.stats.gaussian_kde`` (default: Scott's bandwidth) fitted on the (θ, φ) of *every* image of the training
   set: FFHQ-EG3D and LPFF, each with its mirrors (179,094 poses), evaluated at each of them.
2. Per image: ``n = int(min(max(round(4 * 0.06 / density), 1), 4))`` (Python's ``round``: halves to even), then
   ``n = 6`` if ``density < 0.02``, else ``n = 5`` if ``density < 0.03``; the low-density rules come after and
   override the clipping. See :class:`RebalanceRule`.
3. The published training code (LPFF's EG3D fork, ``eg3d/training/dataset.py``) reads a list of image names with
   each name repeated ``n`` times (``FFHQ_LPFF_rebalanced.json``) next to an unchanged ``dataset.json``. Official
   EG3D has no such list: it reads one label per distinct image file, and its own FFHQ rebalancing writes ``n``
   copies of each image under replica names (:mod:`helpers.data.ffhq_labels`). :func:`rebalanced_labels` returns
   that form, :func:`repeated_names` the name list, and :func:`export_eg3d_folder` writes an EG3D image folder with
   the replicas (hard links) and their ``dataset.json``.

The thresholds were tuned on the FFHQ+LPFF densities: the density of a pose depends on the whole set, so counts for
LPFF alone differ from the published ones. Pass FFHQ-EG3D's ``dataset.json`` as ``reference`` to fit the KDE on the
published set (its poses join the fit; only the LPFF samples get counts).

Mirroring
---------
EG3D's ``mirror_dataset.py`` (and LPFF's ``eg3d_dataset.py``) flip the image left-right and negate the cam2world
entries (0,1), (0,2), (0,3), (1,0), (2,0): the camera of the world mirrored about x = 0, which holds the pivot.
:func:`helpers.data.augment.flip_camera` is that operation (plus ``cx → 1 − cx``, a no-op for LPFF's cx = 0.5):
yaw and θ − π/2 change sign, φ and pitch do not, the rotation stays proper, and a camera looking at the pivot still
does. Mirrors are named ``<name>_mirror`` as in EG3D.

Converted folder (:func:`convert_lpff`)
---------------------------------------
Our dataset folder format (:mod:`helpers.data.folder`) with ``images/<id>.png``, ``cameras/<id>.npy``,
``manifest.jsonl``, ``dataset.json`` and ``meta.json``. LPFF has no depth, masks or latents, so the samples have
none and ``meta.json`` has no ``depth_png`` entry: :class:`helpers.data.folder.DatasetFolder` and the depth datasets,
which need depth, cannot read such a folder; read its manifest with :func:`helpers.data.folder.read_samples`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from helpers import __version__, cameras
from helpers.atomic import write_npy_atomic, write_png_atomic, write_text_atomic
from helpers.data import folder
from helpers.data.ffhq_labels import (
    FfhqLabels,
    LabelsFormatError,
    _as_camera,
    parse_labels,
    read_json,
    replica_name,
)
from helpers.data.pose_rebalance import (  # re-exported: LPFF's published pose statistics and rebalancing
    RebalanceRule,
    copies_from_density,
    pose_density,
    poses_of,
    rebalance_counts,  # noqa: F401
    rebalanced_labels,
    repeated_names,  # noqa: F401
    theta_phi,
)

CAMERA_PARAMETERS = "camera_parameters.json"
INFO = "info.json"
#: Where the unzipped EG3D-aligned crops are looked for, relative to the LPFF folder, in this order.
IMAGE_DIRS = ("crop/eg3d", "eg3d", "crop", ".")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MIRROR_SUFFIX = "_mirror"
#: Folder ``generator`` name recorded in meta.json.
GENERATOR = "lpff"
LICENSE = ("LPFF: non-commercial research only. Images from Flickr under CC-BY-2.0, PDM-1.0, CC-BY-SA-2.0 or "
           "CC0-1.0; each image's licence and author are in its manifest line ('info').")

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
            pairs = [(str(name), _as_camera(cam, f"{path}: {name!r}")) for name, cam in data.items()]
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
    from helpers.data.augment import flip_camera

    c = np.asarray(camera, dtype=np.float32)
    return flip_camera(c).numpy().astype(np.float32)


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


# --------------------------------------------------------------------------------------------
# Conversion to our dataset folder
# --------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_id(name: str) -> None:
    if not name or name.startswith(".") or any(ch in name for ch in "/\\\0"):
        raise LpffFormatError(f"image name {name!r} cannot be a sample id (empty, hidden, or a path)")


@dataclass(frozen=True)
class _Entry:
    id: str
    name: str
    mirror: bool
    camera: np.ndarray


def _write_image(src: Path, dst: Path, mirror: bool) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(src) as im:
            if not mirror and im.format == "PNG" and im.mode == "RGB":
                folder._copy_file(src, dst)  # hard link or copy: the bytes stay as published
                return
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise LpffFormatError(f"{src}: cannot read this crop ({exc}); extract crop/eg3d.zip again") from None
    write_png_atomic(dst, np.ascontiguousarray(rgb[:, ::-1] if mirror else rgb))


def _record(entry: _Entry, lpff: LpffFolder, theta: float, phi: float, density: float | None,
            copies: int | None) -> dict[str, Any]:
    yaw, pitch, _ = cameras.orbit_angles(cameras.unpack(entry.camera)[0].astype(np.float64))
    record: dict[str, Any] = {
        "id": entry.id, "source": GENERATOR, "name": entry.name, "mirror": entry.mirror,
        "yaw": float(yaw), "pitch": float(pitch), "theta": float(theta), "phi": float(phi),
        "camera": [float(v) for v in entry.camera],
        "files": {"image": f"{folder.FOLDERS['image']}/{entry.id}.png",
                  "camera": f"{folder.FOLDERS['camera']}/{entry.id}.npy"},
    }
    if copies is not None and density is not None:
        record["density"], record["replicas"] = float(density), int(copies)
    info = lpff.info(entry.name)
    if info is not None:
        record["info"] = info
    return record


def convert_lpff(src: str | os.PathLike[str], out: str | os.PathLike[str], *, rebalance: bool = False,
                 mirror: bool = False, limit: int | None = None, progress: bool = True,
                 images: str | os.PathLike[str] | None = None, reference: str | os.PathLike[str] | None = None,
                 rule: RebalanceRule = RebalanceRule()) -> Path:
    """Convert an LPFF folder (published layout) to our dataset folder ``out``; returns ``out``.

    Args:
        src: LPFF folder (see :class:`LpffFolder`; ``images`` overrides where the crops are).
        out: dataset folder, created or resumed. A folder made with other settings or another
            ``camera_parameters.json`` is refused.
        rebalance: compute LPFF's copies per sample (KDE over every sample written, mirrors included, as
            published) and record them as ``replicas`` (and the ``density``) in each manifest line.
            :func:`export_eg3d_folder` turns them into an EG3D training folder.
        mirror: add ``<name>_mirror`` samples: flipped crop, mirrored camera (:func:`mirror_camera`).
        limit: convert only the first ``limit`` names in sorted order (each with its mirror).
        reference: an EG3D ``dataset.json`` (FFHQ-EG3D's, with mirrors) whose poses join the density fit, for the
            published FFHQ+LPFF densities; only with ``rebalance``.
        rule: the copies rule (default: published).
        progress: show tqdm bars.

    Each manifest line: ``id``, ``name`` (LPFF name), ``mirror``, ``yaw``/``pitch`` (:func:`helpers.cameras.
    orbit_angles`, radians / official pitch offset), ``theta``/``phi`` (LPFF's angles, radians), ``camera`` (25
    floats), ``files`` (image, camera), ``info`` (the ``info.json`` entry: licence, author, URL) and with
    ``rebalance`` ``density`` and ``replicas``. Files are written under temporary names and a line is appended
    last, so an interrupted run resumes where it stopped.
    """
    from tqdm.auto import tqdm

    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if reference is not None and not rebalance:
        raise ValueError("reference only changes the rebalancing densities: pass rebalance=True too")
    src, out = Path(src), Path(out)
    lpff = LpffFolder(src, images=images)
    names = lpff.names[:limit] if limit is not None else lpff.names
    entries: list[_Entry] = []
    for name in names:
        _check_id(name)
        cam = lpff.camera(name)
        entries.append(_Entry(name, name, False, cam))
        if mirror:
            entries.append(_Entry(mirror_name(name), name, True, mirror_camera(cam)))
    if len({e.id for e in entries}) != len(entries):
        raise LpffFormatError(f"{src}: with mirror=True an image name and a mirror name collide "
                              "(a name already ends with '_mirror')")
    cams = np.stack([e.camera for e in entries]) if entries else np.zeros((0, cameras.CAMERA_DIM), np.float32)
    thetas, phis = theta_phi(cams)
    density: np.ndarray | None = None
    copies: np.ndarray | None = None
    if rebalance and entries:
        ref = poses_of(FfhqLabels.from_file(reference).cameras) if reference is not None else None
        density = pose_density(np.stack([thetas, phis], axis=-1), reference=ref, progress=progress)
        copies = copies_from_density(density, rule)

    settings: dict[str, Any] = {"mirror": mirror, "rebalance": rebalance, "limit": limit,
                                "images": str(lpff.image_dir.relative_to(src)) if images is None else "given"}
    if rebalance:
        settings["rule"] = json.loads(json.dumps(asdict(rule)))
        settings["reference_sha256"] = _sha256(Path(reference)) if reference is not None else None
    meta = {
        "format": folder.FORMAT_NAME,
        "format_version": folder.FORMAT_VERSION,
        "generator": {"name": GENERATOR, "camera_parameters_sha256": _sha256(src / CAMERA_PARAMETERS)},
        "settings": settings,
        "source": str(src.resolve()),
        "license": LICENSE,
        "contents": "images and cameras only: LPFF has no depth, masks or latents",
        "camera_convention": "EG3D 25-vector: OpenCV cam2world (4x4 row-major) + normalised intrinsics (3x3)",
        "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    have = folder.prepare_folder(out, meta)  # another kind or other settings: refused
    todo = [i for i, e in enumerate(entries) if e.id not in have]
    with folder.ManifestWriter(out / folder.MANIFEST) as writer:
        for i in tqdm(todo, desc="LPFF", unit="sample", disable=not progress):
            entry = entries[i]
            record = _record(entry, lpff, thetas[i], phis[i], None if density is None else density[i],
                             None if copies is None else copies[i])
            _write_image(lpff.image_path(entry.name), out / record["files"]["image"], entry.mirror)
            write_npy_atomic(out / record["files"]["camera"], entry.camera.astype(np.float32))
            writer.append(record)  # last: the sample exists from here on
    folder.write_dataset_json(out, folder.read_samples(out).values())
    return out


def export_eg3d_folder(root: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                       rebalanced: bool = True) -> Path:
    """Write an image folder EG3D's ``train.py --data`` / ``dataset_tool.py --source`` reads: every image of our
    dataset folder ``root`` (hard links, else copies) and its ``dataset.json``.

    With ``rebalanced`` and ``replicas`` in the manifest (:func:`convert_lpff` with ``rebalance``), each image is
    written ``replicas`` times as ``images/<id>_00.png``, ``_01``, … with the same label (EG3D's replica scheme,
    :func:`rebalanced_labels`); otherwise once as ``images/<id>.png``. ``dest`` must be empty or new.
    """
    root, dest = Path(root), Path(dest)
    records = sorted(folder.read_samples(root).values(), key=lambda r: r["id"])
    if not records:
        raise folder.DatasetFolderError(f"{root}: no samples (no manifest lines): nothing to export")
    if dest.exists() and any(dest.iterdir()):
        raise folder.DatasetFolderError(f"{dest} is not empty: export into a new or empty folder")
    folder.check_sample_files(root, records)
    pairs = [(r["files"]["image"], np.asarray(r["camera"], dtype=np.float64)) for r in records]
    replicas = [int(r["replicas"]) if rebalanced and "replicas" in r else None for r in records]
    if rebalanced and None not in replicas:
        labels = rebalanced_labels(pairs, np.array(replicas))
        sources = {replica_name(r["files"]["image"], k): root / r["files"]["image"]
                   for r, n in zip(records, replicas) for k in range(n)}
    else:
        labels = {"labels": [[n, [float(v) for v in c]] for n, c in pairs]}
        sources = {r["files"]["image"]: root / r["files"]["image"] for r in records}
    for name, path in sources.items():
        folder._copy_file(path, dest / name)
    write_text_atomic(dest / folder.DATASET_JSON, json.dumps(labels) + "\n")  # last: marks a complete export
    return dest


def pose_table(records: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Arrays for pose plots from manifest lines: ``theta``, ``phi`` (radians), ``replicas`` (1 when absent)."""
    rows = list(records)
    return {
        "theta": np.array([r["theta"] for r in rows], dtype=np.float64),
        "phi": np.array([r["phi"] for r in rows], dtype=np.float64),
        "replicas": np.array([int(r.get("replicas", 1)) for r in rows], dtype=np.int64),
    }

