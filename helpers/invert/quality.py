"""How far to trust a photo's result: the quality record of ``invert``, ``reconstruct`` and ``process-lpff``.

:func:`photo_quality` gathers what says whether the alignment and camera fit went right, and flags a photo, with the
reason, when a value is beyond its limit (:class:`QualityThresholds`):

- ``fit_px``: RMS distance (pixels of the 512² crop) between the landmarks and the landmark template seen through the
  fitted camera. The limit (20 px) is measured: template landmarks with pixel noise and a real face's shape variation
  fit to 12–14 px, wrong landmarks leave 25–113 px (``benchmarks/lpff_fit_threshold.py``, docs/design/invert.md).
- ``yaw_deg``, ``elevation_deg`` and the yaw bin (:data:`helpers.base.cameras.YAW_BINS`): beyond ±45° of yaw EG3D's
  FFHQ holds few faces, so the generator (and models trained on its renders) knows little of such poses.
- ``eye_distance_px`` in the photo and ``enlargement`` (crop pixels per photo pixel): a face enlarged more than 4×
  (eyes closer than ~35 px) is blurry in the crop.
- for inversions, ``lpips`` and ``psnr`` of the tuned render against the crop (recorded; flagged only above
  ``max_lpips`` when one is set, since no limit has been measured).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.base import cameras
from helpers.invert.crop_recipe import eye_mouth_points

__all__ = ["DEFAULT_MAX_FIT_PX", "QualityThresholds", "flagged_first", "photo_quality"]

#: Landmark camera fit limit, RMS pixels of the 512² crop (module doc).
DEFAULT_MAX_FIT_PX = 20.0


@dataclass(frozen=True)
class QualityThresholds:
    """Limits beyond which :func:`photo_quality` flags a photo (module doc)."""

    max_fit_px: float = DEFAULT_MAX_FIT_PX
    max_abs_yaw_deg: float = 45.0
    max_abs_elevation_deg: float = 30.0
    max_enlargement: float = 4.0
    max_lpips: float | None = None


def photo_quality(aligned: Any, fit: Any, metrics: Mapping[str, Mapping[str, float]] | None = None,
                  thresholds: QualityThresholds = QualityThresholds()) -> dict[str, Any]:
    """The quality record of one photo: values and ``flags`` (reasons; empty when nothing looks wrong).

    ``aligned``: the :class:`~helpers.invert.align.AlignedFace` (None for a photo given aligned); ``fit``: the
    :class:`~helpers.invert.camera_fit.CameraEstimate` (None when the camera came from labels); ``metrics``: an
    inversion's ``{"tuned": {"lpips": …, "psnr": …}}``.
    """
    t = thresholds
    record: dict[str, Any] = {}
    flags: list[str] = []
    if fit is not None:
        record.update(fit_px=round(float(fit.rms_px), 3), yaw_deg=round(float(fit.yaw_deg), 2),
                      elevation_deg=round(float(fit.elevation_deg), 2), roll_deg=round(float(fit.roll_deg), 2),
                      yaw_bin=cameras.yaw_bin(np.asarray(fit.camera, dtype=np.float64)))
        if fit.rms_px > t.max_fit_px:
            flags.append(f"camera fit: the landmarks lie {fit.rms_px:.1f} px (RMS) from the fitted template, above "
                         f"{t.max_fit_px:g} px: wrong landmarks, a hidden or unusual face")
        if abs(fit.yaw_deg) > t.max_abs_yaw_deg:
            flags.append(f"pose: yaw {fit.yaw_deg:+.0f}°, beyond ±{t.max_abs_yaw_deg:g}° where EG3D's FFHQ has few "
                         "faces")
        if abs(fit.elevation_deg) > t.max_abs_elevation_deg:
            flags.append(f"pose: elevation {fit.elevation_deg:+.0f}°, beyond ±{t.max_abs_elevation_deg:g}°")
    if aligned is not None:
        eye_left, eye_right, _, _ = eye_mouth_points(aligned.source_landmarks)
        distance = float(np.hypot(*(eye_right - eye_left)))
        record.update(eye_distance_px=round(distance, 2), enlargement=round(float(aligned.scale), 3),
                      faces_found=int(aligned.num_faces))
        if aligned.scale > t.max_enlargement:
            flags.append(f"small face: the crop enlarges it {aligned.scale:.1f}× (eyes {distance:.0f} px apart in the "
                         "photo), so it is blurry")
    tuned = (metrics or {}).get("tuned") or {}
    for key in ("lpips", "psnr", "ssim"):
        if key in tuned:
            record[key] = round(float(tuned[key]), 4)
    if t.max_lpips is not None and "lpips" in tuned and tuned["lpips"] > t.max_lpips:
        flags.append(f"inversion: LPIPS {tuned['lpips']:.3f} against the photo, above {t.max_lpips:g}")
    record["flags"] = flags
    return record


def flagged_first(records: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: a table of the photos whose ``quality`` has flags (id, reasons), or a line saying none has."""
    flagged = {sid: r["quality"]["flags"] for sid, r in sorted(records.items())
               if (r.get("quality") or {}).get("flags")}
    if not flagged:
        return f"No photo flagged ({len(records)} checked: camera fit, pose, face size).\n"
    rows = [f"| {sid} | {'; '.join(reasons)} |" for sid, reasons in flagged.items()]
    return "\n".join([f"{len(flagged)} of {len(records)} photos flagged: review these first.", "",
                      "| photo | why |", "|---|---|", *rows, ""])
