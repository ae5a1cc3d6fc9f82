"""LPFF (large-pose Flickr faces): convert the published layout to our folder format, with mirrors and LPFF's pose
rebalancing, or export an EG3D image folder with the rebalanced replicas.

Reading the published layout and mirroring: :mod:`helpers.datasets.lpff.lpff_folder`; pose angles, density and the copies rule
as published: :mod:`helpers.datasets.lpff.pose_rebalance`. This module re-exports their public names.

Converted folder (:func:`convert_lpff`)
---------------------------------------
Our dataset folder format (:mod:`helpers.dataset_folder`) with ``images/<id>.png``, ``cameras/<id>.npy``,
``manifest.jsonl``, ``dataset.json`` and ``meta.json``; where the LPFF folder has them, also the face's StyleGAN
crop ``stylegan/<id>.png`` (1024²) and realigned image ``realign2400/<id>.png`` (2400²), flipped for mirrors.
LPFF has no depth, masks or latents, so the samples have
none and ``meta.json`` has no ``depth_png`` entry: :class:`helpers.dataset_folder.reader.DatasetFolder` and the depth datasets,
which need depth, cannot read such a folder; read its manifest with :func:`helpers.dataset_folder.manifest.read_samples`.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers import __version__
from helpers.base import cameras
from helpers.base.atomic import link_or_copy, write_npy_atomic, write_png_atomic
from helpers.dataset_folder.layout import (
    FOLDERS,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
)
from helpers.dataset_folder.manifest import ManifestWriter, read_samples, write_dataset_json
from helpers.dataset_folder.meta import prepare_folder
from helpers.datasets.ffhq_labels import FfhqLabels
from helpers.datasets.lpff.lpff_folder import (
    CAMERA_PARAMETERS,
    EXTRA_IMAGE_DIRS,
    LpffFolder,
    LpffFormatError,
    mirror_camera,
    mirror_name,
)
from helpers.datasets.lpff.pose_rebalance import (
    RebalanceRule,
    copies_from_density,
    pose_density,
    poses_of,
    theta_phi,
)
from helpers.download.http_download import sha256_file

__all__ = ["GENERATOR", "LICENSE", "convert_lpff", "pose_table"]

#: Folder ``generator`` name recorded in meta.json.
GENERATOR = "lpff"
LICENSE = ("LPFF: non-commercial research only. Images from Flickr under CC-BY-2.0, PDM-1.0, CC-BY-SA-2.0 or "
           "CC0-1.0; each image's licence and author are in its manifest line ('info').")


# --------------------------------------------------------------------------------------------
# Conversion to our dataset folder
# --------------------------------------------------------------------------------------------


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
                link_or_copy(src, dst)  # hard link or copy: the bytes stay as published
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
        "files": {"image": f"{FOLDERS['image']}/{entry.id}.png",
                  "camera": f"{FOLDERS['camera']}/{entry.id}.npy"},
    }
    for kind in EXTRA_IMAGE_DIRS:
        if lpff.extra_image_path(entry.name, kind) is not None:
            record["files"][f"{kind}_image"] = f"{FOLDERS[f'{kind}_image']}/{entry.id}.png"
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
            :func:`helpers.dataset_folder.eg3d_export.export_eg3d` turns them into an EG3D training folder.
        mirror: add ``<name>_mirror`` samples: flipped crop, mirrored camera (:func:`mirror_camera`).
        limit: convert only the first ``limit`` names in sorted order (each with its mirror).
        reference: an EG3D ``dataset.json`` (FFHQ-EG3D's, with mirrors) whose poses join the density fit, for the
            published FFHQ+LPFF densities; only with ``rebalance``.
        rule: the copies rule (default: published).
        progress: show tqdm bars.

    Each manifest line: ``id``, ``name`` (LPFF name), ``mirror``, ``yaw``/``pitch`` (:func:`helpers.base.cameras.
    orbit_angles`, radians / official pitch offset), ``theta``/``phi`` (LPFF's angles, radians), ``camera`` (25
    floats), ``files`` (image, camera; ``stylegan_image`` / ``realign_image`` where the folder has them), ``info``
    (the ``info.json`` entry: licence, author, URL) and with ``rebalance`` ``density`` and ``replicas``. Files are
    written under temporary names and a line is appended last, so an interrupted run resumes where it stopped.
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
        settings["reference_sha256"] = sha256_file(Path(reference)) if reference is not None else None
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "generator": {"name": GENERATOR, "camera_parameters_sha256": sha256_file(src / CAMERA_PARAMETERS)},
        "settings": settings,
        "source": str(src.resolve()),
        "license": LICENSE,
        "contents": "images and cameras only: LPFF has no depth, masks or latents",
        "camera_convention": "EG3D 25-vector: OpenCV cam2world (4x4 row-major) + normalised intrinsics (3x3)",
        "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    have = prepare_folder(out, meta)  # another kind or other settings: refused
    todo = [i for i, e in enumerate(entries) if e.id not in have]
    with ManifestWriter(out / MANIFEST) as writer:
        for i in tqdm(todo, desc="LPFF", unit="sample", disable=not progress):
            entry = entries[i]
            record = _record(entry, lpff, thetas[i], phis[i], None if density is None else density[i],
                             None if copies is None else copies[i])
            _write_image(lpff.image_path(entry.name), out / record["files"]["image"], entry.mirror)
            for kind in EXTRA_IMAGE_DIRS:
                extra = lpff.extra_image_path(entry.name, kind)
                if extra is not None:
                    _write_image(extra, out / record["files"][f"{kind}_image"], entry.mirror)
            write_npy_atomic(out / record["files"]["camera"], entry.camera.astype(np.float32))
            writer.append(record)  # last: the sample exists from here on
    write_dataset_json(out, read_samples(out).values())
    return out


def pose_table(records: Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Arrays for pose plots from manifest lines: ``theta``, ``phi`` (radians), ``replicas`` (1 when absent)."""
    rows = list(records)
    return {
        "theta": np.array([r["theta"] for r in rows], dtype=np.float64),
        "phi": np.array([r["phi"] for r in rows], dtype=np.float64),
        "replicas": np.array([int(r.get("replicas", 1)) for r in rows], dtype=np.int64),
    }

