"""What ``python -m helpers reconstruct`` writes for one photo, and the pictures that show it.

``<out>/<id>/``: ``reconstruction.json`` (:meth:`PhotoReconstruction.record` plus the file list), ``overview.png``
(the photo with the crop's quad and the 68 landmarks, beside the crop with its landmarks), ``crop.png``,
``image.png`` (what the method reconstructed: the crop or EG3D's render), ``depth.png`` (16-bit camera z between
``depth_range``, 0 = off the face), ``depth_preview.png``, ``mesh.ply`` and ``mesh.obj`` (EG3D world units and
frame), ``turntable.gif`` and ``viewer.html`` (offline: the overview, the depth map and the mesh). Every file is
written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from helpers.base.atomic import write_gif_atomic, write_png_atomic, write_text_atomic
from helpers.base.depth_png import write_depth_png
from helpers.base.photo import resize_square
from helpers.depth.reconstruction import depth_preview
from helpers.invert.align import AlignedFace, draw_landmarks
from helpers.invert.camera_fit import CameraEstimate
from helpers.mesh import save_mesh
from helpers.photo3d.photo_to_3d import PhotoReconstruction
from helpers.viewer import ViewerSample, export_html, turntable_frames

__all__ = ["overview_image", "save_photo_reconstruction"]


def overview_image(photo: np.ndarray, aligned: AlignedFace, camera_estimate: CameraEstimate,
                   height: int = 512) -> np.ndarray:
    """(height, W, 3) uint8: the photo with the crop's quad (outline) and the landmarks, scaled to ``height``, then
    the crop with its landmarks, with the fitted camera's angles written under it."""
    canvas = Image.fromarray(draw_landmarks(photo, aligned.source_landmarks))
    width = max(2, round(canvas.width * height / canvas.height))
    scale = height / canvas.height
    canvas = canvas.resize((width, height), Image.BILINEAR)
    quad = [(float(x + 0.5) * scale, float(y + 0.5) * scale) for x, y in aligned.quad]
    ImageDraw.Draw(canvas).line([*quad, quad[0]], fill=(255, 210, 0), width=max(2, height // 200))
    crop = Image.fromarray(resize_square(draw_landmarks(aligned.image, aligned.landmarks), height))
    fit = camera_estimate
    ImageDraw.Draw(crop).text((6, height - 16), f"yaw {fit.yaw_deg:+.1f}°  elevation {fit.elevation_deg:+.1f}°  "
                              f"roll {fit.roll_deg:+.1f}°", fill=(255, 255, 255))
    out = Image.new("RGB", (width + 8 + height, height), (255, 255, 255))
    out.paste(canvas, (0, 0))
    out.paste(crop, (width + 8, 0))
    return np.asarray(out)


def save_photo_reconstruction(rec: PhotoReconstruction, out_dir: str | os.PathLike[str], *, frames: int = 36,
                              title: str | None = None) -> dict[str, Path]:
    """Write the files of the module docstring into ``out_dir`` (created); ``frames`` turntable frames (0: none).
    Returns name → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    overview = overview_image(rec.photo, rec.aligned, rec.camera_estimate)
    files = {
        "overview": write_png_atomic(out / "overview.png", overview),
        "crop": write_png_atomic(out / "crop.png", rec.aligned.image),
        "image": write_png_atomic(out / "image.png", rec.image),
        "depth_preview": write_png_atomic(out / "depth_preview.png", depth_preview(rec.depth)),
        "mesh": save_mesh(rec.mesh, out / "mesh.ply"),
        "mesh_obj": save_mesh(rec.mesh, out / "mesh.obj"),
    }
    near, far = rec.depth_range
    if far > near > 0:
        files["depth"] = write_depth_png(out / "depth.png", rec.depth, near, far, mask=rec.mask)
    if frames and rec.mesh.num_faces:
        files["turntable"] = write_gif_atomic(out / "turntable.gif", turntable_frames(rec.mesh, frames))
    name = title or f"{out.name}: {rec.method} ({rec.model})"
    files["viewer"] = export_html(ViewerSample(name=name, mesh=rec.mesh if rec.mesh.num_faces else None,
                                               image=overview, depth=rec.depth), out / "viewer.html", title=name)
    record = {**rec.record(), "files": {key: path.name for key, path in files.items()}}
    files["record"] = write_text_atomic(out / "reconstruction.json", json.dumps(record, indent=2) + "\n")
    return files
