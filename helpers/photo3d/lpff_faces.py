"""LPFF's processing of one photo (:mod:`helpers.photo3d.lpff_processing` runs it on a folder): every face's
landmarks, LPFF's low-resolution rule, the landmark camera fit and its residual, LPFF's filter of poses common in
FFHQ, the review image, and the EG3D / StyleGAN / realigned crops written into LPFF's published layout.

:class:`FaceProcessor` holds what every photo shares (FFHQ's poses, given landmarks); :func:`photo_entry` is one
photo's ``faces.jsonl`` line: each face accepted or rejected with the reason. Faces are named ``<photo id>_<NN>``,
NN = 01, 02, … largest face first. Crops are written under the layout's folders (:data:`EG3D_CROPS` …) of ``lpff``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.base.atomic import write_png_atomic
from helpers.base.errors import UserError, is_disk_error
from helpers.base.photo import load_rgb
from helpers.datasets.ffhq_labels import FfhqLabels
from helpers.datasets.lpff.pose_rebalance import FFHQ_DENSITY_THRESHOLD, poses_of, reference_density, theta_phi
from helpers.download.http_download import sha256_file
from helpers.invert.align import AlignConfig, AlignmentError, align_face, select_face, warp_to_crop
from helpers.invert.camera_fit import CameraEstimate, CameraFitConfig, estimate_camera
from helpers.invert.crop_recipe import CropRecipe, crop_transform, eye_mouth_points
from helpers.invert.dlib_landmarks import detect_faces
from helpers.invert.folder_inversion import photo_id
from helpers.invert.ibug68 import as_landmarks
from helpers.invert.quality import DEFAULT_MAX_FIT_PX

__all__ = ["DEBUG", "DEBUG_REJECTED", "EG3D_CROPS", "LPFF_MIN_REGION_PX", "REALIGNED", "REALIGN_RECIPE",
           "STYLEGAN_CROPS", "STYLEGAN_RECIPE", "Face", "FaceProcessor", "ProcessConfig", "photo_entry",
           "read_landmarks"]

#: LPFF's StyleGAN crop: FFHQ's alignment, 1024² (``stylegan_image_align``: output 1024, quad of FFHQ).
STYLEGAN_RECIPE = CropRecipe(output_size=1024, transform_size=1024, crop_size=1024, quad_scale=1.0, center_shift=0.0)
#: LPFF's realigned image: FFHQ's quad enlarged 1.8×, 2400² (``my_realign.realign_process_image``: ``q_scale = 1.8``).
REALIGN_RECIPE = CropRecipe(output_size=2400, transform_size=2400, crop_size=2400, quad_scale=1.8, center_shift=0.0)
#: LPFF drops a face whose realign region (the quad's bounding box plus a border of 10% of its side, clipped to the
#: photo) is smaller than this on both sides ("low resolution image!").
LPFF_MIN_REGION_PX = 512
#: Folders of LPFF's published layout (under ``OUT/lpff/``) that this module writes into.
EG3D_CROPS = "crop/eg3d"
STYLEGAN_CROPS = "crop/stylegan"
REALIGNED = "realign2400"
DEBUG = "debug"
DEBUG_REJECTED = "debug/rejected"


@dataclass(frozen=True)
class ProcessConfig:
    """Settings of :func:`helpers.photo3d.lpff_processing.process_lpff`.

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
class Face:
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


class FaceProcessor:
    """Runs the steps on one photo; holds FFHQ's poses and the given landmarks."""

    def __init__(self, config: ProcessConfig, lpff: Path) -> None:
        self.config, self.lpff = config, lpff
        self.ffhq_poses = None
        if config.ffhq_labels:
            self.ffhq_poses = poses_of(FfhqLabels.from_file(config.ffhq_labels).cameras)
        self.given: dict[str, np.ndarray] = {}
        if config.landmarks:
            self.given = read_landmarks(Path(config.landmarks))

    def faces(self, photo: Path, rgb: np.ndarray) -> list[Face]:
        pid = photo_id(photo)
        listed = sorted(k for k in self.given if re.fullmatch(re.escape(photo.stem) + r"_\d+", k))
        if listed:
            return [Face(f"{pid}_{i + 1:02d}", i, self.given[k], _bounds(self.given[k]), float("nan"))
                    for i, k in enumerate(listed)]
        cfg = self.config.align
        found = detect_faces(rgb, upsample=cfg.upsample, max_side=cfg.max_detect_side)
        _, candidates = select_face(found, cfg, source_size=rgb.shape[:2])  # NoFaceError when none
        return [Face(f"{pid}_{i + 1:02d}", i, f.landmarks, f.box, f.score) for i, f in enumerate(candidates)]

    def face(self, photo: Path, rgb: np.ndarray, face: Face) -> dict[str, Any]:
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


def read_landmarks(path: Path) -> dict[str, np.ndarray]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected an object {{\"<photo stem>_NN\": [[x, y] × 68]}}, got a {type(data).__name__}")
        return {str(k): as_landmarks(np.asarray(v, dtype=np.float64)) for k, v in data.items()}
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot read landmarks ({error})",
                        "give LPFF's raw_lm.json form: {\"<photo stem>_01\": [[x, y], … 68 points], …}") from None


def photo_entry(processor: FaceProcessor, photo: Path) -> dict[str, Any]:
    """One photo's ``faces.jsonl`` line: its faces processed, or the reason it has none (no face, unreadable)."""
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
