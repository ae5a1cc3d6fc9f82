"""Your own photos through LPFF's processing: ``python -m helpers process-lpff PHOTOS --out OUT``.

:func:`process_lpff` runs LPFF's steps (landmarks, low-resolution rule, camera, filter of poses common in FFHQ, a
debug image per face for review, EG3D and StyleGAN crops) with the alignment and landmark camera fit of ``invert``,
writes LPFF's **published layout** under ``OUT/lpff/`` (read by :class:`helpers.datasets.lpff.LpffFolder`), then a
dataset folder ``OUT/dataset/`` with mirrors, LPFF's rebalancing and ``dataset.json``
(:func:`helpers.datasets.lpff.convert_lpff`), and ``OUT/report.md``.

- Faces are named ``<photo id>_<NN>``, NN = 01, 02, … largest face first. Every face is rejected or accepted with
  its reason in ``OUT/lpff/faces.jsonl`` (one line per photo), ``info.json`` and the report.
- Review as in LPFF: delete ``OUT/lpff/debug/<name>.png`` of a bad face and run again; the dataset is rebuilt
  without it. A rerun resumes (finished photos are not redone); other settings are refused.
- Cameras are EG3D 25-vectors (radius 2.7, looking at the pivot); crops are 512² (EG3D) and 1024² (FFHQ).

Design notes: docs/design/photo3d.md (lpff_processing): the layout, each step beside LPFF's script, the thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.base.atomic import remove_temporary_files, write_png_atomic, write_text_atomic
from helpers.base.errors import UserError, is_disk_error
from helpers.base.folder_lock import folder_lock
from helpers.base.photo import load_rgb
from helpers.dataset_folder.manifest import ManifestWriter, read_manifest
from helpers.dataset_folder.meta import read_meta, settings_differences
from helpers.datasets.ffhq_labels import FfhqLabels
from helpers.datasets.lpff.lpff_convert import convert_lpff
from helpers.datasets.lpff.lpff_folder import CAMERA_PARAMETERS, INFO
from helpers.datasets.lpff.pose_rebalance import FFHQ_DENSITY_THRESHOLD, poses_of, reference_density, theta_phi
from helpers.download.http_download import sha256_file
from helpers.invert.align import AlignConfig, AlignmentError, align_face, select_face, warp_to_crop
from helpers.invert.camera_fit import CameraEstimate, CameraFitConfig, estimate_camera
from helpers.invert.crop_recipe import CropRecipe, crop_transform, eye_mouth_points
from helpers.invert.dlib_landmarks import detect_faces
from helpers.invert.folder_inversion import list_photos, photo_id
from helpers.invert.ibug68 import as_landmarks
from helpers.invert.quality import DEFAULT_MAX_FIT_PX

__all__ = ["REALIGN_RECIPE", "STYLEGAN_RECIPE", "ProcessConfig", "ProcessReport", "process_lpff"]

#: LPFF's StyleGAN crop: FFHQ's alignment, 1024² (``stylegan_image_align``: output 1024, quad of FFHQ).
STYLEGAN_RECIPE = CropRecipe(output_size=1024, transform_size=1024, crop_size=1024, quad_scale=1.0, center_shift=0.0)
#: LPFF's realigned image: FFHQ's quad enlarged 1.8×, 2400² (``my_realign.realign_process_image``: ``q_scale = 1.8``).
REALIGN_RECIPE = CropRecipe(output_size=2400, transform_size=2400, crop_size=2400, quad_scale=1.8, center_shift=0.0)
#: LPFF drops a face whose realign region (the quad's bounding box plus a border of 10% of its side, clipped to the
#: photo) is smaller than this on both sides ("low resolution image!").
LPFF_MIN_REGION_PX = 512

LPFF_DIR = "lpff"
DATASET_DIR = "dataset"
FACES = "faces.jsonl"
SETTINGS = "process.json"
REPORT = "report.md"
RAW_LANDMARKS = "raw_lm.json"
EG3D_CROPS = "crop/eg3d"
STYLEGAN_CROPS = "crop/stylegan"
REALIGNED = "realign2400"
DEBUG = "debug"
DEBUG_REJECTED = "debug/rejected"


@dataclass(frozen=True)
class ProcessConfig:
    """Settings of :func:`process_lpff`.

    Attributes:
        align: face detection and the EG3D crop (``face`` is ignored: every face of a photo is processed).
        camera: the landmark camera fit.
        max_fit_px: reject a face whose camera fit leaves a larger RMS landmark distance (pixels of the 512² crop).
            Measured with ``python benchmarks/lpff_fit_threshold.py``: template landmarks with 2–3 px noise fit to
            3–5 px, with the per-point shape noise that matches a real face (the astronaut: 12 px) to 12–14 px
            (99th percentile); noisy (15 px) or shuffled landmarks leave 25–113 px.
        ffhq_labels: EG3D's FFHQ ``dataset.json`` (``python -m helpers datasets download ffhq-eg3d-labels``): turns on
            LPFF's filter (FFHQ's pose KDE, 139,914 poses with mirrors, as LPFF's ``kde.pkl``) and joins FFHQ's poses
            to the rebalancing densities, as LPFF's published FFHQ+LPFF counts. None: neither.
        max_ffhq_density: LPFF's threshold: keep a face only when its pose density under FFHQ's KDE is below.
        min_region_px: LPFF's low-resolution rule (:data:`LPFF_MIN_REGION_PX`); 0 turns it off.
        stylegan_crop: also write the 1024² StyleGAN crop. realign: also write the 2400² realigned image.
        mirror: add each face's mirror to the dataset. rebalance: LPFF's copies per face in the dataset.
        landmarks: LPFF's ``raw_lm.json`` form (``{"<photo stem>_NN": [[x, y] × 68]}``, pixels of the photo), used
            instead of detection for the photos it lists.
        limit: process at most this many photos (sorted by name).
    """

    align: AlignConfig = field(default_factory=AlignConfig)
    camera: CameraFitConfig = field(default_factory=CameraFitConfig)
    max_fit_px: float = DEFAULT_MAX_FIT_PX
    ffhq_labels: str | None = None
    max_ffhq_density: float = FFHQ_DENSITY_THRESHOLD
    min_region_px: int = LPFF_MIN_REGION_PX
    stylegan_crop: bool = True
    realign: bool = False
    mirror: bool = True
    rebalance: bool = True
    landmarks: str | None = None
    limit: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.max_fit_px > 0 or not self.max_ffhq_density > 0 or self.min_region_px < 0:
            raise ValueError(f"max_fit_px and max_ffhq_density must be > 0 and min_region_px >= 0, got "
                             f"{self.max_fit_px}, {self.max_ffhq_density}, {self.min_region_px}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"limit must be >= 0, got {self.limit}")

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the first (recorded in ``OUT/lpff/process.json``)."""
        return json.loads(json.dumps({
            "align": asdict(self.align), "camera": asdict(self.camera), "max_fit_px": self.max_fit_px,
            "ffhq_labels_sha256": sha256_file(Path(self.ffhq_labels)) if self.ffhq_labels else None,
            "max_ffhq_density": self.max_ffhq_density, "min_region_px": self.min_region_px,
            "stylegan_crop": self.stylegan_crop, "realign": self.realign,
            "landmarks_sha256": sha256_file(Path(self.landmarks)) if self.landmarks else None,
        }))


@dataclass(frozen=True)
class ProcessReport:
    """Outcome of :func:`process_lpff`: the faces accepted (names), rejected (name → reason), dropped in review, the
    dataset folder (None when no face was accepted), and the seconds this run took."""

    out: Path
    accepted: tuple[str, ...]
    rejected: dict[str, str]
    reviewed_out: tuple[str, ...]
    dataset: Path | None
    seconds: float


# ----------------------------------------------------------------------------------------------- one face


@dataclass(frozen=True)
class _Face:
    name: str
    index: int
    landmarks: np.ndarray  # (68, 2) in the photo
    box: tuple[float, float, float, float]
    score: float


def _region_px(landmarks: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """Width and height of LPFF's realign region: the quad's bounding box plus a 10% border, clipped to the photo."""
    quad = REALIGN_RECIPE.quad(landmarks)
    corners = quad.corners
    border = max(int(np.rint(quad.side * 0.1)), 3)
    height, width = size
    x0, y0 = np.floor(corners.min(0)).astype(int) - border
    x1, y1 = np.ceil(corners.max(0)).astype(int) + border
    return int(min(x1, width) - max(x0, 0)), int(min(y1, height) - max(y0, 0))


def _crop(rgb: np.ndarray, landmarks: np.ndarray, recipe: CropRecipe, config: AlignConfig) -> np.ndarray:
    transform = crop_transform(recipe.quad(landmarks), recipe)
    return warp_to_crop(rgb, transform, recipe.output_size, padding=config.padding, quad_side_px=recipe.quad_side_px)


def _caption(image: np.ndarray, lines: Sequence[str], colour: tuple[int, int, int]) -> np.ndarray:
    """``image`` with a strip of text lines below it (in the pixels, so the review image says what it shows)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=15)
    height = 8 + 20 * len(lines)
    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + height), (255, 255, 255))
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((6, image.shape[0] + 4 + 20 * i), line, fill=colour if i == 0 else (0, 0, 0), font=font)
    return np.asarray(canvas)


def _debug_image(crop: np.ndarray, landmarks: np.ndarray, fit: CameraEstimate | None, lines: Sequence[str],
                 accepted: bool) -> np.ndarray:
    """The EG3D crop with the detected landmarks (green), the fitted template's (red) joined to them, and a caption."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(crop)
    draw = ImageDraw.Draw(canvas)
    r = max(1.5, crop.shape[0] / 256)
    if fit is not None:
        for (x, y), (fx, fy) in zip(landmarks, fit.fitted, strict=True):
            draw.line((x, y, fx, fy), fill=(255, 220, 0), width=1)
            draw.ellipse((fx - r, fy - r, fx + r, fy + r), fill=(230, 30, 30))
    for x, y in landmarks:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(40, 220, 40))
    legend = "green: detected landmarks · red: the fitted camera's"
    return _caption(np.asarray(canvas), [*lines, legend], (0, 130, 0) if accepted else (200, 0, 0))


class _Processor:
    """Runs the steps on one photo; holds FFHQ's poses and the given landmarks."""

    def __init__(self, config: ProcessConfig, lpff: Path) -> None:
        self.config, self.lpff = config, lpff
        self.ffhq_poses = None
        if config.ffhq_labels:
            self.ffhq_poses = poses_of(FfhqLabels.from_file(config.ffhq_labels).cameras)
        self.given: dict[str, np.ndarray] = {}
        if config.landmarks:
            self.given = _read_landmarks(Path(config.landmarks))

    def faces(self, photo: Path, rgb: np.ndarray) -> list[_Face]:
        pid = photo_id(photo)
        listed = sorted(k for k in self.given if re.fullmatch(re.escape(photo.stem) + r"_\d+", k))
        if listed:
            return [_Face(f"{pid}_{i + 1:02d}", i, self.given[k], _bounds(self.given[k]), float("nan"))
                    for i, k in enumerate(listed)]
        cfg = self.config.align
        found = detect_faces(rgb, upsample=cfg.upsample, max_side=cfg.max_detect_side)
        _, candidates = select_face(found, cfg, source_size=rgb.shape[:2])  # NoFaceError when none
        return [_Face(f"{pid}_{i + 1:02d}", i, f.landmarks, f.box, f.score) for i, f in enumerate(candidates)]

    def face(self, photo: Path, rgb: np.ndarray, face: _Face) -> dict[str, Any]:
        """Process one face: crops and debug image written, its ``faces.jsonl`` entry returned."""
        cfg = self.config
        entry: dict[str, Any] = {"name": face.name, "face_index": face.index, "box": [round(v, 2) for v in face.box],
                                 "score": None if np.isnan(face.score) else round(face.score, 4),
                                 "landmarks": np.round(face.landmarks, 3).tolist()}
        reason = None
        width, height = _region_px(face.landmarks, rgb.shape[:2])
        entry["region_px"] = [width, height]
        if width < cfg.min_region_px and height < cfg.min_region_px:
            reason = (f"low resolution: the face's realign region is {width}×{height} px, LPFF keeps faces whose "
                      f"region reaches {cfg.min_region_px} px on one side")
        try:
            aligned = align_face(rgb, cfg.align, landmarks=face.landmarks)
        except AlignmentError as error:
            eye_left, eye_right, _, _ = eye_mouth_points(face.landmarks)
            entry["eye_distance_px"] = round(float(np.hypot(*(eye_right - eye_left))), 2)
            entry.update(status="rejected", reason=reason or f"alignment: {error}")
            return entry
        fit = estimate_camera(aligned.landmarks, cfg.align.recipe.output_size, cfg.camera)
        theta, phi = (float(v) for v in theta_phi(fit.camera))
        entry.update(yaw_deg=round(fit.yaw_deg, 3), elevation_deg=round(fit.elevation_deg, 3),
                     roll_deg=round(fit.roll_deg, 3), theta=theta, phi=phi, fit_px=round(fit.rms_px, 3),
                     camera=[float(v) for v in fit.camera])
        if reason is None and fit.rms_px > cfg.max_fit_px:
            reason = (f"camera fit: the landmarks lie {fit.rms_px:.1f} px (RMS) from the fitted template, above "
                      f"{cfg.max_fit_px:g} px (wrong landmarks, a partly hidden face or an unusual expression)")
        if self.ffhq_poses is not None:
            density = float(reference_density(np.array([[theta, phi]]), self.ffhq_poses)[0])
            entry["ffhq_density"] = round(density, 6)
            if reason is None and density >= cfg.max_ffhq_density:
                reason = (f"common pose: its density under FFHQ's pose distribution is {density:.3f}, LPFF keeps "
                          f"poses below {cfg.max_ffhq_density:g} (yaw {fit.yaw_deg:.0f}°)")
        accepted = reason is None
        entry.update(status="accepted" if accepted else "rejected", **({} if accepted else {"reason": reason}))
        lines = [f"{face.name}: {'accepted' if accepted else 'rejected: ' + str(reason)}"[:110],
                 f"{photo.name} · yaw {fit.yaw_deg:.0f}° · elevation {fit.elevation_deg:.0f}° · roll "
                 f"{fit.roll_deg:.0f}° · fit {fit.rms_px:.1f} px"
                 + (f" · FFHQ density {entry['ffhq_density']:.3f}" if "ffhq_density" in entry else "")]
        debug = _debug_image(aligned.image, aligned.landmarks, fit, lines, accepted)
        write_png_atomic(self.lpff / (DEBUG if accepted else DEBUG_REJECTED) / f"{face.name}.png", debug)
        if accepted:
            write_png_atomic(self.lpff / EG3D_CROPS / f"{face.name}.png", aligned.image)
            if cfg.stylegan_crop:
                write_png_atomic(self.lpff / STYLEGAN_CROPS / f"{face.name}.png",
                                 _crop(rgb, face.landmarks, STYLEGAN_RECIPE, cfg.align))
            if cfg.realign:
                write_png_atomic(self.lpff / REALIGNED / f"{face.name}.png",
                                 _crop(rgb, face.landmarks, REALIGN_RECIPE, cfg.align))
        return entry


def _bounds(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    low, high = landmarks.min(0), landmarks.max(0)
    return float(low[0]), float(low[1]), float(high[0]), float(high[1])


def _read_landmarks(path: Path) -> dict[str, np.ndarray]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected an object {{\"<photo stem>_NN\": [[x, y] × 68]}}, got a {type(data).__name__}")
        return {str(k): as_landmarks(np.asarray(v, dtype=np.float64)) for k, v in data.items()}
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read landmarks ({error})",
                        "give LPFF's raw_lm.json form: {\"<photo stem>_01\": [[x, y], … 68 points], …}") from None


# ----------------------------------------------------------------------------------------------- the job


def _photo_entry(processor: _Processor, photo: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"photo": photo.name, "id": photo_id(photo)}
    try:
        rgb = load_rgb(photo)
        entry["size"] = [int(rgb.shape[1]), int(rgb.shape[0])]
        faces = processor.faces(photo, rgb)
    except (AlignmentError, ValueError, OSError) as error:
        if is_disk_error(error):
            raise
        message = " ".join(str(error).split())
        reason = message.split(". ")[0] if isinstance(error, AlignmentError) else f"unreadable: {message}"
        entry.update(faces=[], reason=reason)
        return entry
    entry["faces"] = [processor.face(photo, rgb, face) for face in faces]
    return entry


def _check_settings(lpff: Path, settings: dict[str, Any]) -> None:
    path = lpff / SETTINGS
    if path.is_file():
        diffs = settings_differences(json.loads(path.read_text(encoding="utf-8")), settings)
        if diffs:
            raise UserError(f"{lpff.parent} was processed with other settings ({'; '.join(diffs[:4])})",
                            "run with the same options to resume, or give another --out")
    else:
        write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


def _published_layout(lpff: Path, faces: list[dict[str, Any]], photos: dict[str, str]) -> None:
    """camera_parameters.json, info.json and raw_lm.json of the accepted faces, in LPFF's forms (sorted by name)."""
    faces = sorted(faces, key=lambda f: f["name"])
    cameras = {f["name"]: f["camera"] for f in faces}
    info = {f["name"]: {"raw_image_name": photos[f["name"]], **{k: v for k, v in f.items()
                                                                   if k not in ("name", "camera", "landmarks")}}
            for f in faces}
    write_text_atomic(lpff / CAMERA_PARAMETERS, json.dumps(cameras, indent=1) + "\n")
    write_text_atomic(lpff / INFO, json.dumps(info, indent=1) + "\n")
    write_text_atomic(lpff / RAW_LANDMARKS, json.dumps({f["name"]: f["landmarks"] for f in faces}) + "\n")


def _build_dataset(out: Path, lpff: Path, config: ProcessConfig, count: int) -> tuple[Path | None, str]:
    """Convert ``lpff`` into ``OUT/dataset`` (rebuilt when the accepted faces changed); returns it and a note."""
    dataset = out / DATASET_DIR
    if count == 0:
        if dataset.exists():
            shutil.rmtree(dataset)
        return None, "no face accepted: no dataset written"
    poses = count * (2 if config.mirror else 1)
    rebalance = config.rebalance and (poses >= 3 or config.ffhq_labels is not None)
    note = "" if rebalance or not config.rebalance else \
        f"not rebalanced: LPFF's pose density needs at least 3 poses ({poses} here) or FFHQ's labels"
    meta = read_meta(dataset) if dataset.is_dir() else None
    current = sha256_file(lpff / CAMERA_PARAMETERS)
    if meta is not None and (meta.get("generator", {}).get("camera_parameters_sha256") != current
                             or meta.get("settings", {}).get("rebalance") != rebalance
                             or meta.get("settings", {}).get("mirror") != config.mirror):
        shutil.rmtree(dataset)  # derived from OUT/lpff alone: rebuilt from it
    try:
        convert_lpff(lpff, dataset, mirror=config.mirror, rebalance=rebalance, progress=config.progress,
                     reference=config.ffhq_labels if rebalance else None)
    except ValueError as error:  # a KDE on poses all on one line (e.g. one face and its mirror)
        if not rebalance or "pose KDE" not in str(error):
            raise
        shutil.rmtree(dataset, ignore_errors=True)
        convert_lpff(lpff, dataset, mirror=config.mirror, rebalance=False, progress=config.progress)
        note = f"not rebalanced: {error}"
    return dataset, note


def process_lpff(photos: str | os.PathLike[str], out: str | os.PathLike[str],
                 config: ProcessConfig = ProcessConfig()) -> ProcessReport:
    """Run LPFF's processing on a photo or a folder of photos into ``out`` (layout in the module doc).

    Resumable: photos already in ``OUT/lpff/faces.jsonl`` are not processed again, and a rerun with other settings is
    refused. Holds ``out``'s lock meanwhile. Raises FileNotFoundError for a missing photo folder and
    :class:`~helpers.base.errors.UserError` for a folder without photos; a photo that cannot be read, or has no
    face, is recorded as rejected with the reason, not raised.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    out = Path(out)
    listed = list_photos(photos)
    if not listed:
        raise UserError(f"no photos in {photos}", "give a folder of .jpg/.png/.webp photos, or one photo")
    if config.limit is not None:
        listed = listed[: config.limit]
    stems: dict[str, list[str]] = {}
    for photo in listed:
        stems.setdefault(photo_id(photo), []).append(photo.name)
    clashes = [names for names in stems.values() if len(names) > 1]
    if clashes:
        raise UserError(f"photos whose names differ only in the extension would share their faces' names: {clashes[0]}",
                        "rename them")
    lpff = out / LPFF_DIR
    processor = _Processor(config, lpff)  # reads the labels and landmarks first: a bad file leaves nothing behind
    with folder_lock(out, "process-lpff"):
        lpff.mkdir(parents=True, exist_ok=True)
        _check_settings(lpff, config.settings())
        remove_temporary_files([lpff / d for d in (EG3D_CROPS, STYLEGAN_CROPS, REALIGNED, DEBUG, DEBUG_REJECTED)])
        done = {entry["photo"] for entry in read_manifest(lpff / FACES)} if (lpff / FACES).is_file() else set()
        todo = [p for p in listed if p.name not in done]
        with ManifestWriter(lpff / FACES) as writer:
            for photo in tqdm(todo, desc="process-lpff", unit="photo", disable=not config.progress):
                writer.append(_photo_entry(processor, photo))
        entries = read_manifest(lpff / FACES)
        photos_of = {f["name"]: e["photo"] for e in entries for f in e["faces"]}
        accepted = [f for e in entries for f in e["faces"] if f["status"] == "accepted"]
        kept = [f for f in accepted if (lpff / DEBUG / f"{f['name']}.png").is_file()]
        reviewed_out = tuple(sorted(f["name"] for f in accepted if f not in kept))
        rejected = {f["name"]: f["reason"] for e in entries for f in e["faces"] if f["status"] == "rejected"}
        rejected.update({e["id"]: e["reason"] for e in entries if "reason" in e})
        _published_layout(lpff, kept, photos_of)
        dataset, note = _build_dataset(out, lpff, config, len(kept))
        report = ProcessReport(out=out, accepted=tuple(sorted(f["name"] for f in kept)), rejected=rejected,
                               reviewed_out=reviewed_out, dataset=dataset, seconds=time.perf_counter() - start)
        write_text_atomic(out / REPORT, _report_markdown(report, entries, config, note))
    return report


def _report_markdown(report: ProcessReport, entries: list[dict[str, Any]], config: ProcessConfig, note: str) -> str:
    faces = {f["name"]: f for e in entries for f in e["faces"]}
    pose_filter = (f"on, density < {config.max_ffhq_density:g}" if config.ffhq_labels
                   else "off (no FFHQ labels given: --ffhq-labels)")
    lines = [
        "# LPFF processing report", "",
        f"{len(entries)} photos, {len(faces)} faces: **{len(report.accepted)} accepted**, {len(report.rejected)} "
        f"rejected, {len(report.reviewed_out)} dropped in review (debug image deleted).", "",
        f"- FFHQ pose filter: {pose_filter}",
        f"- camera fit limit: {config.max_fit_px:g} px RMS; low-resolution limit: {config.min_region_px} px",
        f"- dataset: {report.dataset if report.dataset is not None else 'none'}"
        + (f" ({note})" if note else ""), "",
        "Review: open `lpff/debug/`, delete the image of every face whose fit (red) misses its landmarks (green) or "
        "whose crop is blurry, then run the same command again: the dataset is rebuilt without them. Rejected faces "
        "are in `lpff/debug/rejected/`, their reasons below.", "",
    ]
    if report.rejected:
        lines += ["## Rejected", "", "| face or photo | reason |", "|---|---|"]
        lines += [f"| {name} | {reason} |" for name, reason in sorted(report.rejected.items())] + [""]
    if report.reviewed_out:
        lines += ["## Dropped in review", "", ", ".join(report.reviewed_out), ""]
    if report.accepted:
        lines += ["## Accepted", "", "| face | photo | yaw ° | elevation ° | fit px | FFHQ density |",
                  "|---|---|---|---|---|---|"]
        photo = {f["name"]: e["photo"] for e in entries for f in e["faces"]}
        for name in report.accepted:
            f = faces[name]
            density = f.get("ffhq_density")
            lines.append(f"| {name} | {photo[name]} | {f['yaw_deg']:.1f} | {f['elevation_deg']:.1f} | "
                         f"{f['fit_px']:.1f} | {'-' if density is None else format(density, '.3f')} |")
        lines.append("")
    if report.dataset is not None:
        lines += ["## Next", "", f"EG3D training folder: `python -m helpers export-eg3d {report.dataset} OUT_EG3D` "
                  "(its replicas are LPFF's rebalancing); add `--merge-with FFHQ_FOLDER_OR_ZIP` to append these faces "
                  "to FFHQ's EG3D set, as LPFF did.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("photos", type=Path, help="a photo, or a folder of photos (jpg, png, webp, …)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (an existing one is resumed)")
    parser.add_argument("--ffhq-labels", default=None, metavar="DATASET_JSON",
                        help="EG3D's FFHQ dataset.json (`python -m helpers datasets download ffhq-eg3d-labels`): "
                             "LPFF's filter of poses common in FFHQ, and FFHQ's poses in the rebalancing")
    parser.add_argument("--max-ffhq-density", type=float, default=FFHQ_DENSITY_THRESHOLD,
                        help="keep faces whose pose density under FFHQ is below this (LPFF: %(default)s)")
    parser.add_argument("--max-fit-px", type=float, default=DEFAULT_MAX_FIT_PX,
                        help="reject faces whose landmark camera fit leaves more RMS pixels (default: %(default)s)")
    parser.add_argument("--min-region-px", type=int, default=LPFF_MIN_REGION_PX,
                        help="LPFF's low-resolution rule, 0 for none (default: %(default)s)")
    parser.add_argument("--landmarks", default=None, metavar="RAW_LM_JSON",
                        help="68 landmarks per face in LPFF's raw_lm.json form, instead of dlib's detection")
    parser.add_argument("--no-stylegan-crop", dest="stylegan_crop", action="store_false",
                        help="do not write the 1024² StyleGAN crops")
    parser.add_argument("--realign", action="store_true", help="also write the 2400² realigned images")
    parser.add_argument("--no-mirror", dest="mirror", action="store_false", help="no mirrored faces in the dataset")
    parser.add_argument("--no-rebalance", dest="rebalance", action="store_false", help="no LPFF rebalancing")
    parser.add_argument("--upsample", type=int, default=AlignConfig.upsample,
                        help="face detector upsampling: 2 finds faces down to ~20 px, 4× slower (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="process at most this many photos")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--ffhq-labels", args.ffhq_labels), ("--landmarks", args.landmarks)):
        if value is not None and not Path(value).is_file():
            raise UserError(f"no such file: {value} ({flag})", "see `python -m helpers process-lpff --help`")
    try:
        config = ProcessConfig(align=AlignConfig(upsample=args.upsample), max_fit_px=args.max_fit_px,
                               ffhq_labels=args.ffhq_labels, max_ffhq_density=args.max_ffhq_density,
                               min_region_px=args.min_region_px, stylegan_crop=args.stylegan_crop,
                               realign=args.realign, mirror=args.mirror, rebalance=args.rebalance,
                               landmarks=args.landmarks, limit=args.limit, progress=args.progress)
    except ValueError as error:
        raise UserError(str(error), "see `python -m helpers process-lpff --help`") from None
    report = process_lpff(args.photos, args.out, config)
    print(f"{len(report.accepted)} faces accepted, {len(report.rejected)} rejected, {len(report.reviewed_out)} "
          f"dropped in review in {report.seconds:.1f} s → {report.out / REPORT}")
    return 0
