"""3DFaceNet CoarseData and FineData → the toolkit's dataset folder, in EG3D's frame and units (train-depth reads it).

Each sample becomes an EG3D-like view of the posed face model (:func:`training_view`):

- *World*: the model's micrometres scaled to EG3D world units (:data:`MM_PER_UNIT`, the scale of the toolkit's
  landmark template, which sits where EG3D's FFHQ crop puts a face) and shifted so that the model's 68 landmarks
  (or, without them, its mean shape) are centred where the template's are (:data:`LANDMARK_CENTROID`). x right, y up,
  the face looking towards +z, as EG3D's world.
- *Camera*: EG3D's 25-vector of a camera :data:`~helpers.base.cameras.RADIUS` (2.7) in front of EG3D's pivot along
  the data's viewing direction, looking at the pivot, EG3D's focal (4.2647) and principal point 0.5: the head's pose
  is the camera's. The image is a square crop of the photo centred on the pivot's projection, of the side at which
  that camera has the photo's magnification at the pivot's depth. The data is weak-perspective (orthographic): the
  camera draws a point of z-depth ``z`` at ``2.7 / z`` times its distance from the image centre in the data (exact
  at the pivot's depth, within a few % over a face; tested).
- *Depth*: 16-bit camera z-depth in world units (:data:`DEPTH_RANGE`), the model rendered orthographically into the
  crop (CoarseData) or FineData's map placed on it (:func:`convert_fine`); mask = the face's pixels.

Design notes: docs/design/datasets.md (facenet3d_convert): files written, the placement, FineData's assumptions.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers import __version__
from helpers.base import cameras
from helpers.base.atomic import write_npy_atomic, write_png_atomic
from helpers.base.depth_png import write_depth_png
from helpers.dataset_folder.layout import FOLDERS, FORMAT_NAME, FORMAT_VERSION, MANIFEST, DatasetFolderError
from helpers.dataset_folder.manifest import ManifestWriter, read_samples, write_dataset_json
from helpers.dataset_folder.meta import prepare_folder, read_meta
from helpers.datasets.facenet3d.face_model import FaceModel, FaceModelOptions
from helpers.datasets.facenet3d.facenet3d_data import (
    CoarseOptions,
    CoarseParams,
    coarse_sample_id,
    column_rotation,
    find_coarse_samples,
    project,
    read_coarse_params,
    read_fine_depth,
    to_image_frame,
)
from helpers.mesh import Mesh, save_mesh
from helpers.mesh.from_depth import depth_to_mesh
from helpers.mesh.rasterize import rasterize_depth

__all__ = ["DEPTH_RANGE", "LANDMARK_CENTROID", "MM_PER_UNIT", "FineOptions", "Placement", "TrainingView",
           "convert_coarse", "convert_fine", "find_fine_samples", "training_view"]

#: Millimetres per EG3D world unit: the scale of the toolkit's landmark template
#: (``helpers.invert.landmark_template.template_info().mm_per_unit``; a test keeps the two equal).
MM_PER_UNIT = 395.1256
#: World position of the template's 68-landmark centroid (``landmark_template().mean(0)``; kept equal by a test).
LANDMARK_CENTROID = (0.0, -0.023761, 0.253212)
#: (near, far) of the depth PNGs, world units: the face 2.7 in front of the camera, ± any head rotation.
DEPTH_RANGE = (2.0, 3.4)
#: Side of the written images and depth maps, pixels.
DEFAULT_SIZE = 256
#: Where a FineData depth map is looked for, next to its image ``<stem>.<ext>``: these names, in this order.
FINE_DEPTH_NAMES = ("{stem}_depth.npy", "{stem}_depth.png", "{stem}_depth.tif", "{stem}_depth.tiff",
                    "{stem}_depth.bin", "{stem}.npy", "{stem}.tif", "{stem}.tiff", "{stem}.bin", "{stem}.dat",
                    "{stem}.raw", "{stem}.png")

GENERATORS = {"coarse": "3dfacenet-coarse", "fine": "3dfacenet-fine"}


@dataclass(frozen=True)
class Placement:
    """Model micrometres → EG3D world units: ``world = scale·X + offset`` (see the module doc)."""

    scale: float
    offset: np.ndarray

    @classmethod
    def for_model(cls, model: FaceModel) -> Placement:
        scale = 1.0 / (MM_PER_UNIT * 1000.0)
        reference = model.mean[model.landmarks] if model.landmarks is not None else model.mean
        return cls(scale, np.asarray(LANDMARK_CENTROID) - scale * reference.astype(np.float64).mean(0))

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) * self.scale + self.offset

    def to_model(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.offset) / self.scale


@dataclass(frozen=True)
class TrainingView:
    """One sample's EG3D view (:func:`training_view`).

    Attributes:
        crop: (u0, v0, side): the crop's square in the photo's image frame (continuous pixels, v down).
        size: side of the written crop in pixels.
        camera: (25,) float32 EG3D camera (world units).
        depth_offset, depth_per_pixel: camera z-depth (world units) = ``depth_offset + depth_per_pixel · d`` for an
            image-frame depth ``d`` (pixels, forward) of :func:`~helpers.datasets.facenet3d.facenet3d_data.posed_mesh`.
    """

    crop: tuple[float, float, float]
    size: int
    camera: np.ndarray
    depth_offset: float
    depth_per_pixel: float

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """(N, 2+) image-frame points → crop pixels (continuous; further columns kept)."""
        out = np.array(points, dtype=np.float64, copy=True)
        u0, v0, side = self.crop
        out[:, 0] = (out[:, 0] - u0) * self.size / side
        out[:, 1] = (out[:, 1] - v0) * self.size / side
        return out


def training_view(params: CoarseParams, placement: Placement, height: int, size: int = DEFAULT_SIZE,
                  options: CoarseOptions = CoarseOptions()) -> TrainingView:
    """The EG3D camera and crop of a sample whose photo is ``height`` pixels tall (module doc)."""
    if not options.pose.y_up:
        raise ValueError("the EG3D view needs the y-up dataset frame (PoseConvention.y_up=True)")
    rot = column_rotation(params.angles, options.pose)
    pivot = placement.to_model(np.asarray(cameras.PIVOT))
    distance = cameras.RADIUS / placement.scale  # micrometres
    center = rot @ pivot + np.array([0.0, 0.0, distance])  # camera centre in the posed frame (µm, y up, z to viewer)
    cam2world = np.eye(4)
    cam2world[:3, :3] = rot.T @ np.diag([1.0, -1.0, -1.0])  # OpenCV axes: x right, y down, looking along −z
    cam2world[:3, 3] = placement.to_world(rot.T @ center)
    intrinsics = np.array([[cameras.FOCAL, 0.0, 0.5], [0.0, cameras.FOCAL, 0.5], [0.0, 0.0, 1.0]])
    side = params.scale * distance / cameras.FOCAL
    u, v, _ = to_image_frame(project(pivot[None], params, options.pose), height, options.pose)[0]
    return TrainingView(crop=(float(u - side / 2), float(v - side / 2), float(side)), size=int(size),
                        camera=cameras.pack(cam2world, intrinsics).astype(np.float32),
                        depth_offset=float(placement.scale * center[2]),
                        depth_per_pixel=float(placement.scale / params.scale))


def _crop_image(image: np.ndarray, view: TrainingView) -> tuple[np.ndarray, np.ndarray]:
    """The crop of an (H, W, 3) photo (black outside it, Lanczos) and the (size, size) mask of pixels inside it."""
    from PIL import Image

    u0, v0, side = view.crop
    height, width = image.shape[:2]
    pads = [max(0, int(np.ceil(-u0))), max(0, int(np.ceil(-v0))),
            max(0, int(np.ceil(u0 + side - width))), max(0, int(np.ceil(v0 + side - height)))]
    padded = np.pad(image, ((pads[1], pads[3]), (pads[0], pads[2]), (0, 0)))
    box = (u0 + pads[0], v0 + pads[1], u0 + pads[0] + side, v0 + pads[1] + side)
    crop = np.asarray(Image.fromarray(padded).resize((view.size, view.size), Image.Resampling.LANCZOS, box=box))
    centres = (np.arange(view.size) + 0.5) * side / view.size
    inside_u, inside_v = (u0 + centres >= 0) & (u0 + centres < width), (v0 + centres >= 0) & (v0 + centres < height)
    return crop, inside_v[:, None] & inside_u[None, :]


def _fine_in_crop(heights: np.ndarray, view: TrainingView) -> np.ndarray:
    """FineData's (H, W) map sampled at the crop's pixel centres (nearest), NaN outside the photo."""
    u0, v0, side = view.crop
    centres = (np.arange(view.size) + 0.5) * side / view.size
    cols, rows = np.floor(u0 + centres).astype(int), np.floor(v0 + centres).astype(int)
    height, width = heights.shape
    out = np.full((view.size, view.size), np.nan, dtype=np.float64)
    ok_r, ok_c = (rows >= 0) & (rows < height), (cols >= 0) & (cols < width)
    out[np.ix_(ok_r, ok_c)] = heights[np.ix_(rows[ok_r], cols[ok_c])]
    return out


@dataclass(frozen=True)
class FineOptions:
    """How FineData's depth maps are read (their encoding is not published; docs/design/datasets.md).

    Attributes:
        towards_viewer: the values are heights towards the viewer (larger = nearer, as the surfaces of the authors'
            FineNet results); False: depths away from the viewer.
        background: values equal to this (or not finite) have no surface.
        units_per_pixel: stored units per image pixel (1: pixels, as those results).
    """

    towards_viewer: bool = True
    background: float = 0.0
    units_per_pixel: float = 1.0


def find_fine_samples(src: str | os.PathLike[str]) -> list[tuple[Path, Path, Path]]:
    """(image, parameter file, depth map) triples under ``src``: every CoarseData-style pair with a depth file named by
    :data:`FINE_DEPTH_NAMES` next to it (the image itself excluded), sorted by path."""
    triples = []
    for image, params in find_coarse_samples(src):
        for pattern in FINE_DEPTH_NAMES:
            depth = image.with_name(pattern.format(stem=image.stem))
            if depth != image and depth.is_file():
                triples.append((image, params, depth))
                break
    return triples


def _sample(kind: str, image_path: Path, params_path: Path, depth_path: Path | None, model: FaceModel,
            placement: Placement, size: int, options: CoarseOptions, fine: FineOptions) -> dict[str, Any]:
    """Everything written for one sample (arrays, mesh, manifest values)."""
    from PIL import Image

    params = read_coarse_params(params_path)
    with Image.open(image_path) as im:
        photo = np.asarray(im.convert("RGB"))
    height, width = photo.shape[:2]
    view = training_view(params, placement, height, size, options)
    shape = model.shape(params.identity, params.expression)
    posed = to_image_frame(project(shape, params, options.pose), height, options.pose)  # u, v, depth px
    crop, inside = _crop_image(photo, view)
    pixel_depth, covered, _ = rasterize_depth(view.to_crop(posed), model.triangles, size, size, options.raster)
    mask = covered & inside
    out: dict[str, Any] = {"image": crop, "view": view, "params": params, "width": width, "height": height}
    if depth_path is not None:  # FineData: its map, placed on the model's depth by the median offset
        stored = read_fine_depth(depth_path, shape=(height, width)).astype(np.float64)
        valid = np.isfinite(stored) & (stored != fine.background)
        signed = np.where(valid, stored * fine.units_per_pixel * (-1.0 if fine.towards_viewer else 1.0), np.nan)
        sampled = _fine_in_crop(signed, view)
        both = mask & np.isfinite(sampled)
        if not both.any():
            raise DatasetFolderError(f"{depth_path}: its depth map and the face model of {params_path.name} share no "
                                     "pixel — check FineOptions (sign, background) and the parameter file")
        offset = float(np.median(pixel_depth[both] - sampled[both]))
        pixel_depth, mask = sampled + offset, np.isfinite(sampled) & inside
        out["fine_offset_px"] = offset
    depth = np.where(mask, view.depth_offset + view.depth_per_pixel * pixel_depth, 0.0)
    cam2world, intrinsics = cameras.unpack(view.camera.astype(np.float64))
    if depth_path is None:
        mesh = Mesh(placement.to_world(shape).astype(np.float32), model.triangles, model.vertex_colors)
    else:
        mesh = depth_to_mesh(depth, intrinsics, cam2world, mask=mask, colors=crop)
    out.update(depth=depth, mask=mask, mesh=mesh)
    if model.landmarks is not None:
        out["landmarks"] = placement.to_world(shape[model.landmarks]).astype(np.float32)
        out["landmarks2d"] = (view.to_crop(posed[model.landmarks])[:, :2] - 0.5).astype(np.float32)
    return out


def _convert(kind: str, pairs: list[tuple[Path, Path, Path | None]], src: Path, out: Path,
             bfm_dir: str | os.PathLike[str], *, size: int, limit: int | None, progress: bool,
             options: CoarseOptions, model_options: FaceModelOptions | None, fine: FineOptions) -> Path:
    from tqdm.auto import tqdm

    if limit is not None:
        pairs = pairs[: max(int(limit), 0)]
    model_options = model_options or FaceModelOptions()
    model = FaceModel.from_files(bfm_dir, model_options)  # every missing file named before anything is written
    placement = Placement.for_model(model)
    existing = read_meta(out) if out.is_dir() else None
    if existing is not None and existing.get("format") != FORMAT_NAME:
        raise DatasetFolderError(f"{out} holds a {existing.get('format')!r} folder (an older 3DFaceNet conversion?) — "
                                 "convert into a new --out folder")
    settings: dict[str, Any] = {"size": size, "pose": asdict(options.pose), "model": asdict(model_options),
                                "depth_range": list(DEPTH_RANGE)}
    if kind == "fine":
        settings["fine"] = asdict(fine)
    meta = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "generator": {"name": GENERATORS[kind], "model_files": {r: Path(p).name for r, p in model.sources.items()},
                      "mm_per_unit": MM_PER_UNIT, "landmark_centroid": list(LANDMARK_CENTROID)},
        "settings": settings, "source": str(src.resolve()),
        "depth_png": {"near": DEPTH_RANGE[0], "far": DEPTH_RANGE[1],
                      "encoding": "16-bit camera z-depth, 0 = no surface, 1..65535 linear in [near, far]"},
        "contents": "3DFaceNet images cropped to EG3D's framing, the face model's depth (FineData: the published "
                    "map on it), mask, mesh, camera, 68 landmarks (world and crop pixels); no latent codes",
        "license": "3DFaceNet: research only, no commercial use; the Basel Face Model: its own licence",
        "camera_convention": "EG3D 25-vector: OpenCV cam2world (4x4 row-major) + normalised intrinsics (3x3)",
        "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    done = prepare_folder(out, meta)
    todo = [(image, prm, depth) for image, prm, depth in pairs if coarse_sample_id(image, src) not in done]
    with ManifestWriter(out / MANIFEST) as writer, tqdm(total=len(todo), unit="sample", desc=GENERATORS[kind],
                                                         disable=not progress) as bar:
        for image_path, params_path, depth_path in todo:
            sid = coarse_sample_id(image_path, src)
            sample = _sample(kind, image_path, params_path, depth_path, model, placement, size, options, fine)
            files = {"image": f"{FOLDERS['image']}/{sid}.png", "depth": f"{FOLDERS['depth']}/{sid}.png",
                     "mask": f"{FOLDERS['mask']}/{sid}.png", "camera": f"{FOLDERS['camera']}/{sid}.npy",
                     "mesh": f"{FOLDERS['mesh']}/{sid}.ply"}
            if "landmarks" in sample:
                files.update(landmarks=f"{FOLDERS['landmarks']}/{sid}.npy",
                             landmarks2d=f"{FOLDERS['landmarks2d']}/{sid}.npy")
                write_npy_atomic(out / files["landmarks"], sample["landmarks"])
                write_npy_atomic(out / files["landmarks2d"], sample["landmarks2d"])
            view, params, mask, depth = sample["view"], sample["params"], sample["mask"], sample["depth"]
            write_png_atomic(out / files["image"], sample["image"])
            write_depth_png(out / files["depth"], depth, *DEPTH_RANGE, mask=mask)
            write_png_atomic(out / files["mask"], (mask * 255).astype(np.uint8))
            write_npy_atomic(out / files["camera"], view.camera)
            save_mesh(sample["mesh"], out / files["mesh"])
            yaw, pitch, _ = cameras.orbit_angles(cameras.unpack(view.camera.astype(np.float64))[0])
            record = {
                "id": sid, "source": GENERATORS[kind], "source_image": image_path.relative_to(src).as_posix(),
                "source_params": params_path.relative_to(src).as_posix(),
                "head_pose_deg": dict(zip(("pitch", "yaw", "roll"),
                                          (round(float(a), 4) for a in np.degrees(params.angles)), strict=True)),
                "yaw": float(yaw), "pitch": float(pitch), "camera": [float(v) for v in view.camera],
                "crop": [round(v, 3) for v in view.crop], "source_size": [sample["width"], sample["height"]],
                "surface_fraction": round(float(mask.mean()), 6),
                "depth_clipped": int(np.count_nonzero(mask & ((depth < DEPTH_RANGE[0]) | (depth > DEPTH_RANGE[1])))),
                "files": files,
            }
            if depth_path is not None:
                record["source_depth"] = depth_path.relative_to(src).as_posix()
                record["fine_offset_px"] = round(sample["fine_offset_px"], 4)
            writer.append(record)  # last: the sample exists from here on
            bar.update(1)
    write_dataset_json(out, read_samples(out).values())
    return out


def _run(kind: str, finder: Callable[[Path], list[Any]], src: str | os.PathLike[str], out: str | os.PathLike[str],
         bfm_dir: str | os.PathLike[str] | None, what: str, **kwargs: Any) -> Path:
    if bfm_dir is None:
        raise DatasetFolderError(f"{GENERATORS[kind]} needs the Basel Face Model files — pass --bfm DIR "
                                 "(`python -m helpers datasets info 3dfacenet-coarse` says which files and where)")
    src, out = Path(src), Path(out)
    found = finder(src)
    if not found:
        raise DatasetFolderError(f"{src}: no {GENERATORS[kind]} samples ({what}) — check the folder")
    return _convert(kind, found, src, out, bfm_dir, **kwargs)


def convert_coarse(src: str | os.PathLike[str], out: str | os.PathLike[str],
                   bfm_dir: str | os.PathLike[str] | None = None, *, size: int = DEFAULT_SIZE, limit: int | None = None, progress: bool = True,
                   options: CoarseOptions = CoarseOptions(), model_options: FaceModelOptions | None = None) -> Path:
    """Convert CoarseData under ``src`` into the dataset folder ``out`` (module doc); returns ``out``.

    Resumable (samples already in ``out`` are skipped; other settings are refused). ``limit``: the first samples
    by path. ``model_options``: default :class:`~helpers.datasets.facenet3d.face_model.FaceModelOptions`.
    Each manifest line: ``id`` (path under ``src``, ``__`` for folders), ``source_image``, ``source_params``,
    ``head_pose_deg`` (the file's pitch, yaw, roll), ``yaw``/``pitch`` (the camera's EG3D orbit angles), ``camera``,
    ``crop``, ``files`` (image, depth, mask, camera, mesh; landmarks (68, 3) world and landmarks2d (68, 2) crop
    pixels when the model has landmarks).
    """
    return _run("coarse", lambda s: [(i, p, None) for i, p in find_coarse_samples(s)], src, out, bfm_dir,
                "an image with a parameter .txt of the same name", size=size, limit=limit, progress=progress,
                options=options, model_options=model_options, fine=FineOptions())


def convert_fine(src: str | os.PathLike[str], out: str | os.PathLike[str],
                 bfm_dir: str | os.PathLike[str] | None = None, *, size: int = DEFAULT_SIZE, limit: int | None = None, progress: bool = True,
                 options: CoarseOptions = CoarseOptions(), model_options: FaceModelOptions | None = None,
                 fine: FineOptions = FineOptions()) -> Path:
    """Convert FineData under ``src`` (:func:`find_fine_samples`: image, parameter file, depth map) into ``out``.

    As :func:`convert_coarse`, but the depth is FineData's map read by ``fine`` and placed on the model's depth (the
    median difference over their shared pixels, recorded as ``fine_offset_px``), and the mesh is built from it.
    """
    return _run("fine", find_fine_samples, src, out, bfm_dir,
                "an image with a parameter .txt and a depth map of the same name", size=size, limit=limit,
                progress=progress, options=options, model_options=model_options, fine=fine)
