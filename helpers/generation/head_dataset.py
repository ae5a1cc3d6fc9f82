"""A small dataset of randomised analytic heads with exact depth: no EG3D, CPU only, offline, seconds.

Each sample is one :class:`helpers.generation.analytic_head.AnalyticHead` (radii and offsets ±15–25 % around the
default head, random skin colour and key light) seen from a random yaw/pitch on EG3D's camera orbit, ray-marched at
``image_size`` (image) and ``depth_size`` (depth and mask). It serves learning tests, smoke-mode notebooks and
benchmarks that need ground-truth depth without a generator. :func:`write_head_dataset` writes one of four layouts:
``"folder"`` (this toolkit's dataset folder, docs/data-formats.md: 16-bit camera z-depth in world units, linear in
:data:`DEPTH_RANGE`, binary 8-bit masks, cameras with focal :data:`helpers.base.cameras.FOCAL`), ``"synthetic"``
(the published synthetic set's layout, focal :data:`helpers.base.cameras.SEED_FOCAL`), ``"prosopo"`` (no cameras)
and ``"lpff"`` (LPFF's published layout, images only, names from :func:`lpff_name`). The original layouts store the
8-bit depth along the ray, min–max normalised per image, bright = near.

``latents/<id>.npy`` hold the head's 36 parameters (:func:`helpers.generation.analytic_head.head_parameters`)
zero-padded to (512,) float32: a regression target for learning tests, not an EG3D w. Everything derives from
``config.seed`` (sample ``i`` from ``numpy.random.default_rng((seed, i))``, :func:`head_sample`): the same config
writes byte-identical files whatever the number of worker threads; an interrupted run resumes.

Design notes: docs/design/generation.md (head_dataset): each layout's files, the depth encodings, determinism.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from helpers import __version__
from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic, write_png_atomic, write_text_atomic
from helpers.base.depth_png import write_depth_png, write_legacy_depth_png
from helpers.dataset_folder.layout import (
    DATASET_JSON,
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    META,
    DatasetFolderError,
    remove_temporaries,
    sample_id,
)
from helpers.dataset_folder.manifest import ManifestWriter, read_samples, write_dataset_json
from helpers.dataset_folder.meta import settings_differences, write_meta
from helpers.datasets.lpff.lpff_folder import CAMERA_PARAMETERS, INFO
from helpers.datasets.original_layouts import LAYOUTS
from helpers.generation.analytic_head import (
    LATENT_DIM,
    PARAMETERS,
    AnalyticHead,
    SyntheticView,
    head_parameters,
    random_head,
)
from helpers.generation.sample_settings import SampleSettings
from helpers.generation.sample_writer import sample_files

__all__ = [
    "DEPTH_RANGE", "GENERATOR", "HEADS_JSON", "LPFF_CROPS", "HeadDatasetConfig", "HeadDatasetError", "HeadSample",
    "head_sample", "lpff_name", "write_head_dataset",
]

Layout = Literal["folder", "synthetic", "prosopo", "lpff"]
_LAYOUTS = ("folder", "synthetic", "prosopo", "lpff")

#: z range (world units) of the ray march and of the 16-bit depth PNGs: ``AnalyticHead.render``'s near/far.
DEPTH_RANGE = (2.0, 3.4)
#: Shape of the original layouts' latent files (EG3D FFHQ 512: 14 ws).
ORIGINAL_LATENT_SHAPE = (1, 14, LATENT_DIM)
#: Marker of the original and LPFF layouts (they cannot hold a ``meta.json``).
HEADS_JSON = "heads.json"
#: Folder of the crops in the ``"lpff"`` layout (LPFF's unzipped ``crop/eg3d.zip``; the first place
#: :class:`helpers.datasets.lpff.lpff_folder.LpffFolder` looks).
LPFF_CROPS = "crop/eg3d"
#: ``meta.json``'s ``generator`` entry (compared, with the settings, on a rewrite).
GENERATOR = {
    "name": "analytic heads",
    "module": "helpers.generation.head_dataset",
    "description": "union of 5 ellipsoids (skull, nose, ears, neck) with randomised radii, offsets, skin colour "
                   "and light; ray-marched density field with exact z-depth (helpers.generation.analytic_head.AnalyticHead)",
}


class HeadDatasetError(DatasetFolderError):
    """The output folder holds something else than a head dataset of the same config."""


@dataclass(frozen=True)
class HeadDatasetConfig:
    """What :func:`write_head_dataset` writes (recorded in ``meta.json`` / ``heads.json``).

    Attributes:
        count: number of samples (ids ``seed00000000`` … by index).
        image_size: side of the stored RGB images in pixels.
        depth_size: side of the stored depth and mask maps in pixels, rendered separately when it differs from
            ``image_size`` (any value >= 8; one render serves both when equal).
        seed: everything (shapes, colours, poses) derives from it; sample ``i`` uses
            ``numpy.random.default_rng((seed, i))``.
        max_yaw: yaw is uniform in [-max_yaw, max_yaw] radians (positive: camera towards world +x).
        max_pitch: pitch is uniform in [-max_pitch, max_pitch] (EG3D's pitch offset, radians; see
            :mod:`helpers.base.cameras`).
        layout: ``"folder"`` (ours), ``"synthetic"`` or ``"prosopo"`` (the original project's layouts) or
            ``"lpff"`` (LPFF's published layout: images and cameras only).
        steps: ray-march samples per ray in :data:`DEPTH_RANGE` before the bisection refine (speed vs the
            thinnest part found: about 0.015 world units apart at 96).
    """

    count: int = 32
    image_size: int = 128
    depth_size: int = 128
    seed: int = 0
    max_yaw: float = 0.6
    max_pitch: float = 0.25
    layout: Layout = "folder"
    steps: int = 96

    def __post_init__(self) -> None:
        for name, low in (("count", 1), ("image_size", 8), ("depth_size", 8), ("seed", 0), ("steps", 8)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"HeadDatasetConfig.{name} must be an integer >= {low}, got {value!r}")
        for name in ("max_yaw", "max_pitch"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= math.pi / 2):
                raise ValueError(f"HeadDatasetConfig.{name} must be in [0, π/2] radians, got {value!r}")
        if self.layout not in _LAYOUTS:
            raise ValueError(f"HeadDatasetConfig.layout must be one of {_LAYOUTS}, got {self.layout!r}")

    @property
    def focal(self) -> float:
        """Normalised focal the samples are rendered with: SEED_FOCAL for ``"synthetic"``, else FOCAL."""
        return cameras.SEED_FOCAL if self.layout == "synthetic" else cameras.FOCAL


# --------------------------------------------------------------------------------------------
# Heads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeadSample:
    """Sample ``index`` of a config: its head, yaw and pitch (radians) and EG3D camera (25,) float32."""

    index: int
    head: AnalyticHead
    yaw: float
    pitch: float
    camera: np.ndarray

    @property
    def id(self) -> str:
        return sample_id(self.index)


def lpff_name(sample_id: str) -> str:
    """The ``"lpff"`` layout's image name of a sample: ``heads@N00_<id>_00``, in LPFF's ``<Flickr user>_<photo>_
    <face>`` form (e.g. ``100004356@N06_21795165006_01``)."""
    return f"heads@N00_{sample_id}_00"


def head_sample(config: HeadDatasetConfig, index: int) -> HeadSample:
    """The head and camera of sample ``index``: :func:`random_head`, then yaw, then pitch, all drawn from
    ``numpy.random.default_rng((config.seed, index))``; the camera orbits at :data:`helpers.base.cameras.RADIUS`
    with ``config.focal``."""
    rng = np.random.default_rng((config.seed, index))
    head = random_head(rng)
    yaw = float(rng.uniform(-config.max_yaw, config.max_yaw))
    pitch = float(rng.uniform(-config.max_pitch, config.max_pitch))
    camera = cameras.camera_vector(yaw, pitch, focal=config.focal)[0].numpy()
    return HeadSample(index=index, head=head, yaw=yaw, pitch=pitch, camera=camera)


def _render(sample: HeadSample, config: HeadDatasetConfig) -> tuple[SyntheticView, SyntheticView]:
    """(view at image_size, view at depth_size): one render when the sizes are equal or the layout stores no
    depth (``"lpff"``)."""
    near, far = DEPTH_RANGE

    def render(size: int) -> SyntheticView:
        return sample.head.render(sample.camera, size, near=near, far=far, steps=config.steps)

    image = render(config.image_size)
    if config.depth_size == config.image_size or config.layout == "lpff":
        return image, image
    return image, render(config.depth_size)


def _ray_depth(view: SyntheticView) -> np.ndarray:
    """Distance along each pixel's ray from the z-depth (rays through the pixel centres, as the render)."""
    _, k = cameras.unpack(view.camera.astype(np.float64))
    size = view.depth.shape[0]
    stretch = np.linalg.norm(cameras.pixel_directions(k, size, size), axis=-1)  # directions have camera z = 1
    return view.depth * stretch


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _original_files(sample_id: str, layout: str) -> dict[str, str]:
    if layout == "lpff":
        return {"image": f"{LPFF_CROPS}/{lpff_name(sample_id)}.png"}
    spec = LAYOUTS[layout]
    files = {"image": f"{spec.images}/{sample_id}.png", "depth": f"{spec.depth}/{sample_id}.png"}
    if spec.cameras:
        files["camera"] = f"{spec.cameras}/{sample_id}.npy"
    if spec.latents:
        files["latent"] = f"{spec.latents}/{sample_id}.npy"
    return files


def _write_sample(root: Path, config: HeadDatasetConfig, index: int) -> dict[str, Any]:
    """Render and write one sample's files (each atomically); returns its manifest record."""
    sample = head_sample(config, index)
    image, view = _render(sample, config)
    latent = head_parameters(sample.head)
    if config.layout == "folder":
        files = sample_files(sample.id, SampleSettings())
        write_png_atomic(root / files["image"], image.image)
        write_depth_png(root / files["depth"], view.depth, *DEPTH_RANGE, mask=view.mask)
        write_png_atomic(root / files["mask"], np.where(view.mask, 255, 0).astype(np.uint8))
        write_npy_atomic(root / files["latent"], latent)
        write_npy_atomic(root / files["camera"], sample.camera)
    elif config.layout == "lpff":
        files = _original_files(sample.id, config.layout)
        write_png_atomic(root / files["image"], image.image)
    else:
        files = _original_files(sample.id, config.layout)
        write_legacy_depth_png(root / files["depth"], _ray_depth(view), mask=view.mask)
        if "camera" in files:
            write_npy_atomic(root / files["camera"], cameras.to_seed_camera(sample.camera))
        write_npy_atomic(root / files["latent"], np.broadcast_to(latent, ORIGINAL_LATENT_SHAPE).copy())
        write_png_atomic(root / files["image"], image.image)  # last: the readers find samples by image
    return {
        "id": sample.id, "seed": index, "rng": [config.seed, index], "yaw": sample.yaw, "pitch": sample.pitch,
        "camera": [float(v) for v in sample.camera], "surface_fraction": round(float(view.mask.mean()), 6),
        "files": files,
    }


def _description(config: HeadDatasetConfig) -> dict[str, Any]:
    """What the marker file records: ``generator`` and ``settings`` (compared on a rewrite) and notes."""
    settings = {**dataclasses.asdict(config), "focal": config.focal, "depth_range": list(DEPTH_RANGE)}
    return {
        "generator": GENERATOR,
        "settings": json.loads(json.dumps(settings)),
        "latents": "none (LPFF's layout has images and cameras only)" if config.layout == "lpff" else
                   f"head parameters ({len(PARAMETERS)} values: {', '.join(PARAMETERS[:3])}, …; "
                   "helpers.generation.analytic_head.PARAMETERS), zero-padded to (512,) float32"
                   + ("" if config.layout == "folder" else ", tiled to (1, 14, 512)"),
        "camera_convention": "EG3D 25-vector: OpenCV cam2world (4x4 row-major) + normalised intrinsics (3x3)",
        "package_version": __version__,
    }


def _meta(config: HeadDatasetConfig) -> dict[str, Any]:
    near, far = DEPTH_RANGE
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        **_description(config),
        "depth_png": {"near": near, "far": far,
                      "encoding": "16-bit camera z-depth, 0 = no surface, 1..65535 linear in [near, far]"},
        "masks": "8-bit: 255 where the ray hits the head, 0 elsewhere",
    }


def _read_marker(root: Path) -> dict[str, Any] | None:
    """The ``generator`` / ``settings`` record of a head dataset in ``root`` (either marker), or None."""
    for name in (META, HEADS_JSON):
        path = root / name
        if path.is_file():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return None
            if isinstance(record, dict) and isinstance(record.get("generator"), dict) \
                    and record["generator"].get("name") == GENERATOR["name"]:
                return record
            return None
    return None


def _check_folder(root: Path, description: dict[str, Any]) -> None:
    """Refuse a non-empty folder that is not a head dataset of the same config."""
    if root.exists() and not root.is_dir():
        raise HeadDatasetError(f"{root} exists and is not a folder")
    if not root.is_dir() or not any(root.iterdir()):
        return
    existing = _read_marker(root)
    if existing is None:
        raise HeadDatasetError(
            f"{root} is not empty and is not a head dataset (no {META} or {HEADS_JSON} written by "
            "helpers.generation.head_dataset): refusing to write into it; choose an empty or new folder"
        )
    # The generator's name and the settings decide the samples; its description names code, which may move.
    diffs = settings_differences(
        {"generator": existing.get("generator", {}).get("name"), "settings": existing.get("settings", {})},
        {"generator": description["generator"]["name"], "settings": description["settings"]},
    )
    if diffs:
        raise HeadDatasetError(
            f"{root} holds a head dataset made with another config ({'; '.join(diffs[:6])}): refusing to "
            "overwrite it; use the same config, another folder, or delete it first"
        )


def _write_lpff_json(root: Path, records: list[dict[str, Any]]) -> None:
    """LPFF's ``camera_parameters.json`` and ``info.json`` of every sample (written after the crops)."""
    names = [Path(r["files"]["image"]).stem for r in records]
    cams = {name: r["camera"] for name, r in zip(names, records)}
    info = {name: {"raw_image_name": name[:-3],
                   "image_info": {"photo_url": None, "license": {"name": "generated: no licence needed"}},
                   "generator": GENERATOR["module"], "sample": r["id"], "yaw": r["yaw"], "pitch": r["pitch"]}
            for name, r in zip(names, records)}
    write_text_atomic(root / INFO, json.dumps(info, indent=4) + "\n")
    write_text_atomic(root / CAMERA_PARAMETERS, json.dumps(cams, indent=4) + "\n")  # last: the folder is complete


def _lpff_record(config: HeadDatasetConfig, index: int) -> dict[str, Any]:
    """What :func:`_write_lpff_json` needs of a sample whose crop is already written (no render)."""
    sample = head_sample(config, index)
    return {"id": sample.id, "yaw": sample.yaw, "pitch": sample.pitch, "camera": [float(v) for v in sample.camera],
            "files": _original_files(sample.id, "lpff")}


def _done(root: Path, config: HeadDatasetConfig, ids: list[str]) -> set[str]:
    """Ids whose sample is complete: in the manifest (our folder), all files present (original and LPFF layouts)."""
    if config.layout == "folder":
        return set(read_samples(root)) & set(ids)
    return {i for i in ids if all((root / rel).is_file() for rel in _original_files(i, config.layout).values())}


def write_head_dataset(
    root: str | os.PathLike[str],
    config: HeadDatasetConfig | None = None,
    *,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Write ``config.count`` random analytic heads into ``root`` in ``config.layout``; returns ``root``.

    ``root`` must be missing, empty, or a head dataset written with the same config: then only its missing samples
    are written (an interrupted run resumes; a complete one is returned untouched, without rewriting a file).
    Anything else raises :class:`HeadDatasetError`. ``workers`` threads render samples in parallel (default: up
    to 4, one per CPU core this process may use); the files do not depend on it. ``progress`` shows a tqdm bar.
    """
    from tqdm.auto import tqdm

    config = config or HeadDatasetConfig()
    root = Path(root)
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = max(1, min(4, cores))
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    description = _description(config)
    _check_folder(root, description)

    ids = [sample_id(i) for i in range(config.count)]
    done = _done(root, config, ids) if root.is_dir() else set()
    todo = [i for i, sample_id in enumerate(ids) if sample_id not in done]
    labels_file = {"folder": DATASET_JSON, "lpff": CAMERA_PARAMETERS}.get(config.layout)
    labels_missing = labels_file is not None and not (root / labels_file).is_file()
    if config.layout == "lpff":
        labels_missing = labels_missing or not (root / INFO).is_file()
    if not todo and not labels_missing:
        return root

    root.mkdir(parents=True, exist_ok=True)
    if config.layout == "folder":
        if not (root / META).is_file():
            write_meta(root, _meta(config))
        remove_temporaries(root)  # leftovers of an interrupted run
    elif not (root / HEADS_JSON).is_file():
        write_text_atomic(root / HEADS_JSON, json.dumps(description, indent=2) + "\n")

    manifest = ManifestWriter(root / MANIFEST) if config.layout == "folder" else None
    records: dict[int, dict[str, Any]] = {}
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(todo), unit="sample", desc="heads",
                                                  disable=not progress) as bar:
        futures = [pool.submit(_write_sample, root, config, i) for i in todo]
        try:
            for index, future in zip(todo, futures):  # in index order: a manifest line commits its sample
                record = records[index] = future.result()
                if manifest is not None:
                    manifest.append(record)
                bar.update(1)
        except BaseException:  # an error or Ctrl-C: do not wait for the samples not started yet
            for future in futures:
                future.cancel()
            raise
        finally:
            if manifest is not None:
                manifest.close()
    if config.layout == "folder":
        write_dataset_json(root, read_samples(root).values())
    elif config.layout == "lpff":
        _write_lpff_json(root, [records[i] if i in records else _lpff_record(config, i) for i in range(config.count)])
    return root
